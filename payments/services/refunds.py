"""Refunds: requested by operations or triggered by other apps, submitted to the provider after
commit, settled once by the provider's reply, its callback or a query.

The amount is reserved in the ledger (`refund_requested`) under the order's row lock when the
refund is requested, so the sum of requested and settled refunds can never pass what was paid,
however many requests race; a check constraint on the order holds the same line.
"""

import datetime
import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Role
from consultations.models import Consultation
from core import outbox
from core.actors import SYSTEM_ACTOR, Actor
from core.exceptions import ConflictError, DomainError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from notifications.services import notify
from payments.models import (
    PAYABLE_STATUSES,
    UNSETTLED_REFUND_STATUSES,
    AttemptStatus,
    AttentionReason,
    InboundCallback,
    LedgerKind,
    LedgerSource,
    OrderLineKind,
    PaymentAttempt,
    PaymentOrder,
    Refund,
    RefundStatus,
    RefundTrigger,
)
from payments.providers.base import (
    REFUND_NOT_FOUND,
    GatewayError,
    GatewayRejected,
    RefundResult,
)
from payments.services.gateways import gateway_for, notify_url
from payments.services.ledger import ledger_append, ledger_sync_order, refund_settled_key
from payments.services.state import (
    attempt_refundable_fen,
    order_flag_attention,
    order_follow_refunds,
    order_lock,
    refund_reserve,
)
from prescriptions.models import Prescription

logger = logging.getLogger(__name__)

AUDIT_OBJECT_TYPE = "payment_order"


def _available_fen(order: PaymentOrder) -> int:
    return order.paid_fen - order.refunded_fen - order.refund_pending_fen


def _accepted_attempt(order: PaymentOrder) -> PaymentAttempt | None:
    """The provider payment that paid the order (not a late or duplicate one)."""
    return order.attempts.filter(status=AttemptStatus.PAID, ledger__kind=LedgerKind.PAID).first()


# --- Operations ----------------------------------------------------------------------------------


def order_refund(
    *,
    actor: Actor,
    order: PaymentOrder,
    amount_fen: int,
    reason: str,
    now: datetime.datetime | None = None,
) -> Refund:
    """Operations refund part or all of what remains paid."""
    now = now or timezone.now()
    if not actor.has_role(Role.OPERATIONS):
        raise PermissionDeniedError("Only operations refund.")
    reason = reason.strip()
    if not reason:
        raise DomainError(
            "Give the reason for the refund.",
            code="refund_reason_required",
            fields={"reason": ["Required."]},
        )
    if amount_fen <= 0:
        raise DomainError(
            "The refund must be at least 1 fen.",
            code="refund_amount_invalid",
            fields={"amount_fen": ["Must be positive."]},
        )
    with transaction.atomic(durable=True):
        locked = order_lock(order.pk)
        paid_attempts = list(locked.attempts.filter(status=AttemptStatus.PAID).order_by("pk"))
        if locked.paid_fen == 0 or not paid_attempts:
            raise ConflictError(
                "Nothing was paid on this order through a provider.",
                code="order_not_paid",
                extra={"status": locked.status},
            )
        # The provider payment that can take the whole refund (refund_reserve refuses more than
        # what remains, on the order and on that payment).
        source = max(paid_attempts, key=attempt_refundable_fen)
        refund = refund_reserve(
            locked,
            attempt=source,
            amount_fen=amount_fen,
            trigger=RefundTrigger.OPERATIONS,
            trigger_key=f"operations:{uuid.uuid4().hex}",
            reason=reason,
            actor=actor,
            now=now,
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"refund": refund.out_refund_no, "amount_fen": amount_fen},
        )
    return refund


# --- Triggers from other apps --------------------------------------------------------------------
# Each may run inside the caller's transaction or on its own: no provider call here (refunds are
# submitted and unpaid orders closed by tasks after commit), and the same cause refunds once.


def _close_after_commit(order: PaymentOrder) -> None:
    """Unpaid: close it (at the provider too) once the cause is committed; the expiry sweep
    closes it as well if the task is lost."""
    from payments.tasks import order_close_task

    outbox.enqueue_after_commit(order_close_task, [order.pk], queue=settings.PAYMENTS_QUEUE)


def _fee_share_fen(order: PaymentOrder) -> int:
    """The self-paid part of the consultation fee (kept when only the medicine is refunded)."""
    fee = sum(
        order.lines.filter(kind=OrderLineKind.CONSULTATION_FEE).values_list("amount_fen", flat=True)
    )
    if fee == 0 or order.total_fen == 0:
        return 0
    return fee * order.payable_fen // order.total_fen


def _refund_remaining(
    order: PaymentOrder,
    *,
    trigger: RefundTrigger,
    reason: str,
    keep_fee: bool,
    now: datetime.datetime,
) -> Refund | None:
    """Refund what remains of the order's accepted payment (less the fee when kept)."""
    locked = order_lock(order.pk)
    if locked.status in PAYABLE_STATUSES:
        _close_after_commit(locked)
        return None
    accepted = _accepted_attempt(locked)
    if accepted is None:
        return None
    existing = Refund.objects.filter(order=locked, trigger_key=trigger).first()
    if existing is not None:
        return existing
    amount = min(attempt_refundable_fen(accepted), _available_fen(locked))
    if keep_fee:
        amount -= _fee_share_fen(locked)
    if amount <= 0:
        return None
    return refund_reserve(
        locked,
        attempt=accepted,
        amount_fen=amount,
        trigger=trigger,
        trigger_key=trigger,
        reason=reason,
        actor=SYSTEM_ACTOR,
        now=now,
    )


def refund_for_terminated_consultation(
    *, consultation: Consultation, now: datetime.datetime | None = None
) -> list[Refund]:
    """The doctor terminated the consultation: every fee and payment of it goes back, and its
    unpaid orders close."""
    now = now or timezone.now()
    refunds = []
    with transaction.atomic():
        for order in PaymentOrder.objects.filter(consultation=consultation).order_by("pk"):
            refund = _refund_remaining(
                order,
                trigger=RefundTrigger.CONSULTATION_TERMINATED,
                reason="问诊终止，全额退款",
                keep_fee=False,
                now=now,
            )
            if refund is not None:
                refunds.append(refund)
    return refunds


def refund_for_rejected_prescription(
    *, prescription: Prescription, now: datetime.datetime | None = None
) -> list[Refund]:
    """A paid prescription was rejected or revoked: the medicine and delivery go back; the
    consultation fee stays (the consultation took place). Unpaid orders of it close."""
    now = now or timezone.now()
    refunds = []
    with transaction.atomic():
        for order in PaymentOrder.objects.filter(prescription=prescription).order_by("pk"):
            refund = _refund_remaining(
                order,
                trigger=RefundTrigger.PRESCRIPTION_WITHDRAWN,
                reason="处方未通过或已撤销，退还药费",
                keep_fee=True,
                now=now,
            )
            if refund is not None:
                refunds.append(refund)
    return refunds


def refund_for_failed_delivery(
    *, order: PaymentOrder, reason: str = "", now: datetime.datetime | None = None
) -> Refund | None:
    """The parcel could not be delivered and came back: medicine and delivery fee go back."""
    now = now or timezone.now()
    with transaction.atomic():
        return _refund_remaining(
            order,
            trigger=RefundTrigger.DELIVERY_FAILED,
            reason=(reason.strip() or "配送失败，退还药费及配送费")[:200],
            keep_fee=True,
            now=now,
        )


# --- Settling ------------------------------------------------------------------------------------


def refund_settle_locked(
    order: PaymentOrder,
    refund: Refund,
    *,
    succeeded: bool,
    source: str,
    now: datetime.datetime,
    provider_refund_id: str = "",
    error: str = "",
    occurred_at: datetime.datetime | None = None,
    callback: InboundCallback | None = None,
) -> bool:
    """Settle the refund of the locked order once; False if it was already settled."""
    if refund.status not in UNSETTLED_REFUND_STATUSES:
        return False
    refund.status = RefundStatus.SUCCEEDED if succeeded else RefundStatus.FAILED
    refund.settled_at = now
    refund.provider_refund_id = provider_refund_id or refund.provider_refund_id
    refund.provider_error = error[:300]
    refund.save(update_fields=["status", "settled_at", "provider_refund_id", "provider_error"])
    ledger_append(
        order=order,
        kind=LedgerKind.REFUND_SUCCEEDED if succeeded else LedgerKind.REFUND_FAILED,
        amount_fen=refund.amount_fen,
        dedupe_key=refund_settled_key(refund),
        source=source,
        occurred_at=occurred_at or now,
        attempt=refund.attempt,
        refund=refund,
        callback=callback,
        detail={"provider_refund_id": refund.provider_refund_id, "error": error[:300]},
    )
    ledger_sync_order(order)
    if succeeded:
        notify(
            event="refund_issued",
            recipient=order.patient,
            objects={"refund": refund.pk},
            dedupe_key=f"refund:{refund.pk}:issued",
            now=now,
        )
    else:
        order_flag_attention(
            order, reason=AttentionReason.REFUND_FAILED, reference=refund.out_refund_no, now=now
        )
    order_follow_refunds(order, actor=SYSTEM_ACTOR, now=now)
    return True


def _settle(refund_id: int, result: RefundResult | None, *, error: str = "") -> Refund:
    """Record what the provider answered to a submission or a query."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        order_id = Refund.objects.values_list("order_id", flat=True).get(pk=refund_id)
        order = order_lock(order_id)
        refund = Refund.objects.select_related("attempt").get(pk=refund_id)
        if result is None or result.status == "failed":
            refund_settle_locked(
                order,
                refund,
                succeeded=False,
                source=LedgerSource.PROVIDER_REPLY,
                now=now,
                error=error or "refused by the provider",
            )
        elif result.status == "succeeded":
            refund_settle_locked(
                order,
                refund,
                succeeded=True,
                source=LedgerSource.PROVIDER_REPLY,
                now=now,
                provider_refund_id=result.refund_id,
            )
        elif refund.status == RefundStatus.REQUESTED:
            refund.status = RefundStatus.PROCESSING
            refund.provider_refund_id = result.refund_id
            refund.save(update_fields=["status", "provider_refund_id"])
    return refund


def refund_submit(*, refund_id: int, now: datetime.datetime | None = None) -> Refund:
    """Ask the provider to refund (idempotent there per out_refund_no, so a repeat is harmless).
    GatewayError propagates: the task retries."""
    now = now or timezone.now()
    refund = Refund.objects.select_related("attempt").get(pk=refund_id)
    if refund.status not in UNSETTLED_REFUND_STATUSES:
        return refund
    Refund.objects.filter(pk=refund_id).update(submissions=F("submissions") + 1, submitted_at=now)
    attempt = refund.attempt
    try:
        result = gateway_for(attempt.provider).refund(
            out_trade_no=attempt.out_trade_no,
            out_refund_no=refund.out_refund_no,
            refund_fen=refund.amount_fen,
            total_fen=attempt.amount_fen,
            reason=refund.reason,
            notify_url=notify_url(attempt.provider),
        )
    except GatewayRejected as error:
        return _settle(refund_id, None, error=f"{error.provider_code}: {error}")
    return _settle(refund_id, result)


def _query_refund(refund: Refund, *, now: datetime.datetime) -> Refund:
    try:
        answer = gateway_for(refund.attempt.provider).query_refund(
            out_trade_no=refund.attempt.out_trade_no, out_refund_no=refund.out_refund_no
        )
    except GatewayRejected as error:
        if error.provider_code != REFUND_NOT_FOUND:
            raise
        # The submission never reached the provider: submit it (idempotent there).
        return refund_submit(refund_id=refund.pk, now=now)
    return _settle(refund.pk, answer)


def refunds_query_unsettled(*, now: datetime.datetime | None = None, limit: int = 200) -> int:
    """Resubmit refunds never submitted (broker down) and ask the provider about refunds still
    processing; returns how many settled. Unreachable providers are tried on the next run."""
    now = now or timezone.now()
    quiet = now - datetime.timedelta(seconds=settings.PAYMENT_QUERY_AFTER_SECONDS)
    asked_before = now - datetime.timedelta(seconds=settings.PAYMENT_QUERY_INTERVAL_SECONDS)
    due = list(
        Refund.objects.filter(status__in=UNSETTLED_REFUND_STATUSES, created_at__lte=quiet)
        .filter(Q(last_queried_at__isnull=True) | Q(last_queried_at__lte=asked_before))
        .select_related("attempt")
        .order_by("created_at")[:limit]
    )
    settled = 0
    for refund in due:
        Refund.objects.filter(pk=refund.pk).update(last_queried_at=now)
        try:
            if refund.status == RefundStatus.REQUESTED:
                result = refund_submit(refund_id=refund.pk, now=now)
            else:
                result = _query_refund(refund, now=now)
        except (GatewayError, GatewayRejected) as error:
            logger.warning("refund %s: provider unreachable: %s", refund.out_refund_no, error)
            continue
        settled += result.status not in UNSETTLED_REFUND_STATUSES
    return settled
