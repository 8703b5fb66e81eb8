"""Reads of the pharmacy, scoped to the actor. Reading a fulfilment is audited.

`pickup_available` and `delivery_available` are what payments asks before it offers pickup at a
facility or home delivery.
"""

import datetime
from collections import Counter
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from accounts.models import Role
from clinics.models import Facility
from core.actors import TERMINAL_ROLE, Actor
from core.exceptions import NotFoundError
from core.models import AuditAction
from core.services import audit_record
from payments.models import FulfilmentMethod
from pharmacy.models import (
    DispenseItem,
    FacilityStock,
    Fulfilment,
    FulfilmentEvent,
    FulfilmentStatus,
    StockMovement,
    TrackingEvent,
    Waybill,
)
from prescriptions.models import Prescription, PrescriptionItem

AUDIT_OBJECT_TYPE = "fulfilment"


def packs_needed(items: list[PrescriptionItem]) -> Counter[int]:
    """Packs per drug id (the same drug on two lines is summed)."""
    needed: Counter[int] = Counter()
    for item in items:
        needed[item.drug_id] += item.quantity
    return needed


def pickup_available(facility: Facility, prescription: Prescription) -> bool:
    """Pickup is offered where the facility is active and has every item of the prescription in
    stock, in the prescribed number of packs."""
    if not facility.is_active:
        return False
    needed = packs_needed(list(prescription.items.all()))
    on_shelf = dict(
        FacilityStock.objects.filter(facility=facility, drug_id__in=needed).values_list(
            "drug_id", "quantity"
        )
    )
    return all(on_shelf.get(drug_id, 0) >= packs for drug_id, packs in needed.items())


def delivery_available(prescription: Prescription) -> bool:
    """Cold-chain medicine is pickup only (SPEC §4.5)."""
    return not prescription.items.filter(drug__cold_chain=True).exists()


def fulfilments_visible_to(*, actor: Actor) -> QuerySet[Fulfilment]:
    """Operations see all; staff and terminals their facility's (the pickup facility, or for a
    delivery the consultation's facility); a patient their own. Nobody else."""
    fulfilments = Fulfilment.objects.select_related("patient", "facility", "prescription", "order")
    if actor.has_role(Role.OPERATIONS):
        return fulfilments
    if actor.has_role(Role.CLINIC_STAFF, TERMINAL_ROLE) and actor.facility_id is not None:
        return fulfilments.filter(facility_id=actor.facility_id)
    if actor.has_role(Role.PATIENT) and actor.user is not None:
        return fulfilments.filter(patient__user=actor.user)
    return fulfilments.none()


def fulfilment_get_for_actor(*, actor: Actor, public_id: Any) -> Fulfilment:
    fulfilment = fulfilments_visible_to(actor=actor).filter(public_id=public_id).first()
    if fulfilment is None:
        raise NotFoundError("Fulfilment not found.")
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[fulfilment.public_id],
    )
    return fulfilment


def fulfilment_detail(fulfilment: Fulfilment) -> Fulfilment:
    """The fulfilment with its timeline, waybills, tracking reports and dispense, in a fixed
    number of queries."""
    return (
        Fulfilment.objects.select_related(
            "patient", "facility", "prescription", "order", "dispense", "dispense__facility"
        )
        .prefetch_related(
            Prefetch("events", FulfilmentEvent.objects.select_related("tracking_event")),
            Prefetch("waybills", Waybill.objects.order_by("attempt")),
            Prefetch(
                "waybills__events",
                TrackingEvent.objects.order_by("occurred_at", "pk"),
                to_attr="reports",
            ),
            Prefetch("dispense__items", DispenseItem.objects.select_related("drug")),
        )
        .get(pk=fulfilment.pk)
    )


def fulfilments_record_list_read(*, actor: Actor, fulfilments: list[Fulfilment]) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[fulfilment.public_id for fulfilment in fulfilments],
        detail={"via": "list"},
    )


def stock_visible_to(*, actor: Actor) -> QuerySet[FacilityStock]:
    """Operations see every shelf; staff and terminals their facility's."""
    stock = FacilityStock.objects.select_related("facility", "drug")
    if actor.has_role(Role.OPERATIONS):
        return stock
    if actor.has_role(Role.CLINIC_STAFF, TERMINAL_ROLE) and actor.facility_id is not None:
        return stock.filter(facility_id=actor.facility_id)
    return stock.none()


def stock_movements_visible_to(*, actor: Actor) -> QuerySet[StockMovement]:
    movements = StockMovement.objects.select_related("facility", "drug", "actor")
    if actor.has_role(Role.OPERATIONS):
        return movements
    if actor.has_role(Role.CLINIC_STAFF) and actor.facility_id is not None:
        return movements.filter(facility_id=actor.facility_id)
    return movements.none()


def fulfilments_awaiting_dispatch(*, now: datetime.datetime, limit: int = 500) -> list[int]:
    """Paid deliveries still without a waybill `PHARMACY_DISPATCH_SWEEP_AFTER_SECONDS` after
    payment: their own dispatch task had its chance."""
    cutoff = now - datetime.timedelta(seconds=settings.PHARMACY_DISPATCH_SWEEP_AFTER_SECONDS)
    return list(
        Fulfilment.objects.filter(
            method=FulfilmentMethod.DELIVERY,
            status=FulfilmentStatus.AWAITING_PAYMENT,
            paid_at__lte=cutoff,
        )
        .order_by("paid_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
