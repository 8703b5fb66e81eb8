"""Reads of the patient registry, scoped to the actor. Reads of one patient are audited."""

from django.db.models import QuerySet

from accounts.models import Role
from core.actors import Actor
from core.exceptions import NotFoundError
from core.models import AuditAction
from core.services import audit_record
from patients.models import Patient

AUDIT_OBJECT_TYPE = "patient"


def patients_visible_to(*, actor: Actor) -> QuerySet[Patient]:
    """Operations see the registry; staff the patients served at their facility; a patient
    themself; a doctor the patients they have (or had) a consultation with."""
    patients = Patient.objects.all()
    if actor.has_role(Role.OPERATIONS):
        return patients
    if actor.has_role(Role.CLINIC_STAFF) and actor.facility_id is not None:
        return patients.filter(facility_links__facility_id=actor.facility_id)
    if actor.has_role(Role.PATIENT) and actor.user is not None:
        return patients.filter(user=actor.user)
    if actor.has_role(Role.DOCTOR) and actor.user is not None:
        # A subquery, not a join: one row per patient however many consultations they had.
        treated = Patient.objects.filter(consultations__doctor__user=actor.user).values("pk")
        return patients.filter(pk__in=treated)
    return patients.none()


def patient_get_for_actor(*, actor: Actor, public_id: str) -> Patient:
    """The patient if the actor may see them (recording the read), else not found."""
    patient = patients_visible_to(actor=actor).filter(public_id=public_id).first()
    if patient is None:
        raise NotFoundError("Patient not found.")
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[patient.public_id],
    )
    return patient


def patients_record_list_read(*, actor: Actor, patients: list[Patient]) -> None:
    """A page of patients was shown: one audit row each, one INSERT."""
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[p.public_id for p in patients],
        detail={"via": "list"},
    )
