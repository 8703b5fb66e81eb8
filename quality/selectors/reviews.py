"""Reads of the clinical quality review, scoped to the actor.

A reviewer sees the items assigned to them, with the record or prescription to judge (patient
data: reading one is audited on the consultation and prescription as well); operations see every
assignment and its scores, without the clinical content. Anyone else sees none.
"""

from typing import Any

from django.db.models import Prefetch, QuerySet

from accounts.models import Role
from consultations.models import Consultation, ConsultationDiagnosis
from core.actors import Actor
from core.exceptions import NotFoundError
from core.models import AuditAction
from core.services import audit_record
from prescriptions.models import Prescription, PrescriptionItem
from quality.models import ReviewAssignment

AUDIT_OBJECT_TYPE = "quality_review"


def reviews_visible_to(*, actor: Actor) -> QuerySet[ReviewAssignment]:
    assignments = ReviewAssignment.objects.select_related(
        "sample",
        "consultation__facility",
        "consultation__department",
        "prescription",
        "doctor__user",
        "reviewer",
    )
    if actor.has_role(Role.OPERATIONS):
        return assignments
    if actor.has_role(Role.DOCTOR, Role.PHARMACIST) and actor.user is not None:
        return assignments.filter(reviewer=actor.user)
    return assignments.none()


def review_get_for_actor(*, actor: Actor, public_id: Any) -> ReviewAssignment:
    assignment = reviews_visible_to(actor=actor).filter(public_id=public_id).first()
    if assignment is None:
        raise NotFoundError("Review not found.")
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[assignment.public_id],
    )
    return assignment


def review_material(*, actor: Actor, assignment: ReviewAssignment) -> dict[str, Any]:
    """What the assigned reviewer judges: the consultation with its note and diagnoses, and the
    prescription with its items. Only for the reviewer; reading it is audited like any read of
    the record."""
    if actor.user_id is None or assignment.reviewer_id != actor.user_id:
        raise NotFoundError("Review not found.")
    consultation = (
        Consultation.objects.select_related(
            "patient", "doctor__user", "department", "facility", "note"
        )
        .prefetch_related(
            Prefetch("diagnoses", ConsultationDiagnosis.objects.select_related("code"))
        )
        .get(pk=assignment.consultation_id)
    )
    prescription = (
        Prescription.objects.select_related("diagnosis", "pharmacist__user")
        .prefetch_related(
            Prefetch("items", PrescriptionItem.objects.select_related("drug").order_by("position"))
        )
        .get(pk=assignment.prescription_id)
        if assignment.prescription_id
        else None
    )
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type="consultation",
        object_ids=[consultation.public_id],
        detail={"via": "quality_review"},
    )
    if prescription is not None:
        audit_record(
            actor=actor,
            action=AuditAction.READ,
            object_type="prescription",
            object_ids=[prescription.public_id],
            detail={"via": "quality_review"},
        )
    return {"consultation": consultation, "prescription": prescription}


def reviews_record_list_read(*, actor: Actor, assignments: list[ReviewAssignment]) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[assignment.public_id for assignment in assignments],
        detail={"via": "list"},
    )
