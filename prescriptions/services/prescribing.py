"""Prescribing by the treating doctor: drafts, warnings and their acknowledgement, revisions.

Every rule of prescriptions.rules runs here when a draft is written and again at signing; a draft
that breaks one is refused with the rule's code and nothing is saved.
"""

import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from consultations.models import Consultation, ConsultationStatus
from consultations.services.lifecycle import require_treating_doctor
from core.actors import Actor
from core.dates import years_after
from core.exceptions import ConflictError, DomainError, NotFoundError
from core.models import AuditAction
from core.services import audit_record
from patients.models import PriorDiagnosisEvidence
from prescriptions import rules
from prescriptions.models import (
    Prescription,
    PrescriptionEvent,
    PrescriptionItem,
    PrescriptionNumberCounter,
    PrescriptionStatus,
    PrescriptionWarning,
)
from terminology.models import Icd10Code

AUDIT_OBJECT_TYPE = "prescription"
RETENTION_YEARS = 15  # part of the medical record (SPEC §4 rule 12)


def _require_prescribable_consultation(consultation: Consultation, *, today: datetime.date) -> None:
    """From an in-progress consultation, or one completed earlier the same (local) day."""
    if consultation.status == ConsultationStatus.IN_PROGRESS:
        return
    if (
        consultation.status == ConsultationStatus.COMPLETED
        and consultation.ended_at is not None
        and timezone.localdate(consultation.ended_at) == today
    ):
        return
    raise ConflictError(
        "Prescribe during the consultation or on the day it was completed.",
        code="consultation_not_prescribable",
        extra={"status": consultation.status},
    )


def _follow_up_evidence(
    consultation: Consultation, code: str
) -> tuple[Icd10Code, PriorDiagnosisEvidence]:
    """Rule 1: the diagnosis is one a verified prior-diagnosis document shows (same ICD-10
    category: a follow-up of E11 may be written as E11.9)."""
    diagnosis = Icd10Code.objects.filter(code=code.strip().upper(), is_active=True).first()
    if diagnosis is None:
        raise DomainError(
            "Unknown ICD-10 code.",
            code="diagnosis_code_unknown",
            fields={"diagnosis": ["Unknown ICD-10 code."]},
        )
    category = diagnosis.code.split(".")[0]
    evidence = (
        PriorDiagnosisEvidence.objects.filter(
            patient_id=consultation.patient_id,
            verified_at__isnull=False,
            diagnosis__code__startswith=category,
        )
        .order_by("-verified_at")
        .first()
    )
    if evidence is None:
        raise DomainError(
            "The diagnosis does not match any verified prior diagnosis of this patient: "
            "online prescriptions are for follow-up visits only.",
            code="diagnosis_not_follow_up",
            fields={"diagnosis": ["No verified prior diagnosis in this category."]},
        )
    return diagnosis, evidence


def _next_number(today: datetime.date) -> str:
    PrescriptionNumberCounter.objects.get_or_create(date=today)
    PrescriptionNumberCounter.objects.filter(date=today).update(last_value=F("last_value") + 1)
    value = PrescriptionNumberCounter.objects.get(date=today).last_value
    return f"RX{today:%Y%m%d}{value:06d}"


def _write_content(
    prescription: Prescription, spec: rules.DraftSpec, quantities: list[int]
) -> list[PrescriptionWarning]:
    """Replace the draft's items and re-derive its warnings; acknowledgements of findings that
    still hold are kept."""
    PrescriptionItem.objects.filter(prescription=prescription).delete()
    PrescriptionItem.objects.bulk_create(
        PrescriptionItem(
            prescription=prescription,
            position=position,
            drug=item.drug,
            dose=item.dose,
            dose_unit=item.drug.dose_unit,
            frequency=item.frequency,
            route=item.route,
            days_supply=item.days_supply,
            quantity=quantity,
            instructions=item.instructions,
            unit_price_fen=item.drug.price_fen,
        )
        for position, (item, quantity) in enumerate(zip(spec.items, quantities, strict=True), 1)
    )
    found = {finding.key: finding for finding in rules.findings(prescription.patient, spec.items)}
    PrescriptionWarning.objects.filter(prescription=prescription).exclude(key__in=found).delete()
    kept = set(
        PrescriptionWarning.objects.filter(prescription=prescription).values_list("key", flat=True)
    )
    PrescriptionWarning.objects.bulk_create(
        PrescriptionWarning(
            prescription=prescription, kind=finding.kind, key=finding.key, message=finding.message
        )
        for key, finding in found.items()
        if key not in kept
    )
    return list(prescription.warnings.all())


def _apply_spec_fields(prescription: Prescription, spec: rules.DraftSpec) -> None:
    prescription.supply_reason = spec.supply_reason.strip()
    prescription.long_term = spec.long_term
    prescription.long_term_assessment = spec.long_term_assessment.strip()
    prescription.long_term_patient_confirmed = spec.long_term_patient_confirmed
    prescription.validity_days = spec.validity_days
    prescription.validity_reason = spec.validity_reason.strip()


def validate_draft(
    consultation: Consultation, *, diagnosis_code: str, spec: rules.DraftSpec, today: datetime.date
) -> tuple[Icd10Code, PriorDiagnosisEvidence, list[int]]:
    """Every prescribing rule, in the order a doctor would want to hear them."""
    _require_prescribable_consultation(consultation, today=today)
    diagnosis, evidence = _follow_up_evidence(consultation, diagnosis_code)
    rules.check_guardian(consultation.patient, on=today)
    quantities = rules.check_items(spec)
    rules.check_validity(spec)
    return diagnosis, evidence, quantities


def prescription_create(
    *,
    actor: Actor,
    consultation: Consultation,
    diagnosis_code: str,
    spec: rules.DraftSpec,
    previous_version: Prescription | None = None,
) -> Prescription:
    now = timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic(durable=True):
        # Only the consultation row: PostgreSQL refuses FOR UPDATE on the outer join to the
        # doctor, who is null on a walk-in not yet taken.
        consultation = (
            Consultation.objects.select_for_update(of=("self",))
            .select_related("patient", "doctor__user")
            .get(pk=consultation.pk)
        )
        require_treating_doctor(actor, consultation)
        diagnosis, evidence, quantities = validate_draft(
            consultation, diagnosis_code=diagnosis_code, spec=spec, today=today
        )
        assert consultation.doctor is not None  # require_treating_doctor checked it
        patient = consultation.patient
        prescription = Prescription(
            number=previous_version.number if previous_version else _next_number(today),
            version=previous_version.version + 1 if previous_version else 1,
            previous_version=previous_version,
            consultation=consultation,
            patient=patient,
            doctor=consultation.doctor,
            diagnosis=diagnosis,
            evidence=evidence,
            guardian_name=patient.guardian_name,
            guardian_relationship=patient.guardian_relationship,
            retention_until=years_after(today, RETENTION_YEARS),
        )
        _apply_spec_fields(prescription, spec)
        prescription.save()
        _write_content(prescription, spec, quantities)
        PrescriptionEvent.objects.create(
            prescription=prescription,
            to_status=PrescriptionStatus.DRAFT,
            actor=actor.user,
            actor_role=actor.role,
            reason=f"revision of v{previous_version.version}" if previous_version else "",
            occurred_at=now,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[prescription.public_id],
        )
    return prescription


def _lock_draft(prescription: Prescription, actor: Actor) -> Prescription:
    locked = (
        Prescription.objects.select_for_update(of=("self",))
        .select_related("consultation__patient", "consultation__doctor__user", "patient")
        .get(pk=prescription.pk)
    )
    require_treating_doctor(actor, locked.consultation)
    if locked.status != PrescriptionStatus.DRAFT:
        raise ConflictError(
            "A signed prescription never changes; revise it into a new version.",
            code="prescription_immutable",
            extra={"status": locked.status},
        )
    return locked


def prescription_update(
    *, actor: Actor, prescription: Prescription, diagnosis_code: str, spec: rules.DraftSpec
) -> Prescription:
    today = timezone.localdate()
    with transaction.atomic(durable=True):
        locked = _lock_draft(prescription, actor)
        diagnosis, evidence, quantities = validate_draft(
            locked.consultation, diagnosis_code=diagnosis_code, spec=spec, today=today
        )
        locked.diagnosis = diagnosis
        locked.evidence = evidence
        _apply_spec_fields(locked, spec)
        locked.save()
        _write_content(locked, spec, quantities)
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
        )
    return locked


def warning_acknowledge(
    *, actor: Actor, prescription: Prescription, warning_id: int, reason: str
) -> PrescriptionWarning:
    """The doctor accepts a warning's risk, saying why (stored, shown to the pharmacist)."""
    reason = reason.strip()
    if not reason:
        raise DomainError(
            "Say why the warning is acceptable.",
            code="acknowledgement_reason_required",
            fields={"reason": ["Required."]},
        )
    with transaction.atomic(durable=True):
        locked = _lock_draft(prescription, actor)
        warning = PrescriptionWarning.objects.filter(prescription=locked, pk=warning_id).first()
        if warning is None:
            raise NotFoundError("Warning not found.")
        warning.acknowledged_reason = reason[:300]
        warning.acknowledged_at = timezone.now()
        warning.acknowledged_by = actor.user
        warning.save(update_fields=["acknowledged_reason", "acknowledged_at", "acknowledged_by"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"acknowledged": warning.kind},
        )
    return warning


def spec_from_prescription(prescription: Prescription) -> rules.DraftSpec:
    return rules.DraftSpec(
        items=[
            rules.ItemSpec(
                drug=item.drug,
                dose=item.dose,
                frequency=item.frequency,
                route=item.route,
                days_supply=item.days_supply,
                quantity=item.quantity,
                instructions=item.instructions,
            )
            for item in prescription.items.select_related("drug")
        ],
        supply_reason=prescription.supply_reason,
        long_term=prescription.long_term,
        long_term_assessment=prescription.long_term_assessment,
        long_term_patient_confirmed=prescription.long_term_patient_confirmed,
        validity_days=prescription.validity_days,
        validity_reason=prescription.validity_reason,
    )


def prescription_revise(
    *,
    actor: Actor,
    prescription: Prescription,
    diagnosis_code: str | None = None,
    spec: rules.DraftSpec | None = None,
) -> Prescription:
    """A rejected version becomes a new draft version (the old one stays as it was signed)."""
    if prescription.status != PrescriptionStatus.REJECTED:
        raise ConflictError(
            "Only a rejected prescription is revised.",
            code="prescription_not_rejected",
            extra={"status": prescription.status},
        )
    if Prescription.objects.filter(previous_version=prescription).exists():
        raise ConflictError("This version was already revised.", code="already_revised")
    return prescription_create(
        actor=actor,
        consultation=prescription.consultation,
        diagnosis_code=diagnosis_code or prescription.diagnosis.code,
        spec=spec or spec_from_prescription(prescription),
        previous_version=prescription,
    )
