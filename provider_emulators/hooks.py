"""Test hooks: drive the emulated providers directly (tests, the Django shell), not over HTTP.

Trades are named by provider ("wechatpay" or "alipay") and the merchant's out_trade_no, for the
merchant configured in the settings; refunds additionally by out_refund_no.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from provider_emulators import services
from provider_emulators.models import (
    BillAdjustmentAction,
    EmulatedCallback,
    EmulatedRefund,
    EmulatedTrade,
    Provider,
)
from provider_emulators.services import DeliveryOutcome, SignedCallback


def emulator_trade(*, provider: str, out_trade_no: str) -> EmulatedTrade:
    return EmulatedTrade.objects.get(
        provider=provider, merchant_id=_merchant_id(provider), out_trade_no=out_trade_no
    )


def emulator_pay(
    *, provider: str, out_trade_no: str, callback: bool = True, even_if_closed: bool = False
) -> EmulatedTrade:
    """The payer pays. `callback=False`: the notification is lost (never sent), for the
    platform's query task to find the payment; `even_if_closed`: the payment raced the
    merchant's close and won (a late payment)."""
    trade = emulator_trade(provider=provider, out_trade_no=out_trade_no)
    return services.trade_pay(trade_pk=trade.pk, notify=callback, even_if_closed=even_if_closed)


def emulator_callbacks(
    *, provider: str, out_trade_no: str, out_refund_no: str | None = None
) -> list[EmulatedCallback]:
    """Notifications about the trade, oldest first (refund None: every kind; "": the payment's)."""
    callbacks = EmulatedCallback.objects.filter(
        trade=emulator_trade(provider=provider, out_trade_no=out_trade_no)
    ).select_related("refund")
    if out_refund_no == "":
        callbacks = callbacks.filter(refund__isnull=True)
    elif out_refund_no is not None:
        callbacks = callbacks.filter(refund__out_refund_no=out_refund_no)
    return list(callbacks.order_by("pk"))


def emulator_deliver_callback(
    *, provider: str, out_trade_no: str, out_refund_no: str = ""
) -> DeliveryOutcome:
    """Send the payment's (or the refund's) notification once, now, whatever its schedule; a
    payment taken without notification gets one made first."""
    return services.callback_deliver_now(
        callback_id=_callback(provider, out_trade_no, out_refund_no).pk
    )


def emulator_replay_schedule(
    *, provider: str, out_trade_no: str, out_refund_no: str = ""
) -> list[DeliveryOutcome]:
    """Send the notification once per attempt of the provider's whole retry schedule (first
    attempt and every retry), back to back: what the merchant receives if its replies never
    reach the provider."""
    callback = _callback(provider, out_trade_no, out_refund_no)
    attempts = 1 + len(services.retry_schedule(provider))
    return [services.callback_deliver_now(callback_id=callback.pk) for _ in range(attempts)]


def emulator_signed_callback(
    *,
    provider: str,
    out_trade_no: str,
    out_refund_no: str = "",
    changes: Mapping[str, Any] | None = None,
    sent_at: dt.datetime | None = None,
    probe: bool = False,
    new_event: bool = False,
) -> SignedCallback:
    """The notification request (URL, headers, body) exactly as the provider would send it at
    `sent_at` (default now), for a test to send itself, e.g. fifty at once.

    `changes`: alter the content before signing (WeChat Pay: fields of the decrypted resource,
    e.g. {"amount": {"total": 1, ...}}; Alipay: form parameters, e.g. {"total_amount": "0.01"};
    None removes a field). `probe`: a WeChat Pay signature probe. `new_event`: a further
    notification of the same event with its own event id.
    """
    trade = emulator_trade(provider=provider, out_trade_no=out_trade_no)
    refund = _refund(trade, out_refund_no)
    if new_event:
        callback = services.callback_duplicate(trade=trade, refund=refund)
    else:
        callback = services.callback_for(trade, refund=refund, create=True)
    return services.callback_request(
        callback, sent_at=sent_at or dt.datetime.now(dt.UTC), probe=probe, changes=changes
    )


def emulator_bill_omit(
    *, provider: str, bill_date: dt.date, out_trade_no: str, out_refund_no: str = ""
) -> None:
    """The day's bill leaves out the payment (or the refund): missing at the provider."""
    services.bill_adjust(
        provider=provider,
        merchant_id=_merchant_id(provider),
        bill_date=bill_date,
        action=BillAdjustmentAction.OMIT,
        kind="refund" if out_refund_no else "payment",
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
    )


def emulator_bill_amend(
    *,
    provider: str,
    bill_date: dt.date,
    out_trade_no: str,
    amount_fen: int,
    out_refund_no: str = "",
) -> None:
    """The day's bill states another amount for the payment (or the refund)."""
    services.bill_adjust(
        provider=provider,
        merchant_id=_merchant_id(provider),
        bill_date=bill_date,
        action=BillAdjustmentAction.AMEND,
        kind="refund" if out_refund_no else "payment",
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        amount_fen=amount_fen,
    )


def emulator_bill_add(
    *,
    provider: str,
    bill_date: dt.date,
    out_trade_no: str,
    amount_fen: int,
    out_refund_no: str = "",
    transaction_id: str = "",
) -> None:
    """The day's bill carries a payment (or a refund) the merchant never saw: missing locally."""
    services.bill_adjust(
        provider=provider,
        merchant_id=_merchant_id(provider),
        bill_date=bill_date,
        action=BillAdjustmentAction.ADD,
        kind="refund" if out_refund_no else "payment",
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        transaction_id=transaction_id,
        amount_fen=amount_fen,
    )


def _merchant_id(provider: str) -> str:
    if provider == Provider.WECHATPAY:
        return str(settings.WECHATPAY_MCHID)
    if provider == Provider.ALIPAY:
        return str(settings.ALIPAY_SELLER_ID)
    raise ValueError(f"unknown provider {provider!r}")


def _refund(trade: EmulatedTrade, out_refund_no: str) -> EmulatedRefund | None:
    return trade.refunds.get(out_refund_no=out_refund_no) if out_refund_no else None


def _callback(provider: str, out_trade_no: str, out_refund_no: str) -> EmulatedCallback:
    trade = emulator_trade(provider=provider, out_trade_no=out_trade_no)
    return services.callback_for(trade, refund=_refund(trade, out_refund_no), create=True)
