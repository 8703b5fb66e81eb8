"""What is signed: the canonical serialisation of a prescription's clinical content (SPEC §5),
and the pharmacist's countersignature over the doctor's signed content and the decision."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from signing.canonical import canonical_json

if TYPE_CHECKING:
    from prescriptions.models import Prescription, PrescriptionItem, PrescriptionWarning

CONTENT_FORMAT = "telehealth.prescription/1"
REVIEW_FORMAT = "telehealth.prescription-review/1"


def _iso(value: datetime.datetime | None) -> str | None:
    """Local (Asia/Shanghai) time, so the same instant always serialises the same way."""
    return timezone.localtime(value).isoformat(timespec="seconds") if value is not None else None


def clinical_content(
    prescription: Prescription,
    *,
    signed_at: datetime.datetime,
    valid_until: datetime.datetime,
    items: Sequence[PrescriptionItem] | None = None,
    warnings: Sequence[PrescriptionWarning] | None = None,
) -> dict[str, Any]:
    """Patient, doctor, diagnosis, items, validity and version, as the doctor signs them.

    `items` (by position, with their drugs) and `warnings` (by key) default to the stored rows;
    a bulk writer passes the rows it is about to insert."""
    if items is None:
        items = list(prescription.items.select_related("drug").order_by("position"))
    if warnings is None:
        warnings = list(prescription.warnings.order_by("key"))
    patient = prescription.patient
    doctor = prescription.doctor
    previous = prescription.previous_version
    return {
        "format": CONTENT_FORMAT,
        "institution": settings.NOTIFICATION_HOSPITAL_NAME,
        "prescription": {
            "id": str(prescription.public_id),
            "number": prescription.number,
            "version": prescription.version,
            "previous_version": str(previous.public_id) if previous else None,
            "consultation": str(prescription.consultation.public_id),
        },
        "patient": {
            "id": str(patient.public_id),
            "name": patient.name,
            "sex": patient.sex,
            "birth_date": patient.birth_date.isoformat(),
            "guardian": (
                {
                    "name": prescription.guardian_name,
                    "relationship": prescription.guardian_relationship,
                }
                if prescription.guardian_name
                else None
            ),
        },
        "doctor": {
            "id": str(doctor.user.public_id),
            "name": doctor.user.full_name,
            "licence_number": doctor.licence_number,
            "department": doctor.department.name,
        },
        "diagnosis": {
            "code": prescription.diagnosis.code,
            "name": prescription.diagnosis.name_zh,
            "evidence": str(prescription.evidence.public_id),
        },
        "items": [
            {
                "drug": item.drug.code,
                "name": item.drug.name_zh,
                "strength": item.drug.strength,
                "form": item.drug.dosage_form,
                "dose": format(item.dose.normalize(), "f"),
                "dose_unit": item.dose_unit,
                "frequency": item.frequency,
                "route": item.route,
                "days_supply": item.days_supply,
                "quantity": item.quantity,
                "pack_unit": item.drug.pack_unit,
                "instructions": item.instructions,
            }
            for item in items
        ],
        "supply": {
            "reason": prescription.supply_reason,
            "long_term": prescription.long_term,
            "long_term_assessment": prescription.long_term_assessment,
            "patient_confirmed": prescription.long_term_patient_confirmed,
        },
        "acknowledged_warnings": [
            {
                "kind": warning.kind,
                "message": warning.message,
                "reason": warning.acknowledged_reason,
            }
            for warning in warnings
        ],
        "validity": {
            "days": prescription.validity_days,
            "reason": prescription.validity_reason,
            "valid_until": _iso(valid_until),
        },
        "signed_at": _iso(signed_at),
    }


def content_bytes(content: dict[str, Any]) -> bytes:
    return canonical_json(content)


def sha256_hex(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def review_content(
    prescription: Prescription,
    *,
    decision: str,
    reviewed_at: datetime.datetime,
    pharmacist_name: str,
    pharmacist_id: str,
    pharmacist_licence: str,
) -> dict[str, Any]:
    """The countersignature binds the pharmacist's decision to the doctor's exact signature."""
    return {
        "format": REVIEW_FORMAT,
        "prescription": str(prescription.public_id),
        "number": prescription.number,
        "version": prescription.version,
        "signed_content_sha256": sha256_hex(prescription.signed_content),
        "doctor_signature_sha256": sha256_hex(prescription.doctor_signature),
        "decision": decision,
        "reviewed_at": _iso(reviewed_at),
        "pharmacist": {
            "id": pharmacist_id,
            "name": pharmacist_name,
            "licence_number": pharmacist_licence,
        },
    }
