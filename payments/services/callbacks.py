"""Inbound provider callbacks: verify → store → lock the order → check → apply once → reply.

1. The gateway verifies the signature on the raw body and the timestamp window, then decrypts
   and parses (`parse_notification`). Anything that fails is stored as rejected, without an
   event id, and gets the provider's failure reply.
2. A verified callback is stored (committed) before it is applied, unique per provider event: a
   redelivery of the same event finds the first row.
3. Applying it locks the callback row, then the order; checks merchant, app, order and amount;
   and applies the effect through the ledger, whose unique constraints make it happen once
   whatever the number of copies, concurrent deliveries or different events for one payment.
4. The reply is exactly the gateway's `reply()`: accepted, or the provider's failure reply
   (rejected, or an error while applying — the row stays "received" and the provider's retry
   applies it).
"""

import datetime
import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from payments.models import (
    LIVE_ATTEMPT_STATUSES,
    CallbackOutcome,
    InboundCallback,
    LedgerSource,
    PaymentAttempt,
    PaymentOrder,
    Refund,
    RefundStatus,
)
from payments.providers.base import (
    CallbackReply,
    Notification,
    NotificationRejected,
)
from payments.services.gateways import expected_identity, gateway_for
from payments.services.receipts import order_ended_by_provider_locked, receipt_apply
from payments.services.refunds import refund_settle_locked
from payments.services.state import order_lock

logger = logging.getLogger(__name__)

# Request headers never worth keeping with a callback.
_DROPPED_HEADERS = frozenset({"cookie", "authorization"})


def _kept_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in _DROPPED_HEADERS}


def _store_rejected(
    *, provider: str, headers: dict[str, str], body: bytes, remote_addr: str | None, code: str
) -> None:
    with transaction.atomic(durable=True):
        InboundCallback.objects.create(
            provider=provider,
            headers=_kept_headers(headers),
            body=body,
            remote_addr=remote_addr,
            outcome=CallbackOutcome.REJECTED,
            reject_code=code[:64] or "rejected",
            processed_at=timezone.now(),
        )


def _store_verified(
    *,
    provider: str,
    notification: Notification,
    headers: dict[str, str],
    body: bytes,
    remote_addr: str | None,
) -> int:
    """The callback's row, new or (for a redelivery of the same event) the first one."""
    try:
        with transaction.atomic(durable=True):
            row = InboundCallback.objects.create(
                provider=provider,
                event_id=notification.event_id,
                kind=notification.kind,
                headers=_kept_headers(headers),
                body=body,
                remote_addr=remote_addr,
                out_trade_no=notification.out_trade_no[:32],
                out_refund_no=notification.out_refund_no[:64],
            )
        return row.pk
    except IntegrityError:
        first = InboundCallback.objects.filter(provider=provider, event_id=notification.event_id)
        first.update(deliveries=F("deliveries") + 1)
        return first.values_list("pk", flat=True).get()


def _apply_payment(
    callback: InboundCallback, notification: Notification, *, now: datetime.datetime
) -> str:
    """Returns a rejection code, or "" when applied (or already applied)."""
    attempt = PaymentAttempt.objects.filter(
        provider=callback.provider, out_trade_no=notification.out_trade_no
    ).first()
    if attempt is None:
        return "unknown_order"
    order = order_lock(attempt.order_id)
    attempt.refresh_from_db()
    callback.order = order
    if notification.amount_fen != attempt.amount_fen:
        return "amount_mismatch"
    if attempt.transaction_id and notification.transaction_id != attempt.transaction_id:
        return "transaction_mismatch"
    if notification.status == "paid":
        if not notification.transaction_id:
            return "transaction_missing"
        receipt_apply(
            order,
            attempt,
            transaction_id=notification.transaction_id,
            amount_fen=notification.amount_fen,
            occurred_at=notification.occurred_at,
            source=LedgerSource.CALLBACK,
            now=now,
            callback=callback,
        )
        return ""
    if notification.status == "closed":
        if attempt.status in LIVE_ATTEMPT_STATUSES:
            order_ended_by_provider_locked(order, attempt, now=now)
        return ""
    return "status_unknown"


def _refund_amounts(refund: Refund) -> set[int]:
    """What a refund notification may say: the refund's amount, or (Alipay's refund_fee) the
    payment's refunded total once this refund is counted."""
    cumulative = sum(
        Refund.objects.filter(attempt_id=refund.attempt_id, pk__lte=refund.pk)
        .exclude(status=RefundStatus.FAILED)
        .values_list("amount_fen", flat=True)
    )
    return {refund.amount_fen, cumulative}


def _apply_refund(
    callback: InboundCallback, notification: Notification, *, now: datetime.datetime
) -> str:
    refund = (
        Refund.objects.select_related("attempt")
        .filter(out_refund_no=notification.out_refund_no)
        .first()
    )
    if refund is None or refund.attempt.provider != callback.provider:
        return "unknown_refund"
    order: PaymentOrder = order_lock(refund.order_id)
    refund.refresh_from_db()
    callback.order = order
    if notification.out_trade_no and notification.out_trade_no != refund.attempt.out_trade_no:
        return "unknown_refund"
    if notification.amount_fen not in _refund_amounts(refund):
        return "amount_mismatch"
    if notification.status not in ("succeeded", "failed"):
        return "status_unknown"
    refund_settle_locked(
        order,
        refund,
        succeeded=notification.status == "succeeded",
        source=LedgerSource.CALLBACK,
        now=now,
        error="" if notification.status == "succeeded" else "failed at the provider",
        occurred_at=notification.occurred_at,
        callback=callback,
    )
    return ""


def _check_identity(provider: str, notification: Notification) -> str:
    """The callback must be for this platform's merchant account and app. WeChat Pay's refund
    notifications carry no app id; any app id that is present must match."""
    merchant_id, app_id = expected_identity(provider)
    if notification.merchant_id != merchant_id:
        return "merchant_mismatch"
    if (notification.app_id or notification.kind == "payment") and notification.app_id != app_id:
        return "app_mismatch"
    return ""


def _process(
    callback_id: int,
    notification: Notification,
    *,
    now: datetime.datetime,
) -> str:
    """Apply the stored callback once; the outcome (a redelivery gets the first one's)."""
    with transaction.atomic(durable=True):
        callback = InboundCallback.objects.select_for_update().get(pk=callback_id)
        if callback.outcome != CallbackOutcome.RECEIVED:
            return callback.outcome
        code = _check_identity(callback.provider, notification)
        if not code:
            if notification.kind == "payment":
                code = _apply_payment(callback, notification, now=now)
            elif notification.kind == "refund":
                code = _apply_refund(callback, notification, now=now)
            else:
                code = "kind_unknown"
        callback.outcome = CallbackOutcome.REJECTED if code else CallbackOutcome.ACCEPTED
        callback.reject_code = code
        callback.processed_at = now
        callback.save(update_fields=["outcome", "reject_code", "processed_at", "order"])
    if code:
        logger.warning(
            "%s callback %s rejected: %s", callback.provider, notification.event_id, code
        )
    return callback.outcome


def callback_handle(
    *,
    provider: str,
    headers: dict[str, str],
    body: bytes,
    remote_addr: str | None = None,
    now: datetime.datetime | None = None,
) -> CallbackReply:
    """Handle one inbound callback and return exactly what the provider expects back."""
    now = now or timezone.now()
    gateway = gateway_for(provider)
    try:
        notification = gateway.parse_notification(headers=headers, body=body)
    except NotificationRejected as rejected:
        _store_rejected(
            provider=provider,
            headers=headers,
            body=body,
            remote_addr=remote_addr,
            code=rejected.code,
        )
        return gateway.reply(accepted=False)
    except Exception:  # a body the gateway could not even take apart: rejected, never a 500
        logger.exception("%s callback could not be parsed", provider)
        _store_rejected(
            provider=provider,
            headers=headers,
            body=body,
            remote_addr=remote_addr,
            code="malformed",
        )
        return gateway.reply(accepted=False)
    callback_id = _store_verified(
        provider=provider,
        notification=notification,
        headers=headers,
        body=body,
        remote_addr=remote_addr,
    )
    try:
        outcome = _process(callback_id, notification, now=now)
    except Exception:
        # Left "received": the provider retries, and the retry applies it.
        logger.exception("%s callback %s failed while applied", provider, notification.event_id)
        return gateway.reply(accepted=False)
    return gateway.reply(accepted=outcome == CallbackOutcome.ACCEPTED)


def callback_bare_handle(*, provider: str, headers: dict[str, str], body: bytes) -> CallbackReply:
    """Verify and reply, nothing else: the benchmark's baseline for the full handler."""
    gateway = gateway_for(provider)
    try:
        gateway.parse_notification(headers=headers, body=body)
    except Exception:
        return gateway.reply(accepted=False)
    return gateway.reply(accepted=True)
