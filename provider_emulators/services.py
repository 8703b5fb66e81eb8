"""The emulated providers' behaviour, shared by their HTTP APIs, the payer pages and the test hooks.

Trades and refunds follow the providers' rules (one trade per out_trade_no, a repeated identical
order answers the same trade, refunds never above the amount, a repeated out_refund_no answers
the first refund). Callbacks are an outbox (`core.outbox`): a row written with the payment or
refund, delivered after the commit by a task, retried on the provider's schedule until the
merchant acknowledges it, swept by beat when a publish or a worker was lost.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import secrets
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import outbox
from core.dates import local_day_bounds
from payments.providers.money import fen_to_yuan
from provider_emulators.models import (
    BillAdjustmentAction,
    CallbackStatus,
    Channel,
    EmulatedBillAdjustment,
    EmulatedBillFile,
    EmulatedCallback,
    EmulatedCallbackAttempt,
    EmulatedRefund,
    EmulatedTrade,
    Provider,
    RefundState,
    TradeState,
)
from provider_emulators.registry import alipay_platform, wechatpay_platform
from provider_emulators.signing import (
    alipay_content,
    rsa_sign,
    wechatpay_encrypt,
    wechatpay_signed_headers,
)

logger = logging.getLogger(__name__)

CALLBACK_STATES = outbox.OutboxStates(
    ready=(CallbackStatus.PENDING,), in_flight=CallbackStatus.SENDING
)
TASK_QUEUE = "default"
PAID_STATES = (TradeState.SUCCESS, TradeState.REFUND)
ALIPAY_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Unsettled WeChat Pay refunds and undelivered callbacks older than this are the sweep's.
SWEEP_GRACE = dt.timedelta(seconds=5)


class Refusal(StrEnum):
    TRADE_NOT_FOUND = "trade_not_found"
    ALREADY_PAID = "already_paid"
    TRADE_CLOSED = "trade_closed"
    EXPIRED = "expired"
    OUT_TRADE_NO_USED = "out_trade_no_used"
    NOT_PAID = "not_paid"
    TOTAL_MISMATCH = "total_mismatch"
    REFUND_EXCEEDS = "refund_exceeds"
    REFUND_NOT_FOUND = "refund_not_found"
    OUT_REFUND_NO_USED = "out_refund_no_used"


class EmulatorRefusal(Exception):
    """The provider says no; each provider's API words it its own way."""

    def __init__(self, refusal: Refusal, message: str = "") -> None:
        super().__init__(message or refusal.value)
        self.refusal = refusal


# --- Trades ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeOrder:
    provider: str
    merchant_id: str
    app_id: str
    out_trade_no: str
    channel: str
    description: str
    amount_fen: int
    notify_url: str
    expires_at: dt.datetime | None
    payer_openid: str = ""


def trade_open(*, order: TradeOrder, scanned: bool) -> EmulatedTrade:
    """Create the trade; an identical repeat of an unpaid order answers the same trade."""
    now = timezone.now()
    try:
        with transaction.atomic(durable=True):
            return EmulatedTrade.objects.create(
                provider=order.provider,
                merchant_id=order.merchant_id,
                app_id=order.app_id,
                out_trade_no=order.out_trade_no,
                transaction_id=_transaction_id(order.provider, now),
                channel=order.channel,
                description=order.description,
                amount_fen=order.amount_fen,
                notify_url=order.notify_url,
                payer_openid=order.payer_openid,
                prepay_id=_prepay_id(now) if order.channel == Channel.JSAPI else "",
                expires_at=order.expires_at,
                scanned_at=now if scanned else None,
            )
    except IntegrityError:
        pass  # the out_trade_no exists: the unique constraint decided, now compare
    with transaction.atomic(durable=True):
        trade = EmulatedTrade.objects.select_for_update().get(
            provider=order.provider,
            merchant_id=order.merchant_id,
            out_trade_no=order.out_trade_no,
        )
        if (trade.amount_fen, trade.description, trade.channel) != (
            order.amount_fen,
            order.description,
            order.channel,
        ):
            raise EmulatorRefusal(Refusal.OUT_TRADE_NO_USED)
        if trade.state in PAID_STATES:
            raise EmulatorRefusal(Refusal.ALREADY_PAID)
        if trade.state == TradeState.CLOSED:
            raise EmulatorRefusal(Refusal.TRADE_CLOSED)
        if scanned and trade.scanned_at is None:
            trade.scanned_at = now
            trade.save(update_fields=["scanned_at"])
        return trade


def trade_get(
    *, provider: str, merchant_id: str, out_trade_no: str = "", transaction_id: str = ""
) -> EmulatedTrade:
    if not _searchable(out_trade_no, transaction_id):
        raise EmulatorRefusal(Refusal.TRADE_NOT_FOUND)
    trades = EmulatedTrade.objects.filter(provider=provider, merchant_id=merchant_id)
    if out_trade_no:
        trade = trades.filter(out_trade_no=out_trade_no).first()
    elif transaction_id:
        trade = trades.filter(transaction_id=transaction_id).first()
    else:
        trade = None
    if trade is None or not trade_visible(trade):
        raise EmulatorRefusal(Refusal.TRADE_NOT_FOUND)
    return trade


def trade_visible(trade: EmulatedTrade) -> bool:
    """Alipay creates a precreate trade only when the payer scans its code."""
    return not (trade.channel == Channel.PRECREATE and trade.scanned_at is None)


def trade_expired(trade: EmulatedTrade, *, now: dt.datetime) -> bool:
    return (
        trade.state == TradeState.NOTPAY
        and trade.expires_at is not None
        and now >= trade.expires_at
    )


def trade_close(
    *, provider: str, merchant_id: str, out_trade_no: str, missing_ok: bool
) -> EmulatedTrade | None:
    """Close an unpaid trade (again: nothing changes). WeChat Pay answers success for a trade it
    never saw (`missing_ok`); Alipay says it does not exist."""
    if not _searchable(out_trade_no):
        raise EmulatorRefusal(Refusal.TRADE_NOT_FOUND)
    with transaction.atomic(durable=True):
        trade = (
            EmulatedTrade.objects.select_for_update()
            .filter(provider=provider, merchant_id=merchant_id, out_trade_no=out_trade_no)
            .first()
        )
        if trade is None or not trade_visible(trade):
            if missing_ok:
                return None
            raise EmulatorRefusal(Refusal.TRADE_NOT_FOUND)
        if trade.state in PAID_STATES:
            raise EmulatorRefusal(Refusal.ALREADY_PAID)
        if trade.state != TradeState.CLOSED:
            trade.state = TradeState.CLOSED
            trade.closed_at = timezone.now()
            trade.save(update_fields=["state", "closed_at"])
        return trade


def trade_scan(*, trade_pk: int) -> EmulatedTrade:
    """The payer opened the code or the cashier page."""
    with transaction.atomic(durable=True):
        trade = EmulatedTrade.objects.select_for_update().get(pk=trade_pk)
        if trade.scanned_at is None:
            trade.scanned_at = timezone.now()
            trade.save(update_fields=["scanned_at"])
        return trade


def trade_pay(*, trade_pk: int, notify: bool = True, even_if_closed: bool = False) -> EmulatedTrade:
    """The payer pays. `notify=False`: the provider's notification is lost (never sent);
    `even_if_closed`: the payment raced the merchant's close and won."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        trade = EmulatedTrade.objects.select_for_update().get(pk=trade_pk)
        if trade.state in PAID_STATES:
            raise EmulatorRefusal(Refusal.ALREADY_PAID)
        if not even_if_closed:
            if trade.state == TradeState.CLOSED:
                raise EmulatorRefusal(Refusal.TRADE_CLOSED)
            if trade_expired(trade, now=now):
                raise EmulatorRefusal(Refusal.EXPIRED)
        trade.state = TradeState.SUCCESS
        trade.paid_at = now
        trade.scanned_at = trade.scanned_at or now
        if trade.provider == Provider.WECHATPAY and not trade.payer_openid:
            trade.payer_openid = "o" + _random_text(27, string.ascii_letters + string.digits + "_-")
        if trade.provider == Provider.ALIPAY:
            trade.buyer_id = "2088" + _random_text(12, string.digits)
        trade.save(update_fields=["state", "paid_at", "scanned_at", "payer_openid", "buyer_id"])
        if notify and trade.notify_url:
            callback = _payment_callback(trade, now=now, notify_url=trade.notify_url)
            _enqueue_after_commit(callback)
    return trade


# --- Refunds ---------------------------------------------------------------------------------


def refund_create(
    *,
    trade_pk: int,
    out_refund_no: str,
    amount_fen: int,
    total_fen: int | None,
    reason: str,
    notify_url: str,
) -> tuple[EmulatedRefund, bool]:
    """Accept a refund (False: the same out_refund_no was accepted before, nothing moves).
    WeChat Pay settles it a moment later and notifies the refund's notify_url; Alipay settles at
    once and notifies the payment's notify_url."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        trade = EmulatedTrade.objects.select_for_update().get(pk=trade_pk)
        existing = trade.refunds.filter(out_refund_no=out_refund_no).first()
        if existing is not None:
            if existing.amount_fen != amount_fen:
                raise EmulatorRefusal(Refusal.OUT_REFUND_NO_USED)
            return existing, False
        if (
            trade.provider == Provider.WECHATPAY
            and EmulatedRefund.objects.filter(
                trade__provider=trade.provider,
                trade__merchant_id=trade.merchant_id,
                out_refund_no=out_refund_no,
            ).exists()
        ):
            raise EmulatorRefusal(Refusal.OUT_REFUND_NO_USED)
        if trade.state not in PAID_STATES:
            raise EmulatorRefusal(Refusal.NOT_PAID)
        if total_fen is not None and total_fen != trade.amount_fen:
            raise EmulatorRefusal(Refusal.TOTAL_MISMATCH)
        if trade.refunded_fen + amount_fen > trade.amount_fen:
            raise EmulatorRefusal(Refusal.REFUND_EXCEEDS)
        settled = trade.provider == Provider.ALIPAY
        refund = EmulatedRefund.objects.create(
            trade=trade,
            out_refund_no=out_refund_no,
            refund_id=_refund_id(trade.provider, now),
            amount_fen=amount_fen,
            state=RefundState.SUCCESS if settled else RefundState.PROCESSING,
            reason=reason,
            notify_url=notify_url,
            succeeded_at=now if settled else None,
        )
        trade.refunded_fen += amount_fen
        trade.state = TradeState.REFUND
        trade.save(update_fields=["refunded_fen", "state"])
        if settled:
            if trade.notify_url:
                _enqueue_after_commit(
                    _refund_callback(refund, now=now, notify_url=trade.notify_url)
                )
        else:
            from provider_emulators.tasks import refund_settle_task

            outbox.enqueue_after_commit(refund_settle_task, [refund.pk], queue=TASK_QUEUE)
    return refund, True


def refund_settle(*, refund_pk: int) -> EmulatedRefund:
    """A WeChat Pay refund reaches the payer; the merchant is notified if it gave a notify_url."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        refund = (
            EmulatedRefund.objects.select_for_update().select_related("trade").get(pk=refund_pk)
        )
        if refund.state != RefundState.PROCESSING:
            return refund
        refund.state = RefundState.SUCCESS
        refund.succeeded_at = now
        refund.save(update_fields=["state", "succeeded_at"])
        if refund.notify_url:
            _enqueue_after_commit(_refund_callback(refund, now=now, notify_url=refund.notify_url))
    return refund


def refund_get(*, trade: EmulatedTrade, out_refund_no: str) -> EmulatedRefund:
    if not _searchable(out_refund_no):
        raise EmulatorRefusal(Refusal.REFUND_NOT_FOUND)
    refund = trade.refunds.filter(out_refund_no=out_refund_no).first()
    if refund is None:
        raise EmulatorRefusal(Refusal.REFUND_NOT_FOUND)
    return refund


def refund_get_for_merchant(
    *, provider: str, merchant_id: str, out_refund_no: str
) -> EmulatedRefund:
    if not _searchable(out_refund_no):
        raise EmulatorRefusal(Refusal.REFUND_NOT_FOUND)
    refund = (
        EmulatedRefund.objects.select_related("trade")
        .filter(
            trade__provider=provider,
            trade__merchant_id=merchant_id,
            out_refund_no=out_refund_no,
        )
        .first()
    )
    if refund is None:
        raise EmulatorRefusal(Refusal.REFUND_NOT_FOUND)
    return refund


# --- Callbacks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedCallback:
    """One notification request exactly as the provider sends it."""

    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class DeliveryOutcome:
    callback_id: int
    attempt: int
    accepted: bool
    http_status: int | None
    # Seconds until the next scheduled attempt; None when no attempt follows.
    retry_in: float | None = None


def retry_schedule(provider: str) -> list[float]:
    """Seconds to wait after each failed attempt (the real schedule times the test factor)."""
    base = (
        settings.PAYMENT_EMULATOR_WECHATPAY_RETRY_SCHEDULE
        if provider == Provider.WECHATPAY
        else settings.PAYMENT_EMULATOR_ALIPAY_RETRY_SCHEDULE
    )
    return [float(seconds) * settings.PAYMENT_EMULATOR_RETRY_FACTOR for seconds in base]


def callback_request(
    callback: EmulatedCallback,
    *,
    sent_at: dt.datetime,
    probe: bool = False,
    changes: Mapping[str, Any] | None = None,
) -> SignedCallback:
    """Sign the notification for sending at `sent_at`. `changes` alter the content before it is
    signed (WeChat Pay: the decrypted resource's fields; Alipay: the form parameters; a None
    value removes the field): a correctly signed notification saying something else."""
    if callback.provider == Provider.WECHATPAY:
        wechatpay = wechatpay_platform()
        payload = callback.payload
        if changes:
            resource = _changed(payload["resource"], changes)
            envelope = {
                **payload["envelope"],
                "resource": wechatpay_encrypt(
                    apiv3_key=wechatpay.merchant.apiv3_key,
                    plaintext=compact_json(resource),
                    associated_data=payload["original_type"],
                    original_type=payload["original_type"],
                ),
            }
            body = compact_json(envelope).encode()
        else:
            body = payload["body"].encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Mozilla/4.0",
            "Request-ID": str(uuid.uuid4()),
            **wechatpay_signed_headers(
                private_key=wechatpay.private_key,
                public_key_id=wechatpay.public_key_id,
                body=body,
                timestamp=int(sent_at.timestamp()),
                probe=probe,
            ),
        }
        return SignedCallback(url=callback.notify_url, headers=headers, body=body)
    alipay = alipay_platform()
    params = _changed(callback.payload["params"], changes or {})
    params["notify_time"] = alipay_time(sent_at)
    signature = rsa_sign(alipay.private_key, alipay_content(params, exclude=("sign", "sign_type")))
    body = urlencode({**params, "sign_type": "RSA2", "sign": signature}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "User-Agent": "Mozilla/4.0",
    }
    return SignedCallback(url=callback.notify_url, headers=headers, body=body)


def callback_deliver_due(*, callback_id: int) -> DeliveryOutcome | None:
    """One scheduled attempt, if the callback is due and this caller wins the claim; a failed
    attempt sets the next one on the provider's schedule, the last one gives up."""
    now = timezone.now()
    callback = EmulatedCallback.objects.filter(pk=callback_id).first()
    if callback is None:
        return None
    scheduled_for = callback.next_attempt_at
    lease = dt.timedelta(seconds=2 * settings.PAYMENT_EMULATOR_CALLBACK_TIMEOUT_SECONDS + 5)
    if not outbox.claim(
        EmulatedCallback, pk=callback_id, states=CALLBACK_STATES, now=now, lease=lease
    ):
        return None
    callback.refresh_from_db()
    number = callback.attempts
    if (
        number == 1
        and callback.provider == Provider.WECHATPAY
        and random.random() < settings.PAYMENT_EMULATOR_SIGNATURE_PROBE_RATE  # noqa: S311
    ):
        _attempt(callback, number=number, probe=True, scheduled_for=scheduled_for)
    accepted, http_status, finished_at = _attempt(
        callback, number=number, probe=False, scheduled_for=scheduled_for
    )
    schedule = retry_schedule(callback.provider)
    retry_in: float | None = None
    fields: dict[str, Any] = {"lease_expires_at": None}
    if accepted:
        fields |= {"status": CallbackStatus.DELIVERED, "delivered_at": finished_at}
        fields["next_attempt_at"] = None
    elif number > len(schedule):
        fields |= {"status": CallbackStatus.GAVE_UP, "next_attempt_at": None}
    else:
        retry_in = schedule[number - 1]
        fields |= {
            "status": CallbackStatus.PENDING,
            "next_attempt_at": finished_at + dt.timedelta(seconds=retry_in),
        }
    finished = EmulatedCallback.objects.filter(
        pk=callback_id, status=CallbackStatus.SENDING, attempts=number
    ).update(**fields)
    if not finished:
        logger.info("emulated callback %s: claim lost before attempt %s ended", callback_id, number)
        retry_in = None
    return DeliveryOutcome(
        callback_id=callback_id,
        attempt=number,
        accepted=accepted,
        http_status=http_status,
        retry_in=retry_in,
    )


def callback_deliver_now(*, callback_id: int) -> DeliveryOutcome:
    """One attempt now, whatever the schedule and status (it counts as an attempt)."""
    with transaction.atomic(durable=True):
        callback = EmulatedCallback.objects.select_for_update().get(pk=callback_id)
        callback.attempts += 1
        callback.save(update_fields=["attempts"])
    accepted, http_status, finished_at = _attempt(
        callback, number=callback.attempts, probe=False, scheduled_for=None
    )
    if accepted:
        EmulatedCallback.objects.filter(pk=callback_id).exclude(
            status=CallbackStatus.DELIVERED
        ).update(
            status=CallbackStatus.DELIVERED,
            delivered_at=finished_at,
            next_attempt_at=None,
            lease_expires_at=None,
        )
    return DeliveryOutcome(
        callback_id=callback_id,
        attempt=callback.attempts,
        accepted=accepted,
        http_status=http_status,
    )


def callbacks_sweep() -> int:
    """Publish callbacks left due (a lost publish, a dead worker) and settle WeChat Pay refunds
    whose settling task was lost. Returns how many callbacks were published."""
    from provider_emulators.tasks import callback_deliver_task

    now = timezone.now()
    for refund_pk in EmulatedRefund.objects.filter(
        state=RefundState.PROCESSING, created_at__lt=now - SWEEP_GRACE
    ).values_list("pk", flat=True)[:500]:
        refund_settle(refund_pk=refund_pk)
    ids = outbox.due_ids(
        EmulatedCallback, states=CALLBACK_STATES, now=now, grace=SWEEP_GRACE, limit=500
    )
    return outbox.enqueue_now(callback_deliver_task, ids, queue=TASK_QUEUE)


def enqueue_delivery(callback_id: int, *, countdown: float | None = None) -> None:
    from provider_emulators.tasks import callback_deliver_task

    outbox.enqueue_now(callback_deliver_task, [callback_id], queue=TASK_QUEUE, countdown=countdown)


def callback_for(
    trade: EmulatedTrade, *, refund: EmulatedRefund | None, create: bool
) -> EmulatedCallback:
    """The latest notification about the payment (refund None) or the refund; `create` makes
    one, unscheduled, when none was ever made (a payment taken without notification)."""
    existing = EmulatedCallback.objects.filter(trade=trade, refund=refund).order_by("-pk").first()
    if existing is not None:
        return existing
    if not create:
        raise EmulatorRefusal(Refusal.TRADE_NOT_FOUND, "no notification for this event")
    return callback_duplicate(trade=trade, refund=refund)


def callback_duplicate(*, trade: EmulatedTrade, refund: EmulatedRefund | None) -> EmulatedCallback:
    """A further, distinct notification of the same event (a new event id), not scheduled."""
    if trade.state not in PAID_STATES:
        raise EmulatorRefusal(Refusal.NOT_PAID)
    now = timezone.now()
    notify_url = (
        trade.notify_url
        if refund is None or trade.provider == Provider.ALIPAY
        else (refund.notify_url)
    )
    with transaction.atomic(durable=True):
        if refund is None:
            return _payment_callback(trade, now=now, notify_url=notify_url, scheduled=False)
        return _refund_callback(refund, now=now, notify_url=notify_url, scheduled=False)


def _attempt(
    callback: EmulatedCallback,
    *,
    number: int,
    probe: bool,
    scheduled_for: dt.datetime | None,
) -> tuple[bool, int | None, dt.datetime]:
    sent_at = timezone.now()
    request = callback_request(callback, sent_at=sent_at, probe=probe)
    http_status: int | None = None
    content = b""
    error = ""
    try:
        response = httpx.post(
            request.url,
            content=request.body,
            headers=request.headers,
            timeout=settings.PAYMENT_EMULATOR_CALLBACK_TIMEOUT_SECONDS,
        )
        http_status, content = response.status_code, response.content
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
    if callback.provider == Provider.WECHATPAY:
        accepted = http_status is not None and 200 <= http_status < 300
    else:
        accepted = http_status == 200 and content == b"success"
    finished_at = timezone.now()
    EmulatedCallbackAttempt.objects.create(
        callback=callback,
        number=number,
        probe=probe,
        scheduled_for=scheduled_for,
        sent_at=sent_at,
        finished_at=finished_at,
        http_status=http_status,
        response_excerpt=content[:200].decode("utf-8", "replace"),
        error=error,
        accepted=accepted,
    )
    return accepted, http_status, finished_at


def _enqueue_after_commit(callback: EmulatedCallback) -> None:
    from provider_emulators.tasks import callback_deliver_task

    outbox.enqueue_after_commit(callback_deliver_task, [callback.pk], queue=TASK_QUEUE)


def _payment_callback(
    trade: EmulatedTrade, *, now: dt.datetime, notify_url: str, scheduled: bool = True
) -> EmulatedCallback:
    if trade.provider == Provider.WECHATPAY:
        event_id, payload = _wechatpay_payload(
            event_type="TRANSACTION.SUCCESS",
            summary="支付成功",
            original_type="transaction",
            resource=wechatpay_transaction(trade),
            now=now,
        )
    else:
        event_id = _alipay_notify_id()
        payload = {"params": _alipay_params(trade, refund=None, notify_id=event_id)}
    return EmulatedCallback.objects.create(
        provider=trade.provider,
        trade=trade,
        event_id=event_id,
        notify_url=notify_url,
        payload=payload,
        next_attempt_at=now if scheduled else None,
    )


def _refund_callback(
    refund: EmulatedRefund, *, now: dt.datetime, notify_url: str, scheduled: bool = True
) -> EmulatedCallback:
    trade = refund.trade
    if trade.provider == Provider.WECHATPAY:
        event_id, payload = _wechatpay_payload(
            event_type="REFUND.SUCCESS",
            summary="退款成功",
            original_type="refund",
            resource={
                "mchid": trade.merchant_id,
                "out_trade_no": trade.out_trade_no,
                "transaction_id": trade.transaction_id,
                "out_refund_no": refund.out_refund_no,
                "refund_id": refund.refund_id,
                "refund_status": refund.state,
                "success_time": rfc3339(refund.succeeded_at or now),
                "user_received_account": "支付用户零钱",
                "amount": {
                    "total": trade.amount_fen,
                    "refund": refund.amount_fen,
                    "payer_total": trade.amount_fen,
                    "payer_refund": refund.amount_fen,
                },
            },
            now=now,
        )
    else:
        event_id = _alipay_notify_id()
        payload = {"params": _alipay_params(trade, refund=refund, notify_id=event_id)}
    return EmulatedCallback.objects.create(
        provider=trade.provider,
        trade=trade,
        refund=refund,
        event_id=event_id,
        notify_url=notify_url,
        payload=payload,
        next_attempt_at=now if scheduled else None,
    )


def wechatpay_transaction(trade: EmulatedTrade) -> dict[str, Any]:
    """A transaction as WeChat Pay describes it (query answers and notifications)."""
    paid = trade.state in PAID_STATES
    descriptions = {
        TradeState.NOTPAY: "未支付",
        TradeState.SUCCESS: "支付成功",
        TradeState.REFUND: "转入退款",
        TradeState.CLOSED: "已关闭",
    }
    data: dict[str, Any] = {
        "appid": trade.app_id,
        "mchid": trade.merchant_id,
        "out_trade_no": trade.out_trade_no,
        "trade_type": trade.channel.upper(),
        "trade_state": trade.state,
        "trade_state_desc": descriptions[TradeState(trade.state)],
        "attach": "",
        "amount": {"total": trade.amount_fen, "currency": "CNY"},
    }
    if paid:
        data |= {
            "transaction_id": trade.transaction_id,
            "bank_type": "OTHERS",
            "success_time": rfc3339(trade.paid_at or timezone.now()),
            "payer": {"openid": trade.payer_openid},
            "amount": {
                "total": trade.amount_fen,
                "payer_total": trade.amount_fen,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
    return data


def alipay_trade_status(trade: EmulatedTrade, *, now: dt.datetime) -> str:
    if trade.state == TradeState.NOTPAY:
        return "TRADE_CLOSED" if trade_expired(trade, now=now) else "WAIT_BUYER_PAY"
    if trade.state == TradeState.CLOSED:
        return "TRADE_CLOSED"
    if trade.refunded_fen == trade.amount_fen:
        return "TRADE_CLOSED"
    return "TRADE_SUCCESS"


def _alipay_params(
    trade: EmulatedTrade, *, refund: EmulatedRefund | None, notify_id: str
) -> dict[str, str]:
    alipay = alipay_platform()
    amount = fen_to_yuan(trade.amount_fen)
    params = {
        "notify_type": "trade_status_sync",
        "notify_id": notify_id,
        "charset": "utf-8",
        "version": "1.0",
        "app_id": trade.app_id,
        "auth_app_id": trade.app_id,
        "trade_no": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "buyer_id": trade.buyer_id,
        "buyer_logon_id": "138****8888",
        "seller_id": trade.merchant_id or alipay.app.seller_id,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": amount,
        "receipt_amount": amount,
        "invoice_amount": amount,
        "buyer_pay_amount": amount,
        "point_amount": "0.00",
        "subject": trade.description,
        "gmt_create": alipay_time(trade.created_at),
        "gmt_payment": alipay_time(trade.paid_at or timezone.now()),
        "fund_bill_list": json.dumps(
            [{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")
        ),
    }
    if refund is not None:
        refunded = trade.refunded_fen
        params |= {
            "out_biz_no": refund.out_refund_no,
            "refund_fee": fen_to_yuan(refunded),
            # Alipay writes refund times with milliseconds.
            "gmt_refund": alipay_time(refund.succeeded_at or timezone.now())
            + f".{(refund.succeeded_at or timezone.now()).microsecond // 1000:03d}",
        }
        if refunded == trade.amount_fen:
            params |= {"trade_status": "TRADE_CLOSED", "gmt_close": params["gmt_refund"][:19]}
    return params


def _wechatpay_payload(
    *,
    event_type: str,
    summary: str,
    original_type: str,
    resource: dict[str, Any],
    now: dt.datetime,
) -> tuple[str, dict[str, Any]]:
    wechatpay = wechatpay_platform()
    event_id = str(uuid.uuid4())
    envelope = {
        "id": event_id,
        "create_time": rfc3339(now),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
    }
    body = {
        **envelope,
        "resource": wechatpay_encrypt(
            apiv3_key=wechatpay.merchant.apiv3_key,
            plaintext=compact_json(resource),
            associated_data=original_type,
            original_type=original_type,
        ),
    }
    return event_id, {
        "body": compact_json(body),
        "envelope": envelope,
        "resource": resource,
        "original_type": original_type,
    }


def _changed(values: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(values)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


# --- Statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BillRow:
    kind: str  # "payment" or "refund"
    occurred_at: dt.datetime
    app_id: str
    merchant_id: str
    transaction_id: str
    out_trade_no: str
    payer: str
    channel: str
    description: str
    trade_amount_fen: int
    # payment: the trade's amount; refund: the refund's amount
    amount_fen: int
    out_refund_no: str = ""
    refund_id: str = ""


def bill_rows(*, provider: str, merchant_id: str, bill_date: dt.date) -> list[BillRow] | None:
    """What the provider recorded for the (local) day: payments by payment time, refunds by
    acceptance time, with any deliberate adjustments applied. None: no statement that day."""
    start, end = local_day_bounds(bill_date)
    trades = EmulatedTrade.objects.filter(provider=provider, merchant_id=merchant_id)
    rows = [
        _bill_row(trade, kind="payment", occurred_at=trade.paid_at, amount_fen=trade.amount_fen)
        for trade in trades.filter(paid_at__gte=start, paid_at__lt=end)
        if trade.paid_at is not None
    ]
    for refund in EmulatedRefund.objects.select_related("trade").filter(
        trade__provider=provider,
        trade__merchant_id=merchant_id,
        created_at__gte=start,
        created_at__lt=end,
    ):
        rows.append(
            _bill_row(
                refund.trade,
                kind="refund",
                occurred_at=refund.created_at,
                amount_fen=refund.amount_fen,
                refund=refund,
            )
        )
    adjustments = list(
        EmulatedBillAdjustment.objects.filter(
            provider=provider, merchant_id=merchant_id, bill_date=bill_date
        ).order_by("pk")
    )
    if not rows and not adjustments:
        return None
    for adjustment in adjustments:
        rows = _adjusted(rows, adjustment, provider=provider, start=start)
    return sorted(rows, key=lambda row: (row.occurred_at, row.kind, row.out_refund_no))


def bill_issue(
    *, provider: str, merchant_id: str, bill_date: dt.date, content: bytes, valid_for: dt.timedelta
) -> EmulatedBillFile:
    return EmulatedBillFile.objects.create(
        token=secrets.token_urlsafe(24),
        provider=provider,
        merchant_id=merchant_id,
        bill_date=bill_date,
        content=content,
        expires_at=timezone.now() + valid_for,
    )


def bill_file(*, provider: str, token: str) -> EmulatedBillFile | None:
    if not _searchable(token):
        return None
    return EmulatedBillFile.objects.filter(
        provider=provider, token=token, expires_at__gt=timezone.now()
    ).first()


def bill_adjust(
    *,
    provider: str,
    merchant_id: str,
    bill_date: dt.date,
    action: str,
    kind: str,
    out_trade_no: str,
    out_refund_no: str = "",
    transaction_id: str = "",
    amount_fen: int | None = None,
) -> EmulatedBillAdjustment:
    return EmulatedBillAdjustment.objects.create(
        provider=provider,
        merchant_id=merchant_id,
        bill_date=bill_date,
        action=action,
        kind=kind,
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        transaction_id=transaction_id,
        amount_fen=amount_fen,
    )


def _bill_row(
    trade: EmulatedTrade,
    *,
    kind: str,
    occurred_at: dt.datetime,
    amount_fen: int,
    refund: EmulatedRefund | None = None,
) -> BillRow:
    return BillRow(
        kind=kind,
        occurred_at=occurred_at,
        app_id=trade.app_id,
        merchant_id=trade.merchant_id,
        transaction_id=trade.transaction_id,
        out_trade_no=trade.out_trade_no,
        payer=trade.payer_openid or trade.buyer_id,
        channel=trade.channel,
        description=trade.description,
        trade_amount_fen=trade.amount_fen,
        amount_fen=amount_fen,
        out_refund_no=refund.out_refund_no if refund else "",
        refund_id=refund.refund_id if refund else "",
    )


def _adjusted(
    rows: list[BillRow],
    adjustment: EmulatedBillAdjustment,
    *,
    provider: str,
    start: dt.datetime,
) -> list[BillRow]:
    def matches(row: BillRow) -> bool:
        return (row.kind, row.out_trade_no, row.out_refund_no) == (
            adjustment.kind,
            adjustment.out_trade_no,
            adjustment.out_refund_no,
        )

    if adjustment.action == BillAdjustmentAction.OMIT:
        return [row for row in rows if not matches(row)]
    amount = adjustment.amount_fen or 0
    if adjustment.action == BillAdjustmentAction.AMEND:
        return [
            BillRow(**{**row.__dict__, "amount_fen": amount}) if matches(row) else row
            for row in rows
        ]
    added_at = max(start, min(adjustment.created_at, start + dt.timedelta(hours=23)))
    return [
        *rows,
        BillRow(
            kind=adjustment.kind,
            occurred_at=added_at,
            app_id="",
            merchant_id=adjustment.merchant_id,
            transaction_id=adjustment.transaction_id or _transaction_id(provider, added_at),
            out_trade_no=adjustment.out_trade_no,
            payer="",
            channel=Channel.NATIVE if provider == Provider.WECHATPAY else Channel.PRECREATE,
            description="",
            trade_amount_fen=amount,
            amount_fen=amount,
            out_refund_no=adjustment.out_refund_no,
            refund_id=_refund_id(provider, added_at) if adjustment.kind == "refund" else "",
        ),
    ]


# --- Identifiers and formats -----------------------------------------------------------------


def _searchable(*values: str) -> bool:
    """PostgreSQL text cannot hold NUL: such a key matches nothing (rather than failing)."""
    return not any("\x00" in value for value in values)


def _random_text(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _transaction_id(provider: str, now: dt.datetime) -> str:
    day = timezone.localtime(now).strftime("%Y%m%d")
    if provider == Provider.WECHATPAY:
        return "42000" + _random_text(5, string.digits) + day + _random_text(10, string.digits)
    return day + "22001" + _random_text(15, string.digits)


def _refund_id(provider: str, now: dt.datetime) -> str:
    if provider == Provider.WECHATPAY:
        return "50" + _random_text(27, string.digits)
    return timezone.localtime(now).strftime("%Y%m%d") + "R" + _random_text(15, string.digits)


def _prepay_id(now: dt.datetime) -> str:
    return "wx" + timezone.localtime(now).strftime("%d%H%M%S") + secrets.token_hex(13)


def _alipay_notify_id() -> str:
    return secrets.token_hex(17)


def rfc3339(moment: dt.datetime) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds")


def alipay_time(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime(ALIPAY_TIME_FORMAT)


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
