"""The order's status gate and the steps every payment flow shares, all under the order's lock.

Lock order, everywhere: inbound callback row → payment order → attempt / refund → insurance
voucher. Nothing here talks to a provider: network calls happen outside transactions, in the
flows that call these steps.
"""

import datetime

from django.conf import settings
from django.db import transaction

from accounts.models import Role, User
from core import outbox
from core.actors import Actor
from core.exceptions import ConflictError
from notifications.services import notify
from payments.models import (
    TRANSITIONS,
    AttemptStatus,
    LedgerKind,
    LedgerSource,
    OrderEvent,
    OrderStatus,
    PaymentAttempt,
    PaymentOrder,
    Refund,
    RefundStatus,
    RefundTrigger,
)
from payments.services.insurance import insurance_reverse
from payments.services.ledger import ledger_append, ledger_sync_order


def order_lock(order_id: int) -> PaymentOrder:
    return PaymentOrder.objects.select_for_update().select_related("patient").get(pk=order_id)


def order_move(
    order: PaymentOrder,
    to_status: str,
    *,
    actor: Actor,
    now: datetime.datetime,
    reason: str = "",
) -> None:
    """Move the locked order along the transitions table, record the event, save the row."""
    if to_status not in TRANSITIONS[order.status]:
        raise ConflictError(
            f"A {order.status} order cannot become {to_status}.",
            code="invalid_transition",
            extra={"status": order.status},
        )
    from_status = order.status
    order.status = to_status
    order.save()
    OrderEvent.objects.create(
        order=order,
        from_status=from_status,
        to_status=to_status,
        actor=actor.user,
        actor_role=actor.role,
        reason=reason[:200],
        occurred_at=now,
    )


def order_follow_refunds(order: PaymentOrder, *, actor: Actor, now: datetime.datetime) -> None:
    """After a refund effect (ledger synced): paid ↔ refunding → refunded/paid, then save.

    A closed order that received a late payment keeps its status: the money is tracked by the
    amounts and the attention flag.
    """
    if order.status == OrderStatus.PAID and order.refund_pending_fen > 0:
        order_move(order, OrderStatus.REFUNDING, actor=actor, now=now, reason="refund requested")
    elif order.status == OrderStatus.REFUNDING and order.refund_pending_fen == 0:
        if order.refunded_fen == order.paid_fen:
            order_move(order, OrderStatus.REFUNDED, actor=actor, now=now, reason="refunded")
            insurance_reverse(order=order, now=now)
        else:
            order_move(order, OrderStatus.PAID, actor=actor, now=now, reason="refunds settled")
    else:
        order.save()


def attempt_refundable_fen(attempt: PaymentAttempt) -> int:
    """What may still be refunded against this provider payment (failed refunds do not count)."""
    if attempt.status != AttemptStatus.PAID:
        return 0
    taken = sum(
        attempt.refunds.exclude(status=RefundStatus.FAILED).values_list("amount_fen", flat=True)
    )
    return attempt.amount_fen - taken


def refund_reserve(
    order: PaymentOrder,
    *,
    attempt: PaymentAttempt,
    amount_fen: int,
    trigger: RefundTrigger,
    trigger_key: str,
    reason: str,
    actor: Actor,
    now: datetime.datetime,
) -> Refund:
    """Record a refund of the locked order and reserve its amount in the ledger; the provider
    is asked after commit (`payments.refund_submit`). The same cause refunds once."""
    existing = Refund.objects.filter(order=order, trigger_key=trigger_key).first()
    if existing is not None:
        return existing
    available = order.paid_fen - order.refunded_fen - order.refund_pending_fen
    if amount_fen <= 0 or amount_fen > min(available, attempt_refundable_fen(attempt)):
        raise ConflictError(
            "The refund exceeds what remains to be refunded.",
            code="refund_exceeds_paid",
            extra={"refundable_fen": min(available, attempt_refundable_fen(attempt))},
        )
    sequence = Refund.objects.filter(order=order).count() + 1
    refund = Refund.objects.create(
        order=order,
        attempt=attempt,
        out_refund_no=f"{order.number}-R{sequence}",
        amount_fen=amount_fen,
        reason=reason[:200],
        trigger=trigger,
        trigger_key=trigger_key,
        requested_by=actor.user,
    )
    ledger_append(
        order=order,
        kind=LedgerKind.REFUND_REQUESTED,
        amount_fen=amount_fen,
        dedupe_key=f"refund_requested:{refund.out_refund_no}",
        source=LedgerSource.SERVICE,
        occurred_at=now,
        attempt=attempt,
        refund=refund,
        actor=actor,
        detail={"trigger": trigger, "reason": reason[:200]},
    )
    ledger_sync_order(order)
    order_follow_refunds(order, actor=actor, now=now)
    transaction.on_commit(lambda: refund_submit_enqueue(refund.pk), robust=True)
    return refund


def refund_submit_enqueue(refund_id: int) -> None:
    from payments.tasks import refund_submit_task

    outbox.enqueue_now(refund_submit_task, [refund_id], queue=settings.PAYMENTS_QUEUE)


def order_flag_attention(
    order: PaymentOrder, *, reason: str, reference: str, now: datetime.datetime
) -> None:
    """Money that needs a person: flag the order and tell operations in-app (once per cause)."""
    order.needs_attention = True
    order.attention_reason = reason
    for operator in User.objects.filter(role=Role.OPERATIONS, is_active=True):
        notify(
            event="payment_attention",
            recipient=operator,
            objects={"order": order.pk},
            dedupe_key=f"order:{order.pk}:attention:{reason}:{reference}",
            now=now,
        )
