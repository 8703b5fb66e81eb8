"""Reads of prescriptions, scoped to the actor. Reading one is audited."""

from typing import Any

from django.db.models import Prefetch, Q, QuerySet, Subquery

from accounts.models import DoctorProfile, Role
from core.actors import TERMINAL_ROLE, Actor
from core.exceptions import NotFoundError
from core.models import AuditAction
from core.services import audit_record
from prescriptions.models import (
    Drug,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
)

AUDIT_OBJECT_TYPE = "prescription"


def _with_related(prescriptions: QuerySet[Prescription]) -> QuerySet[Prescription]:
    return prescriptions.select_related(
        "patient",
        "doctor__user",
        "doctor__department",
        "pharmacist__user",
        "diagnosis",
        "evidence",
        "consultation__facility",
        "previous_version",
    ).prefetch_related(
        Prefetch("items", queryset=PrescriptionItem.objects.select_related("drug")),
        "warnings",
    )


def prescriptions_visible_to(*, actor: Actor) -> QuerySet[Prescription]:
    """The treating doctor sees their own (drafts included); pharmacists and operations every
    signed one; the facility's staff and terminal those of consultations held there; the patient
    their own once signed."""
    prescriptions = _with_related(Prescription.objects.all())
    signed = ~Q(status=PrescriptionStatus.DRAFT)
    if actor.has_role(Role.OPERATIONS, Role.PHARMACIST):
        return prescriptions.filter(signed)
    if actor.has_role(Role.DOCTOR) and actor.user is not None:
        # The profile as a scalar subquery, not a join: (doctor, created_at) then serves the
        # doctor's newest-first list without reading their whole history.
        own_profile = DoctorProfile.objects.filter(user=actor.user).values("pk")[:1]
        return prescriptions.filter(doctor_id=Subquery(own_profile))
    if actor.has_role(Role.CLINIC_STAFF, TERMINAL_ROLE) and actor.facility_id is not None:
        return prescriptions.filter(signed, consultation__facility_id=actor.facility_id)
    if actor.has_role(Role.PATIENT) and actor.user is not None:
        return prescriptions.filter(signed, patient__user=actor.user)
    return prescriptions.none()


def prescription_get_for_actor(*, actor: Actor, public_id: Any) -> Prescription:
    prescription = prescriptions_visible_to(actor=actor).filter(public_id=public_id).first()
    if prescription is None:
        raise NotFoundError("Prescription not found.")
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[prescription.public_id],
    )
    return prescription


def prescriptions_record_list_read(*, actor: Actor, prescriptions: list[Prescription]) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[prescription.public_id for prescription in prescriptions],
    )


def review_queue(*, actor: Actor) -> QuerySet[Prescription]:
    """Signed prescriptions awaiting a pharmacist, oldest first."""
    return (
        prescriptions_visible_to(actor=actor)
        .filter(status=PrescriptionStatus.SIGNED)
        .order_by("signed_at", "id")
    )


def prescreen_flags(prescription: Prescription) -> list[dict[str, str]]:
    """What the pharmacist should look at first: the doctor's acknowledged warnings and
    quantities beyond what the dose and days need (or long supplies)."""
    from prescriptions.rules import DEFAULT_MAX_DAYS, ItemSpec, packs_needed

    flags = [
        {
            "kind": warning.kind,
            "message": warning.message,
            "doctor_reason": warning.acknowledged_reason,
        }
        for warning in prescription.warnings.all()
    ]
    for item in prescription.items.all():
        spec = ItemSpec(
            drug=item.drug,
            dose=item.dose,
            frequency=item.frequency,
            route=item.route,
            days_supply=item.days_supply,
        )
        if item.quantity > packs_needed(spec):
            flags.append(
                {
                    "kind": "quantity_above_need",
                    "message": f"{item.drug.name_zh}: {item.quantity} {item.drug.pack_unit}",
                    "doctor_reason": "",
                }
            )
        if item.days_supply > DEFAULT_MAX_DAYS:
            flags.append(
                {
                    "kind": "long_supply",
                    "message": f"{item.drug.name_zh}: {item.days_supply} days",
                    "doctor_reason": prescription.supply_reason,
                }
            )
    return flags


def drugs_search(*, query: str = "", prescribable_only: bool = False) -> QuerySet[Drug]:
    drugs = Drug.objects.filter(is_active=True)
    if query:
        drugs = drugs.filter(
            Q(name_zh__icontains=query)
            | Q(name_en__icontains=query)
            | Q(atc_code__istartswith=query)
            | Q(code__istartswith=query)
        )
    if prescribable_only:
        drugs = drugs.filter(online_prescribable=True, control_class="none")
    return drugs
