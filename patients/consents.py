"""Informed consent to remote care (SPEC §2.2, §4.2): published texts and signed records.

A record proves what was shown: it keeps the SHA-256 of the template's exact text (UTF-8), and
a terminal that sends the hash of what it displayed is refused if the two differ. Records are
never changed or deleted; withdrawing consent will be a record of its own.
"""

import hashlib

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Role
from clinics.models import Terminal
from core.actors import Actor
from core.dates import years_after
from core.exceptions import DomainError, NotFoundError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from patients.models import (
    GUARDIAN_REQUIRED_UNDER_YEARS,
    ConsentMethod,
    ConsentRecord,
    ConsentSigner,
    ConsentTemplate,
    Patient,
)
from patients.selectors import patients_visible_to

AUDIT_OBJECT_TYPE = "consent"


def consent_text_sha256(text: str) -> str:
    """The hash a record keeps: SHA-256 of the text's UTF-8 bytes, lowercase hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _same_name(given: str, recorded: str) -> bool:
    return bool(recorded.strip()) and given.strip() == recorded.strip()


def _check_signer(patient: Patient, signer: str, signer_name: str) -> None:
    """The patient signs for themself unless under 6; a recorded guardian signs for them."""
    if signer not in ConsentSigner.values:
        raise DomainError(
            "Unknown signer.", code="validation_error", fields={"signer": ["Unknown signer."]}
        )
    under_age = timezone.localdate() < years_after(
        patient.birth_date, GUARDIAN_REQUIRED_UNDER_YEARS
    )
    if under_age and (signer != ConsentSigner.GUARDIAN or not patient.guardian_name.strip()):
        raise DomainError(
            f"A child under {GUARDIAN_REQUIRED_UNDER_YEARS} is consented for by the guardian; "
            "record the guardian first if needed.",
            code="consent_guardian_required",
            fields={"signer": ["The guardian signs for this patient."]},
        )
    if signer == ConsentSigner.GUARDIAN:
        if not _same_name(signer_name, patient.guardian_name):
            raise DomainError(
                "The signer is not the guardian recorded for this patient.",
                code="consent_signer_mismatch",
                fields={"signer_name": ["Does not match the recorded guardian."]},
            )
    elif not _same_name(signer_name, patient.name):
        raise DomainError(
            "The signer's name is not the patient's name.",
            code="consent_signer_mismatch",
            fields={"signer_name": ["Does not match the patient's name."]},
        )


def consent_record(
    *,
    actor: Actor,
    patient: Patient,
    template_version: str,
    language: str,
    signer: str,
    signer_name: str,
    method: str,
    terminal: Terminal | None = None,
    text_sha256: str | None = None,
) -> ConsentRecord:
    """Record that the patient (or guardian) agreed to exactly the active template's text.

    `text_sha256`, when given, is what the terminal computed from the text it displayed; a
    record is refused unless it matches the published text.
    """
    if not actor.has_role(Role.CLINIC_STAFF) or actor.facility_id is None or actor.user is None:
        raise PermissionDeniedError("Only clinic staff at an active facility record consent.")
    if not patients_visible_to(actor=actor).filter(pk=patient.pk).exists():
        raise NotFoundError("Patient not found.")
    if terminal is not None and terminal.facility_id != actor.facility_id:
        raise NotFoundError("Terminal not found.")
    if method not in ConsentMethod.values:
        raise DomainError(
            "Unknown consent method.",
            code="validation_error",
            fields={"method": ["Unknown method."]},
        )
    template = ConsentTemplate.objects.filter(
        version=template_version, language=language, is_active=True
    ).first()
    if template is None:
        raise DomainError(
            "No active consent text has this version and language.",
            code="consent_template_unknown",
            fields={"template_version": ["Not an active version in this language."]},
        )
    digest = consent_text_sha256(template.text)
    if text_sha256 is not None and text_sha256.strip().lower() != digest:
        raise DomainError(
            "The text shown is not the published text of this version; reload the template.",
            code="consent_text_mismatch",
            fields={"text_sha256": ["Does not match the published text."]},
        )
    with transaction.atomic(durable=True):
        # Read the guardian under the lock, so a concurrent correction cannot slip between.
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        _check_signer(locked, signer, signer_name)
        record = ConsentRecord.objects.create(
            patient=locked,
            template=template,
            text_sha256=digest,
            signer=signer,
            signer_name=signer_name.strip(),
            method=method,
            facility_id=actor.facility_id,
            terminal=terminal,
            recorded_by=actor.user,
            signed_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[record.pk],
            detail={"patient": str(locked.public_id)},
        )
    return record


def consent_templates_active(*, language: str | None = None) -> QuerySet[ConsentTemplate]:
    """The texts a terminal may show. Not patient data: any authenticated caller reads them."""
    templates = ConsentTemplate.objects.filter(is_active=True)
    if language:
        templates = templates.filter(language=language)
    return templates.order_by("-published_at", "language")


def consents_for_patient(*, patient: Patient) -> QuerySet[ConsentRecord]:
    """The patient's records, newest first. Callers reach `patient` through
    `patient_get_for_actor` and record what they show with `consents_record_read`."""
    return (
        ConsentRecord.objects.filter(patient=patient)
        .select_related("template", "facility", "terminal", "recorded_by")
        .order_by("-signed_at", "-pk")
    )


def consents_record_read(*, actor: Actor, patient: Patient, records: list[ConsentRecord]) -> None:
    """Records were shown: one audit row each, one INSERT."""
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[record.pk for record in records],
        detail={"patient": str(patient.public_id)},
    )


def patient_has_consent(*, patient: Patient) -> bool:
    """Whether any consent to remote care is on record (SPEC §4.2: before a consultation starts)."""
    return ConsentRecord.objects.filter(patient=patient).exists()
