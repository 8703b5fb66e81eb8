"""Home delivery: the parcel is dispatched with a courier waybill (the medicine is dispensed by
the hospital pharmacy then), a failed delivery is tried again with a new waybill or returned, and
a returned parcel refunds the order through payments."""

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from core.actors import SYSTEM_ACTOR, Actor
from core.exceptions import ConflictError, DomainError, PermissionDeniedError
from notifications.services import notify
from payments.models import FulfilmentMethod, OrderStatus, PaymentOrder
from payments.services import refund_for_failed_delivery
from pharmacy.couriers import Courier, courier_client
from pharmacy.couriers.base import Address, CourierRefused, CourierUnavailable, WaybillRequest
from pharmacy.models import Fulfilment, FulfilmentStatus, Waybill
from pharmacy.services.dispensing import dispense_record, lock_for_dispense, require_dispensable
from pharmacy.services.fulfilments import fulfilment_lock, fulfilment_move

logger = logging.getLogger(__name__)

# What the label says is inside: never a drug name or a diagnosis.
PARCEL_DESCRIPTION = "药品 medicine"


def courier_notify_url() -> str:
    return f"{settings.SITE_URL}{reverse('fulfilment-courier-notify')}"


def _sender() -> Address:
    return Address(
        name=settings.PHARMACY_SENDER_NAME,
        phone=settings.PHARMACY_SENDER_PHONE,
        province=settings.PHARMACY_SENDER_PROVINCE,
        city=settings.PHARMACY_SENDER_CITY,
        district=settings.PHARMACY_SENDER_DISTRICT,
        detail=settings.PHARMACY_SENDER_DETAIL,
    )


def _recipient(fulfilment: Fulfilment) -> Address:
    return Address(
        name=fulfilment.recipient_name,
        phone=fulfilment.recipient_phone,
        province=fulfilment.province,
        city=fulfilment.city,
        district=fulfilment.district,
        detail=fulfilment.address_detail,
    )


def _require_order_paid(order: PaymentOrder) -> None:
    if order.status != OrderStatus.PAID:
        raise ConflictError(
            "The order is not paid.", code="order_not_paid", extra={"status": order.status}
        )


def _cancel_quietly(courier: Courier, waybill_number: str, reason: str) -> None:
    """Withdraw a waybill the platform will not use; a failure is logged (the courier's own
    timeout drops an order nobody hands a parcel to)."""
    try:
        courier.cancel_waybill(waybill_number=waybill_number, reason=reason)
    except (CourierUnavailable, CourierRefused) as error:
        logger.warning("could not cancel waybill %s: %s", waybill_number, error)


def _dispatch(
    *,
    fulfilment: Fulfilment,
    from_status: str,
    actor: Actor,
    courier: Courier,
    now: datetime.datetime,
) -> Fulfilment:
    """Order a waybill (outside any transaction), then record it and move to dispatched.

    The reference names the fulfilment and the attempt, and the courier answers a repeated
    reference with the same waybill: two runs of the same dispatch record one waybill, and a
    waybill ordered for an attempt that lost the race is cancelled.
    """
    if fulfilment.method != FulfilmentMethod.DELIVERY or fulfilment.status != from_status:
        raise ConflictError(
            "This delivery cannot be dispatched now.",
            code="invalid_transition",
            extra={"status": fulfilment.status},
        )
    _require_order_paid(PaymentOrder.objects.get(pk=fulfilment.order_id))
    attempt = fulfilment.delivery_attempts + 1
    reference = f"{fulfilment.public_id.hex}-{attempt}"
    created = courier.create_waybill(
        WaybillRequest(
            reference=reference,
            sender=_sender(),
            recipient=_recipient(fulfilment),
            description=PARCEL_DESCRIPTION,
            notify_url=courier_notify_url(),
        )
    )
    first = from_status == FulfilmentStatus.AWAITING_PAYMENT
    try:
        with transaction.atomic(durable=True):
            if first:
                locked = lock_for_dispense(fulfilment)
                current = locked.fulfilment
                order = locked.order
            else:
                order = PaymentOrder.objects.select_for_update().get(pk=fulfilment.order_id)
                current = fulfilment_lock(fulfilment.pk)
            if Waybill.objects.filter(reference=reference).exists():
                return current  # a twin run of this dispatch recorded it
            if current.status != from_status or current.delivery_attempts != attempt - 1:
                raise ConflictError(
                    "The delivery changed meanwhile.",
                    code="invalid_transition",
                    extra={"status": current.status},
                )
            _require_order_paid(order)
            if first:
                require_dispensable(locked, now=now)
                # The hospital pharmacy packs the parcel: its stock is not a facility's shelf.
                dispense_record(locked, actor=actor, facility_id=None, now=now)
            waybill = Waybill.objects.create(
                fulfilment=current,
                courier=courier.code,
                attempt=attempt,
                reference=reference,
                waybill_number=created.waybill_number,
                created_at=now,
            )
            fulfilment_move(
                current,
                FulfilmentStatus.DISPATCHED,
                actor=actor,
                now=now,
                changes={"dispatched_at": now, "delivery_attempts": attempt, "failure_reason": ""},
                reason=f"{courier.name} {waybill.waybill_number}",
            )
            notify(
                event="dispatched",
                recipient=current.patient,
                objects={"fulfilment": current.pk},
                dedupe_key=f"waybill:{waybill.pk}:dispatched",
                now=now,
            )
    except ConflictError:
        _cancel_quietly(courier, created.waybill_number, "not dispatched")
        raise
    return current


def fulfilment_dispatch(
    *,
    fulfilment_id: int,
    courier: Courier | None = None,
    now: datetime.datetime | None = None,
) -> Fulfilment:
    """A paid delivery gets its first waybill (the `pharmacy.dispatch` task, and the sweep). A
    fulfilment already dispatched is left as it is."""
    fulfilment = Fulfilment.objects.get(pk=fulfilment_id)
    if fulfilment.status != FulfilmentStatus.AWAITING_PAYMENT:
        return fulfilment
    return _dispatch(
        fulfilment=fulfilment,
        from_status=FulfilmentStatus.AWAITING_PAYMENT,
        actor=SYSTEM_ACTOR,
        courier=courier or courier_client(),
        now=now or timezone.now(),
    )


def _require_operations(actor: Actor) -> None:
    if not actor.has_role(Role.OPERATIONS):
        raise PermissionDeniedError("Only operations decide about a failed delivery.")


def fulfilment_retry_delivery(
    *,
    actor: Actor,
    fulfilment: Fulfilment,
    courier: Courier | None = None,
    now: datetime.datetime | None = None,
) -> Fulfilment:
    """Operations send a failed delivery out again, on a new waybill."""
    _require_operations(actor)
    return _dispatch(
        fulfilment=Fulfilment.objects.get(pk=fulfilment.pk),
        from_status=FulfilmentStatus.FAILED,
        actor=actor,
        courier=courier or courier_client(),
        now=now or timezone.now(),
    )


def fulfilment_return(
    *, actor: Actor, fulfilment: Fulfilment, reason: str, now: datetime.datetime | None = None
) -> Fulfilment:
    """Operations confirm a failed parcel came back: returned, and the medicine and delivery fee
    are refunded through payments in the same transaction (the same cause refunds once)."""
    now = now or timezone.now()
    _require_operations(actor)
    reason = reason.strip()
    if not reason:
        raise DomainError(
            "Say why the parcel is returned.",
            code="reason_required",
            fields={"reason": ["Required."]},
        )
    with transaction.atomic(durable=True):
        order = PaymentOrder.objects.select_for_update().get(pk=fulfilment.order_id)
        locked = fulfilment_lock(fulfilment.pk)
        fulfilment_move(
            locked,
            FulfilmentStatus.RETURNED,
            actor=actor,
            now=now,
            changes={"returned_at": now},
            reason=reason,
        )
        refund_for_failed_delivery(order=order, reason=f"配送失败退回：{reason}", now=now)
    return locked
