"""The dispense itself, shared by the pickup scan and the dispatch of a parcel: the checks, the
stock taken, the prescription marked dispensed, the Dispense row — inside the caller's
transaction, with the rows locked in the house order."""

import datetime
from dataclasses import dataclass

from django.db.models import F

from core.actors import Actor
from core.exceptions import ConflictError
from core.models import AuditAction
from core.services import audit_record
from payments.models import OrderStatus, PaymentOrder
from pharmacy.models import (
    Dispense,
    DispenseItem,
    FacilityStock,
    Fulfilment,
    StockMovement,
    StockMovementReason,
)
from pharmacy.selectors import packs_needed
from pharmacy.services.fulfilments import fulfilment_lock
from prescriptions.models import Prescription, PrescriptionItem, PrescriptionStatus
from prescriptions.services.lifecycle import prescription_mark_dispensed, require_effective


@dataclass(frozen=True)
class Locked:
    prescription: Prescription
    items: list[PrescriptionItem]
    order: PaymentOrder
    fulfilment: Fulfilment


def lock_for_dispense(fulfilment: Fulfilment) -> Locked:
    """Prescription, then order, then fulfilment. The prescription is locked with the rows its
    own transition locks (patient, doctor, consultation), so marking it dispensed later takes
    no new lock out of order."""
    prescription = (
        Prescription.objects.select_for_update()
        .select_related("patient", "doctor__user", "consultation")
        .get(pk=fulfilment.prescription_id)
    )
    order = PaymentOrder.objects.select_for_update().get(pk=fulfilment.order_id)
    return Locked(
        prescription=prescription,
        items=list(prescription.items.order_by("position")),
        order=order,
        fulfilment=fulfilment_lock(fulfilment.pk),
    )


def require_dispensable(locked: Locked, *, now: datetime.datetime) -> None:
    """Not dispensed yet, paid, approved and unexpired (rule 10, rule 11, SPEC §4.9)."""
    if (
        hasattr(locked.fulfilment, "dispense")
        or locked.prescription.status == PrescriptionStatus.DISPENSED
    ):
        raise ConflictError(
            "This prescription has already been dispensed.", code="already_dispensed"
        )
    if locked.order.status != OrderStatus.PAID:
        raise ConflictError(
            "The order is not paid.", code="order_not_paid", extra={"status": locked.order.status}
        )
    if locked.prescription.status == PrescriptionStatus.EXPIRED:
        raise ConflictError("The prescription has expired.", code="prescription_expired")
    require_effective(locked.prescription, now=now)


def stock_take(
    locked: Locked, *, facility_id: int, dispense: Dispense, actor: Actor, now: datetime.datetime
) -> None:
    """Take the prescription's packs from the facility's shelf: every row locked in drug order,
    all or nothing (`out_of_stock`); the check constraint refuses a negative quantity anyway."""
    needed = packs_needed(locked.items)
    rows = {
        row.drug_id: row
        for row in FacilityStock.objects.select_for_update()
        .filter(facility_id=facility_id, drug_id__in=needed)
        .select_related("drug")
        .order_by("drug_id")
    }
    short = sorted(
        drug_id
        for drug_id, packs in needed.items()
        if drug_id not in rows or rows[drug_id].quantity < packs
    )
    if short:
        raise ConflictError(
            "The facility does not have every item in stock.",
            code="out_of_stock",
            extra={"drugs": [rows[d].drug.code if d in rows else d for d in short]},
        )
    movements = []
    for drug_id, packs in sorted(needed.items()):
        row = rows[drug_id]
        FacilityStock.objects.filter(pk=row.pk).update(
            quantity=F("quantity") - packs, updated_at=now
        )
        movements.append(
            StockMovement(
                facility_id=facility_id,
                drug_id=drug_id,
                change=-packs,
                quantity_after=row.quantity - packs,
                reason=StockMovementReason.DISPENSED,
                dispense=dispense,
                actor=actor.user,
                actor_role=actor.role,
                terminal_id=actor.terminal_id,
                occurred_at=now,
            )
        )
    StockMovement.objects.bulk_create(movements)


def dispense_record(
    locked: Locked, *, actor: Actor, facility_id: int | None, now: datetime.datetime
) -> Dispense:
    """Mark the prescription dispensed (its own transition, in this transaction) and record who
    handed over what. The one-to-one rows make a second dispense fail in the database even if
    every check above were bypassed."""
    prescription_mark_dispensed(actor=actor, prescription=locked.prescription, now=now)
    dispense = Dispense.objects.create(
        fulfilment=locked.fulfilment,
        prescription=locked.prescription,
        facility_id=facility_id,
        dispensed_by=actor.user,
        actor_role=actor.role,
        terminal_id=actor.terminal_id,
        dispensed_at=now,
    )
    DispenseItem.objects.bulk_create(
        DispenseItem(
            dispense=dispense,
            prescription_item=item,
            drug_id=item.drug_id,
            quantity=item.quantity,
        )
        for item in locked.items
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        object_type="dispense",
        object_ids=[locked.fulfilment.public_id],
        detail={
            "prescription": str(locked.prescription.public_id),
            "facility_id": facility_id,
            "items": [[item.drug_id, item.quantity] for item in locked.items],
        },
    )
    return dispense
