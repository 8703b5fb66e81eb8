"""The fulfilment's status gate, and the start of a fulfilment when its order is paid."""

import datetime
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import outbox
from core.actors import SYSTEM_ACTOR, Actor
from core.exceptions import ConflictError
from core.models import AuditAction
from core.services import audit_record
from notifications.services import notify
from payments.models import FulfilmentMethod, OrderStatus, PaymentOrder
from pharmacy.models import (
    METHOD_STATUSES,
    TRANSITIONS,
    Fulfilment,
    FulfilmentEvent,
    FulfilmentStatus,
    TrackingEvent,
)
from pharmacy.pickup_codes import new_pickup_code

logger = logging.getLogger(__name__)

AUDIT_OBJECT_TYPE = "fulfilment"
# Draws of a fresh code before giving up; with 10^8 codes a second draw is already rare.
PICKUP_CODE_DRAWS = 10


def fulfilment_lock(pk: int) -> Fulfilment:
    return Fulfilment.objects.select_for_update().get(pk=pk)


def fulfilment_move(
    fulfilment: Fulfilment,
    to_status: str,
    *,
    actor: Actor,
    now: datetime.datetime,
    changes: dict[str, object] | None = None,
    reason: str = "",
    tracking_event: TrackingEvent | None = None,
) -> None:
    """Move the locked fulfilment along the transitions table: write, event row, audit row."""
    allowed = TRANSITIONS[fulfilment.status] & METHOD_STATUSES[fulfilment.method]
    if to_status not in allowed:
        raise ConflictError(
            f"A {fulfilment.status} fulfilment cannot become {to_status}.",
            code="invalid_transition",
            extra={"status": fulfilment.status},
        )
    changes = changes or {}
    from_status = fulfilment.status
    fulfilment.status = to_status
    for field, value in changes.items():
        setattr(fulfilment, field, value)
    fulfilment.save(update_fields=["status", "updated_at", *changes])
    FulfilmentEvent.objects.create(
        fulfilment=fulfilment,
        from_status=from_status,
        to_status=to_status,
        actor=actor.user,
        actor_role=actor.role,
        terminal_id=actor.terminal_id,
        tracking_event=tracking_event,
        reason=reason[:300],
        occurred_at=now,
    )
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[fulfilment.public_id],
        detail={"status": [from_status, to_status]},
    )


def pickup_code_expiry(fulfilment: Fulfilment, now: datetime.datetime) -> datetime.datetime:
    """The code lives as long as the prescription may be dispensed, capped by the setting."""
    cap = now + datetime.timedelta(hours=settings.PHARMACY_PICKUP_CODE_LIFETIME_HOURS)
    valid_until = fulfilment.prescription.valid_until
    return min(valid_until, cap) if valid_until is not None else cap


def _make_ready_for_pickup(fulfilment: Fulfilment, *, now: datetime.datetime) -> None:
    """awaiting_payment → ready_for_pickup with a fresh code; a code another ready fulfilment
    holds fails the partial unique index, and another is drawn."""
    expires_at = pickup_code_expiry(fulfilment, now)
    for _ in range(PICKUP_CODE_DRAWS):
        try:
            with transaction.atomic():
                fulfilment_move(
                    fulfilment,
                    FulfilmentStatus.READY_FOR_PICKUP,
                    actor=SYSTEM_ACTOR,
                    now=now,
                    changes={
                        "pickup_code": new_pickup_code(),
                        "pickup_code_expires_at": expires_at,
                        "ready_at": now,
                    },
                )
        except IntegrityError:
            fulfilment.status = FulfilmentStatus.AWAITING_PAYMENT
            continue
        break
    else:
        raise RuntimeError("no free pickup code after repeated draws")
    notify(
        event="ready_for_pickup",
        recipient=fulfilment.patient,
        objects={"fulfilment": fulfilment.pk},
        dedupe_key=f"fulfilment:{fulfilment.pk}:ready_for_pickup",
        now=now,
    )


def fulfilment_start(
    *, order: PaymentOrder, now: datetime.datetime | None = None
) -> Fulfilment | None:
    """Start fulfilling a paid order; called by payments in the transaction that paid it (the
    order row locked).

    Pickup: the fulfilment is ready at once, with its code, and the patient is told. Delivery:
    the waybill is ordered from the courier after commit (`pharmacy.dispatch`; the sweep catches
    a lost task). An order without a prescription (a fee only) has nothing to fulfil. Running it
    again for the same order returns the fulfilment it made.
    """
    now = now or timezone.now()
    if order.status != OrderStatus.PAID:
        raise ConflictError(
            "Only a paid order is fulfilled.", code="order_not_paid", extra={"status": order.status}
        )
    if order.prescription_id is None:
        return None
    existing = Fulfilment.objects.filter(order=order).first()
    if existing is not None:
        return existing
    if not order.fulfilment_method:
        # payments refuses to take money before the choice; never fail the payment over it.
        logger.error("order %s was paid without a fulfilment method", order.number)
        return None
    delivery = order.fulfilment_method == FulfilmentMethod.DELIVERY
    fulfilment = Fulfilment.objects.create(
        order=order,
        prescription_id=order.prescription_id,
        patient_id=order.patient_id,
        method=order.fulfilment_method,
        # Pickup: where the patient chose; delivery: the consultation's facility follows it.
        facility_id=order.pickup_facility_id
        if not delivery and order.pickup_facility_id
        else order.consultation.facility_id,
        recipient_name=order.delivery_recipient if delivery else "",
        recipient_phone=order.delivery_phone if delivery else "",
        province=order.delivery_province if delivery else "",
        city=order.delivery_city if delivery else "",
        district=order.delivery_district if delivery else "",
        address_detail=order.delivery_detail if delivery else "",
        paid_at=order.paid_at or now,
    )
    FulfilmentEvent.objects.create(
        fulfilment=fulfilment,
        from_status="",
        to_status=FulfilmentStatus.AWAITING_PAYMENT,
        actor_role=SYSTEM_ACTOR.role,
        reason=f"order {order.number} paid",
        occurred_at=now,
    )
    audit_record(
        actor=SYSTEM_ACTOR,
        action=AuditAction.CREATE,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[fulfilment.public_id],
        detail={"method": fulfilment.method, "order": order.number},
    )
    if delivery:
        from pharmacy.tasks import dispatch_task

        outbox.enqueue_after_commit(
            dispatch_task, [fulfilment.pk], queue=settings.CELERY_TASK_DEFAULT_QUEUE
        )
    else:
        _make_ready_for_pickup(fulfilment, now=now)
    return fulfilment
