"""Writes to the patient registry. Every write records an audit row in the same transaction."""

import datetime
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role
from core import crypto
from core.actors import Actor
from core.exceptions import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from patients.identity import mask_id_number, normalize_phone, parse_identity
from patients.models import IdentityVerification, Patient, PatientFacility, Sex

AUDIT_OBJECT_TYPE = "patient"
EDITABLE_FIELDS = frozenset(
    {
        "name",
        "phone",
        "allergies",
        "chronic_conditions",
        "guardian_name",
        "guardian_relationship",
        "guardian_phone",
    }
)


def identity_lookup_key(id_type: str, number: str) -> str:
    """What the keyed hash covers: the document type and its normalised number."""
    return f"{id_type}:{number}"


def patient_identity_columns(*, id_type: str, number: str) -> dict[str, Any]:
    """The stored form of a normalised document number: ciphertext, keyed hash, masked text."""
    return {
        "id_number_encrypted": crypto.encrypt_text(number),
        "id_number_hash": crypto.lookup_hash(identity_lookup_key(id_type, number)),
        "id_number_masked": mask_id_number(number),
    }


def _require_staff_at_facility(actor: Actor) -> int:
    if not actor.has_role(Role.CLINIC_STAFF) or actor.facility_id is None:
        raise PermissionDeniedError("Only clinic staff at an active facility do this.")
    return actor.facility_id


def _clean_text_list(value: Any, field: str) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise DomainError(
            "Expected a list of strings.",
            code="validation_error",
            fields={field: ["Expected a list of strings."]},
        )
    return [item.strip() for item in value if item.strip()]


def _clean_name(value: str, field: str = "name") -> str:
    name = value.strip()
    if not name or len(name) > 100:
        raise DomainError(
            "Enter the name as on the document.",
            code="name_invalid",
            fields={field: ["1 to 100 characters."]},
        )
    return name


def _link_to_facility(patient: Patient, facility_id: int) -> None:
    PatientFacility.objects.bulk_create(
        [PatientFacility(patient=patient, facility_id=facility_id)], ignore_conflicts=True
    )


def patient_register(
    *,
    actor: Actor,
    name: str,
    id_type: str,
    id_number: str,
    phone: str,
    birth_date: datetime.date | None = None,
    sex: str | None = None,
    allergies: Iterable[str] = (),
    chronic_conditions: Iterable[str] = (),
    guardian_name: str = "",
    guardian_relationship: str = "",
    guardian_phone: str = "",
) -> Patient:
    """Register a patient at the staff member's facility.

    For a resident ID, birth date and sex come from the number (a different value given by hand
    is refused); for other documents they must be given.
    """
    facility_id = _require_staff_at_facility(actor)
    identity = parse_identity(id_type, id_number)
    if identity.birth_date is not None:
        if birth_date is not None and birth_date != identity.birth_date:
            raise DomainError(
                "The birth date does not match the ID number.",
                code="birth_date_mismatch",
                fields={"birth_date": ["Does not match the ID number."]},
            )
        if sex is not None and sex != identity.sex:
            raise DomainError(
                "The sex does not match the ID number.",
                code="sex_mismatch",
                fields={"sex": ["Does not match the ID number."]},
            )
        birth_date, sex = identity.birth_date, identity.sex
    if birth_date is None:
        raise DomainError(
            "Enter the birth date.",
            code="birth_date_required",
            fields={"birth_date": ["Required for this document type."]},
        )
    if birth_date > timezone.localdate():
        raise DomainError(
            "The birth date is in the future.",
            code="birth_date_invalid",
            fields={"birth_date": ["In the future."]},
        )
    if sex not in Sex.values:
        raise DomainError(
            "Enter the sex.",
            code="sex_required",
            fields={"sex": ["Required for this document type."]},
        )

    patient = Patient(
        name=_clean_name(name),
        id_type=identity.id_type,
        birth_date=birth_date,
        sex=sex,
        phone=normalize_phone(phone),
        allergies=_clean_text_list(list(allergies), "allergies"),
        chronic_conditions=_clean_text_list(list(chronic_conditions), "chronic_conditions"),
        guardian_name=guardian_name.strip(),
        guardian_relationship=guardian_relationship.strip(),
        guardian_phone=normalize_phone(guardian_phone, field="guardian_phone")
        if guardian_phone
        else "",
        created_by=actor.user,
        **patient_identity_columns(id_type=identity.id_type, number=identity.number),
    )
    hashes = crypto.lookup_hashes(identity_lookup_key(identity.id_type, identity.number))
    exists = ConflictError(
        "A patient with this document is already registered; look them up by document number.",
        code="patient_exists",
        fields={"id_number": ["Already registered."]},
    )
    try:
        with transaction.atomic(durable=True):
            if Patient.objects.filter(id_number_hash__in=hashes).exists():
                raise exists
            patient.save()
            _link_to_facility(patient, facility_id)
            audit_record(
                actor=actor,
                action=AuditAction.CREATE,
                object_type=AUDIT_OBJECT_TYPE,
                object_ids=[patient.public_id],
            )
    except IntegrityError as error:  # a concurrent registration of the same document won
        raise exists from error
    return patient


def patient_update(*, actor: Actor, patient: Patient, **changes: Any) -> Patient:
    """Correct contact details, allergies, conditions or guardian. Documents are not editable."""
    if not actor.has_role(Role.CLINIC_STAFF, Role.OPERATIONS):
        raise PermissionDeniedError("Only clinic staff and operations edit patients.")
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise DomainError(
            "These fields cannot be changed.",
            code="field_not_editable",
            fields={name: ["Not editable."] for name in sorted(unknown)},
        )
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "name":
            cleaned[field] = _clean_name(value)
        elif field in ("phone", "guardian_phone"):
            cleaned[field] = (
                normalize_phone(value, field=field) if value or field == "phone" else ""
            )
        elif field in ("allergies", "chronic_conditions"):
            cleaned[field] = _clean_text_list(value, field)
        else:
            cleaned[field] = value.strip()
    with transaction.atomic(durable=True):
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        changed = sorted(f for f, v in cleaned.items() if getattr(locked, f) != v)
        for field in changed:
            setattr(locked, field, cleaned[field])
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"fields": changed},
        )
    return locked


def patient_verify_identity(
    *, actor: Actor, patient: Patient, method: str, note: str = ""
) -> IdentityVerification:
    """Record that staff checked the document against the person, in person."""
    facility_id = _require_staff_at_facility(actor)
    with transaction.atomic(durable=True):
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        verification = IdentityVerification(
            patient=locked,
            verified_by=actor.user,
            facility_id=facility_id,
            method=method,
            note=note.strip(),
        )
        verification.full_clean(exclude=["patient", "verified_by", "facility"])
        verification.save()
        locked.identity_verified_at = verification.verified_at
        locked.save(update_fields=["identity_verified_at", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"identity_verified": method},
        )
    return verification


def patient_lookup_by_document(*, actor: Actor, id_type: str, id_number: str) -> Patient:
    """Find a patient by the full document number, wherever they were registered.

    Only staff standing with the patient (and the document) can know the full number, so a
    match also records the patient as served at the staff member's facility. Audited as a read.
    """
    facility_id = _require_staff_at_facility(actor)
    identity = parse_identity(id_type, id_number)
    hashes = crypto.lookup_hashes(identity_lookup_key(identity.id_type, identity.number))
    with transaction.atomic(durable=True):
        patient = Patient.objects.filter(id_number_hash__in=hashes).first()
        if patient is None:
            raise NotFoundError(
                "No patient is registered with this document.", code="patient_not_found"
            )
        _link_to_facility(patient, facility_id)
        audit_record(
            actor=actor,
            action=AuditAction.READ,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[patient.public_id],
            detail={"via": "document_lookup"},
        )
    return patient


def patient_decrypt_id_number(*, patient: Patient) -> str:
    return crypto.decrypt_text(patient.id_number_encrypted)


def patients_rotate_keys(*, batch_size: int = 500) -> int:
    """Re-encrypt every document number under the current data key and re-hash it under the
    current lookup key. Safe to interrupt and re-run; lookups work throughout because they try
    every configured key. Returns the number of rows rewritten."""
    rewritten = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                Patient.objects.select_for_update()
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .only("pk", "id_type", "id_number_encrypted", "id_number_hash")[:batch_size]
            )
            if not batch:
                return rewritten
            for patient in batch:
                number = crypto.decrypt_text(patient.id_number_encrypted)
                patient.id_number_encrypted = crypto.reencrypt_text(patient.id_number_encrypted)
                patient.id_number_hash = crypto.lookup_hash(
                    identity_lookup_key(patient.id_type, number)
                )
            Patient.objects.bulk_update(batch, ["id_number_encrypted", "id_number_hash"])
            rewritten += len(batch)
            last_pk = batch[-1].pk
