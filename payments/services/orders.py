"""Payment orders: created when the pharmacist approves a prescription, finalised when the patient
chooses pickup or delivery, paid through a provider order, closed when unpaid in time.

Provider calls (create, query, close) are made outside transactions: a short transaction
prepares the row, the network call runs, another short transaction records what it answered.
"""

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from accounts.models import Role
from consultations.models import Consultation, ConsultationStatus
from core import outbox
from core.actors import SYSTEM_ACTOR, Actor
from core.exceptions import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from notifications.services import notify
from patients.identity import normalize_phone
from patients.models import Patient
from payments.models import (
    LIVE_ATTEMPT_STATUSES,
    PAYABLE_STATUSES,
    PROVIDER_CHANNELS,
    UNPAYABLE_FINAL_STATUSES,
    AttemptStatus,
    FulfilmentMethod,
    LedgerKind,
    LedgerSource,
    OrderLine,
    OrderLineKind,
    OrderNumberCounter,
    OrderStatus,
    PayChannel,
    PaymentAttempt,
    PaymentOrder,
)
from payments.providers.base import GatewayError, GatewayRejected
from payments.services.gateways import gateway_for, notify_url
from payments.services.insurance import NO_SPLIT, insurance_release, insurance_reserve
from payments.services.ledger import ledger_append
from payments.services.receipts import (
    PAID,
    order_after_paid,
    order_ended_by_provider,
    payment_record_from_query,
)
from payments.services.state import order_lock, order_move
from prescriptions.models import Prescription, PrescriptionStatus

logger = logging.getLogger(__name__)

AUDIT_OBJECT_TYPE = "payment_order"
# Provider query statuses that mean the money arrived (a refund at the provider came later).
QUERY_PAID_STATUSES = frozenset({"paid", "refunded"})


# --- Checks --------------------------------------------------------------------------------------


def require_order_patient(actor: Actor, order: PaymentOrder) -> None:
    """Only the patient whose order it is chooses and pays; others who may see it get 403."""
    if not actor.has_role(Role.PATIENT) or actor.user_id is None:
        raise PermissionDeniedError("Only the patient pays their order.")
    if not Patient.objects.filter(pk=order.patient_id, user_id=actor.user_id).exists():
        raise NotFoundError("Order not found.")


def _require_prescription_payable(
    prescription: Prescription | None, now: datetime.datetime
) -> None:
    """Expired, revoked or unapproved prescriptions cannot be ordered or paid."""
    if prescription is None:
        return
    if prescription.status == PrescriptionStatus.REVOKED:
        raise ConflictError("The prescription was revoked.", code="prescription_revoked")
    if prescription.status == PrescriptionStatus.EXPIRED or (
        prescription.status == PrescriptionStatus.APPROVED
        and (prescription.valid_until is None or prescription.valid_until <= now)
    ):
        raise ConflictError("The prescription has expired.", code="prescription_expired")
    if prescription.status != PrescriptionStatus.APPROVED:
        raise ConflictError(
            "The prescription is not approved by a pharmacist.",
            code="prescription_not_approved",
            extra={"prescription_status": prescription.status},
        )


def _require_payable(order: PaymentOrder, now: datetime.datetime) -> None:
    if order.status in (OrderStatus.PAID, OrderStatus.REFUNDING, OrderStatus.REFUNDED):
        raise ConflictError("The order is already paid.", code="order_already_paid")
    if order.status in UNPAYABLE_FINAL_STATUSES:
        raise ConflictError("The order is closed.", code="order_closed")
    if order.expires_at <= now:
        raise ConflictError("The order has expired.", code="order_expired")
    _require_prescription_payable(order.prescription, now)


# --- Creation ------------------------------------------------------------------------------------


def _next_order_number(now: datetime.datetime) -> str:
    day = timezone.localdate(now)
    with transaction.atomic():
        counter, _ = OrderNumberCounter.objects.select_for_update().get_or_create(date=day)
        OrderNumberCounter.objects.filter(pk=counter.pk).update(last_value=F("last_value") + 1)
        counter.refresh_from_db(fields=["last_value"])
    return f"PO{day:%Y%m%d}{counter.last_value:06d}"


def _live_order_for(prescription: Prescription) -> PaymentOrder | None:
    return (
        PaymentOrder.objects.filter(prescription=prescription)
        .exclude(status__in=UNPAYABLE_FINAL_STATUSES)
        .first()
    )


def _fee_already_charged(consultation: Consultation) -> bool:
    return (
        PaymentOrder.objects.filter(consultation=consultation, carries_consultation_fee=True)
        .exclude(status__in=UNPAYABLE_FINAL_STATUSES)
        .exists()
    )


def _order_expiry(prescription: Prescription, now: datetime.datetime) -> datetime.datetime:
    timeout = now + datetime.timedelta(minutes=settings.PAYMENT_ORDER_TIMEOUT_MINUTES)
    assert prescription.valid_until is not None  # checked by _require_prescription_payable
    return min(timeout, prescription.valid_until)


def _build_order(
    prescription: Prescription, *, with_fee: bool, now: datetime.datetime
) -> PaymentOrder:
    consultation = prescription.consultation
    items = list(prescription.items.select_related("drug").order_by("position"))
    lines = [
        OrderLine(
            kind=OrderLineKind.DRUG,
            prescription_item=item,
            description=f"{item.drug.name_zh} {item.drug.strength}"[:200],
            quantity=item.quantity,
            unit_price_fen=item.unit_price_fen,
            amount_fen=item.quantity * item.unit_price_fen,
        )
        for item in items
    ]
    with_fee = with_fee and consultation.fee_fen > 0
    if with_fee:
        lines.insert(
            0,
            OrderLine(
                kind=OrderLineKind.CONSULTATION_FEE,
                description=f"诊查费 {consultation.department.name}"[:200],
                unit_price_fen=consultation.fee_fen,
                amount_fen=consultation.fee_fen,
            ),
        )
    total = sum(line.amount_fen for line in lines)
    order = PaymentOrder.objects.create(
        number=_next_order_number(now),
        patient_id=prescription.patient_id,
        consultation=consultation,
        prescription=prescription,
        carries_consultation_fee=with_fee,
        pickup_only=any(item.drug.cold_chain for item in items),
        total_fen=total,
        payable_fen=total,
        expires_at=_order_expiry(prescription, now),
    )
    for line in lines:
        line.order = order
    OrderLine.objects.bulk_create(lines)
    return order


def order_create_for_prescription(
    *, prescription: Prescription, now: datetime.datetime | None = None
) -> PaymentOrder:
    """The order for an approved prescription version, and the patient's payment link.

    Called inside the approval's transaction (so not durable). Idempotent: the live order of
    the prescription is returned if there is one (a unique constraint allows one). The first
    order of a consultation carries its fee; a revised prescription's order does not.
    """
    now = now or timezone.now()
    _require_prescription_payable(prescription, now)
    existing = _live_order_for(prescription)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            order = _build_order(
                prescription,
                with_fee=not _fee_already_charged(prescription.consultation),
                now=now,
            )
    except IntegrityError:
        # A concurrent approval of this version, or of another version of the consultation
        # that took the fee first: whichever constraint held, look again.
        existing = _live_order_for(prescription)
        if existing is not None:
            return existing
        with transaction.atomic():
            order = _build_order(prescription, with_fee=False, now=now)
    notify(
        event="payment_link",
        recipient=order.patient,
        objects={"order": order.pk},
        dedupe_key=f"order:{order.pk}:payment_link",
        now=now,
    )
    return order


# --- Fulfilment choice ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryAddress:
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str


_ADDRESS_LIMITS = {
    "recipient": 100,
    "province": 32,
    "city": 32,
    "district": 32,
    "detail": 200,
}


def _clean_address(address: DeliveryAddress | None) -> DeliveryAddress:
    if address is None:
        raise DomainError(
            "Delivery needs an address.",
            code="delivery_address_required",
            fields={"delivery_address": ["Required for delivery."]},
        )
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for name, limit in _ADDRESS_LIMITS.items():
        value = getattr(address, name).strip()
        if not value:
            errors[name] = ["Required."]
        elif len(value) > limit:
            errors[name] = [f"At most {limit} characters."]
        values[name] = value
    try:
        values["phone"] = normalize_phone(address.phone, field="phone")
    except DomainError as error:
        errors.update(error.fields)
    if errors:
        raise DomainError(
            "The delivery address is incomplete.", code="delivery_address_invalid", fields=errors
        )
    return DeliveryAddress(**values)


def _set_delivery_fee_line(order: PaymentOrder, *, charge: bool) -> None:
    order.lines.filter(kind=OrderLineKind.DELIVERY_FEE).delete()
    fee = settings.PAYMENT_DELIVERY_FEE_FEN
    if charge and fee > 0:
        OrderLine.objects.create(
            order=order,
            kind=OrderLineKind.DELIVERY_FEE,
            description="配送费",
            unit_price_fen=fee,
            amount_fen=fee,
        )


def order_choose_fulfilment(
    *,
    actor: Actor,
    order: PaymentOrder,
    method: str,
    delivery_address: DeliveryAddress | None = None,
    use_insurance: bool = True,
    now: datetime.datetime | None = None,
) -> PaymentOrder:
    """The patient chooses pickup at the consultation's facility or home delivery (delivery fee)
    before paying; cold-chain drugs are pickup only. Redoes the insurance split."""
    now = now or timezone.now()
    require_order_patient(actor, order)
    if method not in FulfilmentMethod.values:
        raise DomainError(
            "Choose pickup or delivery.",
            code="fulfilment_method_invalid",
            fields={"method": [f"One of {', '.join(FulfilmentMethod.values)}."]},
        )
    address = _clean_address(delivery_address) if method == FulfilmentMethod.DELIVERY else None
    with transaction.atomic(durable=True):
        locked = order_lock(order.pk)
        if locked.status == OrderStatus.PENDING:
            raise ConflictError(
                "Payment has started; the choice can no longer change.",
                code="order_not_editable",
            )
        _require_payable(locked, now)
        if address is not None and locked.pickup_only:
            raise ConflictError(
                "A cold-chain medicine is in the order: pickup only.",
                code="cold_chain_pickup_only",
            )
        locked.fulfilment_method = method
        locked.fulfilment_chosen_at = now
        locked.pickup_facility_id = locked.consultation.facility_id if address is None else None
        for name in ("recipient", "phone", "province", "city", "district", "detail"):
            setattr(locked, f"delivery_{name}", getattr(address, name) if address else "")
        _set_delivery_fee_line(locked, charge=address is not None)
        locked.total_fen = locked.lines.aggregate(total=Sum("amount_fen"))["total"] or 0
        insurance_release(order=locked, now=now)
        split = insurance_reserve(order=locked) if use_insurance else NO_SPLIT
        locked.insurance_fund_fen = split.fund_fen
        locked.insurance_personal_fen = split.personal_account_fen
        locked.payable_fen = locked.total_fen - split.fund_fen - split.personal_account_fen
        locked.save()
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"fulfilment": method, "payable_fen": locked.payable_fen},
        )
    return locked


# --- Paying --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentStart:
    order: PaymentOrder
    # None when nothing is left for a provider to take (insurance covered the whole order).
    attempt: PaymentAttempt | None


def _check_channel(provider: str, channel: str, payer_openid: str) -> None:
    if channel not in PROVIDER_CHANNELS.get(provider, frozenset()):
        raise DomainError(
            "This provider does not offer this channel.",
            code="pay_channel_invalid",
            fields={"channel": [f"{provider}: {sorted(PROVIDER_CHANNELS.get(provider, []))}"]},
        )
    if channel == PayChannel.JSAPI and not payer_openid:
        raise DomainError(
            "Paying inside WeChat needs the payer's openid.",
            code="payer_openid_required",
            fields={"payer_openid": ["Required for jsapi."]},
        )


def _pay_without_provider(order: PaymentOrder, *, actor: Actor, now: datetime.datetime) -> None:
    """Insurance covered everything: the order is paid without a provider order."""
    ledger_append(
        order=order,
        kind=LedgerKind.PAID,
        amount_fen=0,
        dedupe_key=f"receipt:insurance:{order.number}",
        source=LedgerSource.SERVICE,
        occurred_at=now,
        actor=actor,
        detail={"insurance_fund_fen": order.insurance_fund_fen},
    )
    order.paid_at = now
    order_move(order, OrderStatus.PAID, actor=actor, now=now, reason="covered by insurance")
    order_after_paid(order, now=now)


def _start_attempt(
    order: PaymentOrder, *, provider: str, channel: str
) -> tuple[PaymentAttempt, bool]:
    """The live provider order for this channel, or a new one; True when it is already open."""
    attempt = order.attempts.filter(
        provider=provider, channel=channel, status__in=LIVE_ATTEMPT_STATUSES
    ).first()
    if attempt is not None:
        if attempt.amount_fen == order.payable_fen:
            return attempt, attempt.status == AttemptStatus.OPEN
        # Left over from before the patient changed their choice (its creation failed): it
        # must not be paid any more, at the provider either.
        attempt.status = AttemptStatus.CLOSED
        attempt.closed_at = timezone.now()
        attempt.save(update_fields=["status", "closed_at"])
        _close_attempts_after_commit([attempt.pk])
    sequence = order.attempts.count() + 1
    attempt = PaymentAttempt.objects.create(
        order=order,
        provider=provider,
        channel=channel,
        out_trade_no=f"{order.number}-{sequence}",
        amount_fen=order.payable_fen,
        expires_at=order.expires_at,
    )
    return attempt, False


def order_pay(
    *,
    actor: Actor,
    order: PaymentOrder,
    provider: str,
    channel: str,
    payer_openid: str = "",
    now: datetime.datetime | None = None,
) -> PaymentStart:
    """Issue (or reuse) the provider order for the self-pay amount and return what the payer
    opens. Asking again for the same channel returns the same provider order."""
    now = now or timezone.now()
    require_order_patient(actor, order)
    _check_channel(provider, channel, payer_openid)
    with transaction.atomic(durable=True):
        locked = order_lock(order.pk)
        _require_payable(locked, now)
        if not locked.fulfilment_method:
            raise ConflictError("Choose pickup or delivery first.", code="fulfilment_required")
        if locked.payable_fen == 0:
            _pay_without_provider(locked, actor=actor, now=now)
            return PaymentStart(order=locked, attempt=None)
        attempt, already_open = _start_attempt(locked, provider=provider, channel=channel)
        if already_open:
            return PaymentStart(order=locked, attempt=attempt)

    gateway = gateway_for(provider)
    try:
        created = gateway.create_payment(
            out_trade_no=attempt.out_trade_no,
            amount_fen=attempt.amount_fen,
            description=f"{settings.NOTIFICATION_HOSPITAL_NAME} {locked.number}",
            channel=channel,  # type: ignore[arg-type]
            notify_url=notify_url(provider),
            expires_at=attempt.expires_at,
            payer_openid=payer_openid,
        )
    except GatewayRejected as error:
        PaymentAttempt.objects.filter(pk=attempt.pk, status=AttemptStatus.CREATING).update(
            status=AttemptStatus.FAILED, provider_error=str(error)[:300]
        )
        raise ConflictError(
            "The payment provider refused the order.",
            code="provider_rejected",
            extra={"provider_code": error.provider_code},
        ) from error
    except GatewayError as error:
        # The attempt stays "creating": the next request re-sends the same out_trade_no, which
        # the provider treats as the same order.
        logger.warning("create_payment %s failed: %s", attempt.out_trade_no, error)
        raise DomainError(
            "The payment provider cannot be reached; try again.",
            code="provider_unavailable",
            status_code=503,
        ) from error

    with transaction.atomic(durable=True):
        locked = order_lock(order.pk)
        attempt = PaymentAttempt.objects.get(pk=attempt.pk)
        if attempt.status == AttemptStatus.CREATING:
            attempt.status = AttemptStatus.OPEN
            attempt.pay_url = created.pay_url
            attempt.issued_at = now
            attempt.save(update_fields=["status", "pay_url", "issued_at"])
            ledger_append(
                order=locked,
                kind=LedgerKind.PAYMENT_REQUESTED,
                amount_fen=attempt.amount_fen,
                dedupe_key=f"payment_requested:{attempt.out_trade_no}",
                source=LedgerSource.PROVIDER_REPLY,
                occurred_at=now,
                attempt=attempt,
                actor=actor,
                detail={"channel": channel},
            )
        stale = attempt.status != AttemptStatus.OPEN or locked.status not in PAYABLE_STATUSES
        if stale:
            # The order closed (or the attempt was closed) while the provider created it.
            _close_attempts_after_commit([attempt.pk])
        elif locked.status == OrderStatus.CREATED:
            order_move(
                locked, OrderStatus.PENDING, actor=actor, now=now, reason=f"{provider} {channel}"
            )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"pay": attempt.out_trade_no, "provider": provider},
        )
    if stale:
        raise ConflictError("The order is closed.", code="order_closed")
    return PaymentStart(order=locked, attempt=attempt)


# --- Closing -------------------------------------------------------------------------------------


def _close_attempts_after_commit(attempt_ids: list[int]) -> None:
    from payments.tasks import attempt_close_task

    outbox.enqueue_after_commit(attempt_close_task, attempt_ids, queue=settings.PAYMENTS_QUEUE)


def _close_at_provider(attempt: PaymentAttempt) -> bool:
    """Query, then close the provider order; True if it turned out to be paid (and the payment
    was applied). GatewayError propagates: the caller tries again later."""
    gateway = gateway_for(attempt.provider)
    result = gateway.query_payment(out_trade_no=attempt.out_trade_no)
    if result.status in QUERY_PAID_STATUSES:
        payment_record_from_query(attempt_id=attempt.pk, result=result)
        return True
    if result.status == "pending":
        try:
            gateway.close_payment(out_trade_no=attempt.out_trade_no)
        except GatewayRejected:
            # Typically "already paid": the payer finished between the query and the close.
            result = gateway.query_payment(out_trade_no=attempt.out_trade_no)
            if result.status in QUERY_PAID_STATUSES:
                payment_record_from_query(attempt_id=attempt.pk, result=result)
                return True
            raise
    return False


def order_close(
    *,
    order: PaymentOrder,
    reason: str,
    actor: Actor = SYSTEM_ACTOR,
    now: datetime.datetime | None = None,
) -> PaymentOrder:
    """Close an unpaid order: its provider orders first (a payment found on the way pays the
    order instead), then the order itself; the insurance reservation goes back."""
    now = now or timezone.now()
    closed_at_provider: set[int] = set()
    for attempt in order.attempts.filter(status__in=LIVE_ATTEMPT_STATUSES):
        if _close_at_provider(attempt):
            return PaymentOrder.objects.get(pk=order.pk)
        closed_at_provider.add(attempt.pk)
    with transaction.atomic(durable=True):
        locked = order_lock(order.pk)
        if locked.status not in PAYABLE_STATUSES:
            return locked
        live = list(locked.attempts.filter(status__in=LIVE_ATTEMPT_STATUSES))
        for attempt in live:
            attempt.status = AttemptStatus.CLOSED
            attempt.closed_at = now
            attempt.save(update_fields=["status", "closed_at"])
        ledger_append(
            order=locked,
            kind=LedgerKind.CLOSED,
            amount_fen=0,
            dedupe_key=f"closed:{locked.number}",
            source=LedgerSource.SERVICE,
            occurred_at=now,
            actor=actor,
            detail={"reason": reason},
        )
        insurance_release(order=locked, now=now)
        locked.closed_at = now
        locked.close_reason = reason[:64]
        order_move(locked, OrderStatus.CLOSED, actor=actor, now=now, reason=reason)
        # Provider orders issued after the first pass (a pay racing the close) are closed too.
        stray = [attempt.pk for attempt in live if attempt.pk not in closed_at_provider]
        if stray:
            _close_attempts_after_commit(stray)
    return locked


def attempt_close(*, attempt_id: int, now: datetime.datetime | None = None) -> None:
    """Close one provider order (another one paid the order, or it was issued after the order
    closed). Safe to repeat; a payment found on the way is applied (refunded if late)."""
    now = now or timezone.now()
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    if attempt.status in (AttemptStatus.PAID, AttemptStatus.FAILED):
        return
    if _close_at_provider(attempt):
        return
    with transaction.atomic(durable=True):
        order_lock(attempt.order_id)
        PaymentAttempt.objects.filter(pk=attempt_id, status__in=LIVE_ATTEMPT_STATUSES).update(
            status=AttemptStatus.CLOSED, closed_at=now
        )


def order_close_reason(order: PaymentOrder) -> str:
    """Why an unpaid order is being closed, from the state of what it is for."""
    if order.consultation.status == ConsultationStatus.TERMINATED:
        return "consultation_terminated"
    prescription = order.prescription
    if prescription is not None and prescription.status != PrescriptionStatus.APPROVED:
        return f"prescription_{prescription.status}"
    return "timeout"


def orders_close_expired(*, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Close unpaid orders past their time, or whose prescription or consultation ended.

    An order whose provider cannot be reached stays as it is until the next run."""
    now = now or timezone.now()
    due = list(
        PaymentOrder.objects.filter(status__in=PAYABLE_STATUSES)
        .filter(
            Q(expires_at__lte=now)
            | (Q(prescription__isnull=False) & ~Q(prescription__status=PrescriptionStatus.APPROVED))
            | Q(consultation__status=ConsultationStatus.TERMINATED)
        )
        .select_related("prescription", "consultation")
        .order_by("expires_at")[:limit]
    )
    closed = 0
    for order in due:
        try:
            result = order_close(order=order, reason=order_close_reason(order), now=now)
        except (GatewayError, GatewayRejected) as error:
            logger.warning(
                "order %s: provider close failed, retried later: %s", order.number, error
            )
            continue
        closed += result.status == OrderStatus.CLOSED
    return closed


# --- Lost callbacks ------------------------------------------------------------------------------


def payments_query_unconfirmed(*, now: datetime.datetime | None = None, limit: int = 200) -> int:
    """Ask the provider about open provider orders that have had no callback for a while.

    Returns how many were found paid. An attempt is asked at most once per
    PAYMENT_QUERY_INTERVAL_SECONDS; unreachable providers are tried on the next run."""
    now = now or timezone.now()
    quiet = now - datetime.timedelta(seconds=settings.PAYMENT_QUERY_AFTER_SECONDS)
    asked_before = now - datetime.timedelta(seconds=settings.PAYMENT_QUERY_INTERVAL_SECONDS)
    attempts = list(
        PaymentAttempt.objects.filter(status=AttemptStatus.OPEN, issued_at__lte=quiet)
        .filter(Q(last_queried_at__isnull=True) | Q(last_queried_at__lte=asked_before))
        .order_by("issued_at")[:limit]
    )
    found = 0
    for attempt in attempts:
        try:
            result = gateway_for(attempt.provider).query_payment(out_trade_no=attempt.out_trade_no)
        except GatewayError as error:
            logger.warning("query %s failed, retried later: %s", attempt.out_trade_no, error)
            continue
        PaymentAttempt.objects.filter(pk=attempt.pk).update(last_queried_at=now)
        if result.status in QUERY_PAID_STATUSES:
            found += (
                payment_record_from_query(attempt_id=attempt.pk, result=result, now=now) == PAID
            )
        elif result.status == "closed":
            order_ended_by_provider(attempt_id=attempt.pk, now=now)
    return found
