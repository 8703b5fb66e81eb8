"""Money arriving from a provider, whoever reports it (a callback, a query, a close that found
the order paid): applied once, under the order's lock.

A payment for an order still waiting for it pays the order. A payment for an order that closed
locally, or that another provider order already paid, is recorded as a late payment, refunded
automatically and flagged for operations.
"""

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import outbox
from core.actors import SYSTEM_ACTOR
from notifications.services import notify
from payments.models import (
    LIVE_ATTEMPT_STATUSES,
    PAYABLE_STATUSES,
    AttemptStatus,
    AttentionReason,
    InboundCallback,
    LedgerKind,
    LedgerSource,
    OrderStatus,
    PaymentAttempt,
    PaymentOrder,
    RefundTrigger,
)
from payments.providers.base import PaymentQuery
from payments.services.insurance import insurance_release, insurance_settle
from payments.services.ledger import ledger_append, ledger_has, ledger_sync_order, receipt_key
from payments.services.state import order_flag_attention, order_lock, order_move, refund_reserve
from pharmacy.services import fulfilment_start

logger = logging.getLogger(__name__)

# What applying a receipt did.
PAID = "paid"
LATE_PAYMENT = "late_payment"
DUPLICATE_PAYMENT = "duplicate_payment"
ALREADY_RECORDED = "already_recorded"


def receipt_apply(
    order: PaymentOrder,
    attempt: PaymentAttempt,
    *,
    transaction_id: str,
    amount_fen: int,
    occurred_at: datetime.datetime | None,
    source: str,
    now: datetime.datetime,
    callback: InboundCallback | None = None,
) -> str:
    """Apply a verified payment of `attempt` (amount already checked) to the locked order."""
    if ledger_has(dedupe_key=receipt_key(attempt)):
        return ALREADY_RECORDED
    occurred_at = occurred_at or now
    attempt.status = AttemptStatus.PAID
    attempt.transaction_id = transaction_id
    attempt.paid_at = occurred_at
    attempt.save(update_fields=["status", "transaction_id", "paid_at"])
    detail = {"order_status": order.status}
    if order.status in PAYABLE_STATUSES:
        ledger_append(
            order=order,
            kind=LedgerKind.PAID,
            amount_fen=amount_fen,
            dedupe_key=receipt_key(attempt),
            source=source,
            occurred_at=occurred_at,
            attempt=attempt,
            callback=callback,
            transaction_id=transaction_id,
            detail=detail,
        )
        ledger_sync_order(order)
        order.paid_at = occurred_at
        order_move(
            order,
            OrderStatus.PAID,
            actor=SYSTEM_ACTOR,
            now=now,
            reason=f"{attempt.provider} {transaction_id}",
        )
        _close_other_attempts(order, paid=attempt)
        order_after_paid(order, now=now)
        return PAID

    late = order.status in (OrderStatus.CLOSED, OrderStatus.FAILED)
    reason = AttentionReason.LATE_PAYMENT if late else AttentionReason.DUPLICATE_PAYMENT
    ledger_append(
        order=order,
        kind=LedgerKind.LATE_PAYMENT_DETECTED,
        amount_fen=amount_fen,
        dedupe_key=receipt_key(attempt),
        source=source,
        occurred_at=occurred_at,
        attempt=attempt,
        callback=callback,
        transaction_id=transaction_id,
        detail=detail | {"reason": reason},
    )
    ledger_sync_order(order)
    order_flag_attention(order, reason=reason, reference=attempt.out_trade_no, now=now)
    refund_reserve(
        order,
        attempt=attempt,
        amount_fen=amount_fen,
        trigger=RefundTrigger.LATE_PAYMENT if late else RefundTrigger.DUPLICATE_PAYMENT,
        trigger_key=f"{reason}:{attempt.out_trade_no}",
        reason="关单后到账，自动退款" if late else "重复支付，自动退款",
        actor=SYSTEM_ACTOR,
        now=now,
    )
    logger.warning(
        "order %s: %s of %s fen on %s refunded automatically",
        order.number,
        reason,
        amount_fen,
        attempt.out_trade_no,
    )
    return reason


def order_after_paid(order: PaymentOrder, *, now: datetime.datetime) -> None:
    """Everything a paid order sets off, in the transaction that paid it."""
    insurance_settle(order=order, now=now)
    notify(
        event="payment_received",
        recipient=order.patient,
        objects={"order": order.pk},
        dedupe_key=f"order:{order.pk}:paid",
        now=now,
    )
    # Fulfilment starts here, in this transaction (a delivery is dispatched after commit).
    fulfilment_start(order=order, now=now)


def _close_other_attempts(order: PaymentOrder, *, paid: PaymentAttempt) -> None:
    """The patient may have opened another provider's QR code too: close those provider orders
    after commit, so they cannot be paid a second time."""
    others = list(
        order.attempts.filter(status__in=LIVE_ATTEMPT_STATUSES)
        .exclude(pk=paid.pk)
        .values_list("pk", flat=True)
    )
    if others:
        from payments.tasks import attempt_close_task

        outbox.enqueue_after_commit(attempt_close_task, others, queue=settings.PAYMENTS_QUEUE)


def payment_record_from_query(
    *, attempt_id: int, result: PaymentQuery, now: datetime.datetime | None = None
) -> str:
    """A provider query found the attempt paid (its callback never came, or not yet)."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        order_id = PaymentAttempt.objects.values_list("order_id", flat=True).get(pk=attempt_id)
        order = order_lock(order_id)
        attempt = PaymentAttempt.objects.get(pk=attempt_id)
        if result.amount_fen != attempt.amount_fen:
            # Not ours to guess which side is right: reconciliation and operations decide.
            logger.error(
                "query of %s says %s fen paid, the order expects %s: not applied",
                attempt.out_trade_no,
                result.amount_fen,
                attempt.amount_fen,
            )
            order_flag_attention(
                order,
                reason=AttentionReason.AMOUNT_MISMATCH,
                reference=attempt.out_trade_no,
                now=now,
            )
            order.save(update_fields=["needs_attention", "attention_reason", "updated_at"])
            return "amount_mismatch"
        return receipt_apply(
            order,
            attempt,
            transaction_id=result.transaction_id,
            amount_fen=result.amount_fen,
            occurred_at=result.paid_at,
            source=LedgerSource.QUERY,
            now=now,
        )


def order_ended_by_provider_locked(
    order: PaymentOrder, attempt: PaymentAttempt, *, now: datetime.datetime
) -> None:
    """The provider closed its order by itself (its expiry, or a failed payment). A pending order
    left with no live or paid provider order has failed: the provider ended it, not us."""
    if attempt.status in LIVE_ATTEMPT_STATUSES:
        attempt.status = AttemptStatus.CLOSED
        attempt.closed_at = now
        attempt.save(update_fields=["status", "closed_at"])
    still_open = order.attempts.filter(
        status__in=(*LIVE_ATTEMPT_STATUSES, AttemptStatus.PAID)
    ).exists()
    if order.status == OrderStatus.PENDING and not still_open:
        insurance_release(order=order, now=now)
        order.closed_at = now
        order.close_reason = "closed_by_provider"
        order_move(
            order, OrderStatus.FAILED, actor=SYSTEM_ACTOR, now=now, reason="closed by provider"
        )


def order_ended_by_provider(*, attempt_id: int, now: datetime.datetime | None = None) -> None:
    """A query found the provider order closed."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        order_id = PaymentAttempt.objects.values_list("order_id", flat=True).get(pk=attempt_id)
        order = order_lock(order_id)
        order_ended_by_provider_locked(order, PaymentAttempt.objects.get(pk=attempt_id), now=now)
