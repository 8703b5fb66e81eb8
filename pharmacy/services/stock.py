"""Stock adjustments by the facility's staff or operations; every change is a StockMovement."""

import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Role
from clinics.models import Facility
from core.actors import Actor
from core.exceptions import ConflictError, DomainError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from pharmacy.models import ADJUSTMENT_REASONS, FacilityStock, StockMovement
from prescriptions.models import Drug


def require_stock_keeper_role(actor: Actor) -> None:
    if not actor.has_role(Role.OPERATIONS, Role.CLINIC_STAFF):
        raise PermissionDeniedError(
            "Only the facility's staff or operations adjust its stock.", code="not_stock_keeper"
        )


def _require_stock_keeper(actor: Actor, facility: Facility) -> None:
    require_stock_keeper_role(actor)
    if actor.has_role(Role.CLINIC_STAFF) and actor.facility_id != facility.pk:
        raise PermissionDeniedError(
            "Only the facility's staff or operations adjust its stock.", code="not_stock_keeper"
        )


def stock_lock(*, facility_id: int, drug_id: int) -> FacilityStock:
    """The stock row of (facility, drug), locked; created at zero when the drug is new there.

    Two first adjustments racing: the unique index lets one insert, the other finds its row.
    """
    row = (
        FacilityStock.objects.select_for_update()
        .filter(facility_id=facility_id, drug_id=drug_id)
        .first()
    )
    if row is not None:
        return row
    try:
        with transaction.atomic():
            FacilityStock.objects.create(facility_id=facility_id, drug_id=drug_id, quantity=0)
    except IntegrityError:
        pass  # created meanwhile by the other request
    return FacilityStock.objects.select_for_update().get(facility_id=facility_id, drug_id=drug_id)


def stock_adjust(
    *,
    actor: Actor,
    facility: Facility,
    drug: Drug,
    change: int,
    reason: str,
    note: str = "",
    now: datetime.datetime | None = None,
) -> StockMovement:
    """Receive, correct or write off packs; the quantity never goes below zero."""
    now = now or timezone.now()
    _require_stock_keeper(actor, facility)
    if reason not in ADJUSTMENT_REASONS:
        raise DomainError(
            "Choose the reason for the adjustment.",
            code="stock_reason_invalid",
            fields={"reason": [f"One of {', '.join(sorted(ADJUSTMENT_REASONS))}."]},
        )
    if change == 0:
        raise DomainError(
            "The adjustment must change the quantity.",
            code="stock_change_invalid",
            fields={"change": ["Must not be 0."]},
        )
    with transaction.atomic(durable=True):
        row = stock_lock(facility_id=facility.pk, drug_id=drug.pk)
        if row.quantity + change < 0:
            raise ConflictError(
                "There are fewer packs in stock than the adjustment takes.",
                code="stock_insufficient",
                extra={"quantity": row.quantity},
            )
        FacilityStock.objects.filter(pk=row.pk).update(
            quantity=F("quantity") + change, updated_at=now
        )
        movement = StockMovement.objects.create(
            facility=facility,
            drug=drug,
            change=change,
            quantity_after=row.quantity + change,
            reason=reason,
            note=note.strip()[:300],
            actor=actor.user,
            actor_role=actor.role,
            terminal_id=actor.terminal_id,
            occurred_at=now,
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="facility_stock",
            object_ids=[row.pk],
            detail={"drug": drug.code, "change": change, "reason": reason},
        )
    return movement
