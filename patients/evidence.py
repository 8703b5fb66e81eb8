"""Prior-diagnosis evidence (SPEC §2.2, §4.1): online care is for follow-ups of diagnosed
conditions only, so staff upload the earlier diagnosis and a treating doctor verifies it.

Documents go through Django storage under a random name (never the patient's or the upload's
name), written before the row and removed again if the row cannot be written. The file's type is
read from its first bytes; the client's Content-Type is not trusted. Nothing is ever deleted.
"""

import datetime
import logging
import os
import uuid

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Role
from core.actors import Actor
from core.exceptions import DomainError, NotFoundError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from patients.models import Patient, PriorDiagnosisEvidence
from patients.selectors import patients_visible_to
from terminology.models import Icd10Code

AUDIT_OBJECT_TYPE = "evidence"
logger = logging.getLogger(__name__)

# Leading bytes of each accepted format, and the extension its stored file gets.
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


def sniff_content_type(document: UploadedFile) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes, or None if not a known format."""
    document.seek(0)
    head = document.read(8)
    document.seek(0)
    for signature, content_type, extension in SIGNATURES:
        if head.startswith(signature):
            return content_type, extension
    return None


def _require_staff(actor: Actor) -> None:
    if not actor.has_role(Role.CLINIC_STAFF) or actor.facility_id is None or actor.user is None:
        raise PermissionDeniedError("Only clinic staff at an active facility upload evidence.")


def _clean_document(document: UploadedFile) -> tuple[str, str]:
    size = document.size or 0
    if size == 0:
        raise DomainError(
            "The file is empty.", code="evidence_empty", fields={"document": ["Empty file."]}
        )
    if size > settings.EVIDENCE_MAX_BYTES:
        limit_mb = settings.EVIDENCE_MAX_BYTES / (1024 * 1024)
        raise DomainError(
            f"The file is larger than {limit_mb:g} MB.",
            code="evidence_too_large",
            fields={"document": [f"At most {settings.EVIDENCE_MAX_BYTES} bytes."]},
        )
    sniffed = sniff_content_type(document)
    if sniffed is None or sniffed[0] not in settings.EVIDENCE_CONTENT_TYPES:
        raise DomainError(
            "Upload a PDF, JPEG or PNG file.",
            code="evidence_type_not_allowed",
            fields={"document": ["Not a PDF, JPEG or PNG file."]},
        )
    return sniffed


def _clean_diagnosis(
    patient: Patient, diagnosis_code: str, diagnosis_date: datetime.date
) -> Icd10Code:
    diagnosis = Icd10Code.objects.filter(
        code=diagnosis_code.strip().upper(), is_active=True
    ).first()
    if diagnosis is None:
        raise DomainError(
            "Unknown ICD-10 code.",
            code="diagnosis_code_unknown",
            fields={"diagnosis_code": ["Not in the ICD-10 table."]},
        )
    if diagnosis_date > timezone.localdate() or diagnosis_date < patient.birth_date:
        raise DomainError(
            "The diagnosis date must lie between the patient's birth and today.",
            code="diagnosis_date_invalid",
            fields={"diagnosis_date": ["Between the birth date and today."]},
        )
    return diagnosis


def _clean_institution(value: str) -> str:
    institution = value.strip()
    if not institution or len(institution) > 200:
        raise DomainError(
            "Enter the institution that made the diagnosis.",
            code="validation_error",
            fields={"issuing_institution": ["1 to 200 characters."]},
        )
    return institution


def _display_name(document: UploadedFile) -> str:
    """The uploaded file's own name, kept for staff to recognise it; never used in a path."""
    name = os.path.basename((document.name or "").replace("\\", "/")).strip()
    return name[-200:] or "document"


def evidence_upload(
    *,
    actor: Actor,
    patient: Patient,
    document: UploadedFile,
    issuing_institution: str,
    diagnosis_code: str,
    diagnosis_date: datetime.date,
) -> PriorDiagnosisEvidence:
    """Store the document and record the earlier diagnosis it proves (not yet verified)."""
    _require_staff(actor)
    if not patients_visible_to(actor=actor).filter(pk=patient.pk).exists():
        raise NotFoundError("Patient not found.")
    institution = _clean_institution(issuing_institution)
    diagnosis = _clean_diagnosis(patient, diagnosis_code, diagnosis_date)
    content_type, extension = _clean_document(document)

    evidence = PriorDiagnosisEvidence(
        patient=patient,
        document_name=_display_name(document),
        content_type=content_type,
        size_bytes=document.size or 0,
        issuing_institution=institution,
        diagnosis=diagnosis,
        diagnosis_date=diagnosis_date,
        uploaded_by=actor.user,
    )
    # The file is written first (storage is outside the transaction, and may be remote); if the
    # row then fails, the file is removed so no orphaned patient document stays behind.
    document.seek(0)
    evidence.document.save(f"{uuid.uuid4().hex}{extension}", document, save=False)
    try:
        with transaction.atomic(durable=True):
            evidence.save()
            audit_record(
                actor=actor,
                action=AuditAction.CREATE,
                object_type=AUDIT_OBJECT_TYPE,
                object_ids=[evidence.public_id],
                detail={"patient": str(patient.public_id)},
            )
    except BaseException:
        if evidence.document.name:
            evidence.document.storage.delete(evidence.document.name)
        raise
    return evidence


def evidence_verify(*, actor: Actor, evidence: PriorDiagnosisEvidence) -> PriorDiagnosisEvidence:
    """A doctor treating the patient confirms the document shows the diagnosis.

    Treating: a consultation with this patient that was not cancelled. Verifying again keeps
    the first verification.
    """
    if not actor.has_role(Role.DOCTOR) or actor.user is None:
        raise PermissionDeniedError("Only the patient's doctor verifies evidence.")
    treating = (
        evidence.patient.consultations.filter(doctor__user=actor.user)
        .exclude(status="cancelled")
        .exists()
    )
    if not treating:
        raise PermissionDeniedError("Only a doctor with a consultation for this patient verifies.")
    with transaction.atomic(durable=True):
        locked = PriorDiagnosisEvidence.objects.select_for_update().get(pk=evidence.pk)
        changed: list[str] = []
        if locked.verified_at is None:
            locked.verified_by = actor.user
            locked.verified_at = timezone.now()
            changed = ["verified_by", "verified_at"]
            locked.save(update_fields=changed)
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"patient": str(evidence.patient.public_id), "fields": changed},
        )
    return locked


def evidence_for_patient(*, patient: Patient) -> QuerySet[PriorDiagnosisEvidence]:
    """The patient's evidence, newest first. Callers reach `patient` through
    `patient_get_for_actor` and record what they show with `evidence_record_read`."""
    return (
        PriorDiagnosisEvidence.objects.filter(patient=patient)
        .select_related("diagnosis", "uploaded_by", "verified_by")
        .order_by("-uploaded_at", "-pk")
    )


def evidence_get(*, patient: Patient, public_id: uuid.UUID | str) -> PriorDiagnosisEvidence:
    """One piece of the patient's evidence, or not found (also when it is someone else's)."""
    evidence = evidence_for_patient(patient=patient).filter(public_id=public_id).first()
    if evidence is None:
        raise NotFoundError("Evidence not found.")
    evidence.patient = patient
    return evidence


def evidence_record_read(
    *,
    actor: Actor,
    patient: Patient,
    evidence: list[PriorDiagnosisEvidence],
    via: str = "list",
) -> None:
    """Evidence was shown (or its document sent): one audit row each, one INSERT."""
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[item.public_id for item in evidence],
        detail={"patient": str(patient.public_id), "via": via},
    )


def evidence_document_open(
    *, actor: Actor, patient: Patient, public_id: uuid.UUID | str
) -> tuple[PriorDiagnosisEvidence, File]:
    """The evidence and its document opened for reading, recording the read.

    Staff of the patient's facilities, the patient's doctors and operations: whoever reached
    `patient` through `patient_get_for_actor`, except the patient themself, who sees the list
    but not the stored document (they hold the original). The caller closes the file.
    """
    if not actor.has_role(Role.CLINIC_STAFF, Role.DOCTOR, Role.OPERATIONS):
        raise NotFoundError("Evidence not found.")
    evidence = evidence_get(patient=patient, public_id=public_id)
    try:
        document = evidence.document.open("rb")
    except OSError as error:
        logger.error("evidence %s: stored document unreadable: %s", evidence.public_id, error)
        raise NotFoundError(
            "The stored document cannot be read.", code="evidence_document_missing"
        ) from error
    evidence_record_read(actor=actor, patient=patient, evidence=[evidence], via="document")
    return evidence, document


def patient_verified_diagnosis_codes(*, patient: Patient) -> set[str]:
    """ICD-10 codes of the patient's verified evidence (a prescription's diagnosis must be one)."""
    return set(
        PriorDiagnosisEvidence.objects.filter(patient=patient, verified_at__isnull=False)
        .values_list("diagnosis__code", flat=True)
        .distinct()
    )


def patient_has_verified_evidence(*, patient: Patient) -> bool:
    """Whether a doctor verified any evidence (SPEC §4.1: before a consultation starts)."""
    return PriorDiagnosisEvidence.objects.filter(
        patient=patient, verified_at__isnull=False
    ).exists()
