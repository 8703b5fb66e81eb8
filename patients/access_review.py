"""Flag reads and writes of a patient's record by anyone outside the patient's care team
(PIPL art. 28: health data is sensitive; unusual access is reviewed).

A periodic task reads the audit log forward from a cursor, works out which patient each row is
about, and flags rows whose actor had no care relationship with that patient:

- clinic staff and terminals: the patient was served at their facility;
- doctors: they hold (or held) a consultation with the patient;
- pharmacists: the patient has a signed prescription (pharmacists review them hospital-wide);
- the patient themself;
- the system (tasks) is never flagged; operations always are (their access is legitimate but
  not clinical, so it is reviewed).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Role
from core.actors import SYSTEM_ROLE, TERMINAL_ROLE, Actor
from core.exceptions import DomainError, NotFoundError, PermissionDeniedError
from core.models import AuditEvent
from patients.models import (
    AccessReviewCursor,
    AccessReviewFlag,
    ConsentRecord,
    Patient,
    PatientFacility,
    PriorDiagnosisEvidence,
)

BATCH = 2000
Resolver = Callable[[list[str]], dict[str, int]]


def _by_public_id(model: Any, field: str) -> Resolver:
    def resolve(ids: list[str]) -> dict[str, int]:
        valid = []
        for value in ids:
            try:
                valid.append(uuid.UUID(value))
            except ValueError:
                continue
        rows = model.objects.filter(public_id__in=valid).values_list("public_id", field)
        return {str(public_id): patient_id for public_id, patient_id in rows}

    return resolve


def _consents(ids: list[str]) -> dict[str, int]:
    numeric = [int(value) for value in ids if value.isdigit()]
    rows = ConsentRecord.objects.filter(pk__in=numeric).values_list("pk", "patient_id")
    return {str(pk): patient_id for pk, patient_id in rows}


def _resolvers() -> dict[str, Resolver]:
    from consultations.models import Consultation
    from payments.models import PaymentOrder
    from pharmacy.models import Fulfilment
    from prescriptions.models import Prescription

    return {
        "patient": _by_public_id(Patient, "pk"),
        "consultation": _by_public_id(Consultation, "patient_id"),
        "evidence": _by_public_id(PriorDiagnosisEvidence, "patient_id"),
        "consent": _consents,
        "prescription": _by_public_id(Prescription, "patient_id"),
        "payment_order": _by_public_id(PaymentOrder, "patient_id"),
        "fulfilment": _by_public_id(Fulfilment, "order__patient_id"),
    }


def _care_reason(event: AuditEvent, patient_id: int) -> str | None:
    """None when the actor is in the patient's care team; otherwise why the access is flagged."""
    from consultations.models import Consultation
    from prescriptions.models import Prescription, PrescriptionStatus

    role = event.actor_role
    if role == SYSTEM_ROLE:
        return None
    actor_id = event.actor_id or 0
    if role == Role.OPERATIONS:
        return "operations_access"
    if role in (Role.CLINIC_STAFF, TERMINAL_ROLE):
        if event.facility_id is not None and (
            PatientFacility.objects.filter(
                patient_id=patient_id, facility_id=event.facility_id
            ).exists()
            or Consultation.objects.filter(
                patient_id=patient_id, facility_id=event.facility_id
            ).exists()
        ):
            return None
        return "facility_not_serving_patient"
    if role == Role.DOCTOR:
        if Consultation.objects.filter(patient_id=patient_id, doctor__user_id=actor_id).exists():
            return None
        return "doctor_without_consultation"
    if role == Role.PHARMACIST:
        if (
            Prescription.objects.filter(patient_id=patient_id)
            .exclude(status=PrescriptionStatus.DRAFT)
            .exists()
        ):
            return None
        return "pharmacist_without_prescription"
    if role == Role.PATIENT:
        if Patient.objects.filter(pk=patient_id, user_id=actor_id).exists():
            return None
        return "another_patient"
    return "unknown_role"


def access_review_scan(*, batch: int = BATCH) -> int:
    """Read the next audit rows, flag those outside the care team; returns how many flagged.
    Safe to run twice: the cursor row is locked and a flag is unique per audit row."""
    resolvers = _resolvers()
    with transaction.atomic(durable=True):
        cursor, _ = AccessReviewCursor.objects.select_for_update().get_or_create(pk=1)
        events = list(
            AuditEvent.objects.filter(pk__gt=cursor.last_audit_event_id).order_by("pk")[:batch]
        )
        if not events:
            return 0
        wanted: dict[str, set[str]] = defaultdict(set)
        for event in events:
            if event.object_type in resolvers:
                wanted[event.object_type].add(event.object_id)
        patients = {
            object_type: resolvers[object_type](sorted(ids)) for object_type, ids in wanted.items()
        }
        flags = []
        for event in events:
            patient_id = patients.get(event.object_type, {}).get(event.object_id)
            if patient_id is None:
                continue
            reason = _care_reason(event, patient_id)
            if reason is not None:
                flags.append(
                    AccessReviewFlag(
                        audit_event_id=event.pk,
                        patient_id=patient_id,
                        actor_id=event.actor_id,
                        actor_role=event.actor_role,
                        reason=reason,
                    )
                )
        # ignore_conflicts: a row flagged by an earlier, interrupted run stays as it was.
        AccessReviewFlag.objects.bulk_create(flags, ignore_conflicts=True)
        cursor.last_audit_event_id = events[-1].pk
        cursor.save(update_fields=["last_audit_event_id"])
    return len(flags)


def access_review_resolve(*, actor: Actor, flag_id: int, note: str) -> AccessReviewFlag:
    if not actor.has_role(Role.OPERATIONS):
        raise PermissionDeniedError("Access reviews are for operations.")
    if not note.strip():
        raise DomainError(
            "Say what the review found.",
            code="review_note_required",
            fields={"note": ["Required."]},
        )
    with transaction.atomic(durable=True):
        flag = AccessReviewFlag.objects.select_for_update().filter(pk=flag_id).first()
        if flag is None:
            raise NotFoundError("No such access review.")
        if flag.reviewed_at is None:
            flag.reviewed_at = timezone.now()
            flag.reviewed_by = actor.user
            flag.review_note = note.strip()[:500]
            flag.save(update_fields=["reviewed_at", "reviewed_by", "review_note"])
    return flag


def open_access_reviews(*, actor: Actor) -> QuerySet[AccessReviewFlag]:
    if not actor.has_role(Role.OPERATIONS):
        raise PermissionDeniedError("Access reviews are for operations.")
    return AccessReviewFlag.objects.filter(reviewed_at__isnull=True).select_related("actor")
