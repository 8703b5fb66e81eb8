"""Verifying a signed prescription: both signatures, the binding between them, the certificates,
and that the stored prescription still says what was signed.

`verify_document` needs no database: it checks an export (`export_document`) against the CA
certificates the verifier trusts. The other functions read the prescription from the database.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prescriptions.content import CONTENT_FORMAT, REVIEW_FORMAT, clinical_content, sha256_hex
from prescriptions.models import Prescription
from signing.verification import verify_signature

EXPORT_FORMAT = "telehealth.prescription-export/1"
# The parts of the signed content the prescription itself owns. A patient's later change of
# name or a doctor's move to another department is not a change of the prescription.
OWNED_PARTS = ("prescription", "diagnosis", "items", "supply", "acknowledged_warnings", "validity")


@dataclass
class VerificationReport:
    problems: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.problems


def _parse_time(value: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _check_signature(
    report: VerificationReport,
    *,
    slot: str,
    content: str,
    signature: str,
    certificate: str,
    signed_at: datetime.datetime | None,
    trusted_ca_pems: Sequence[str],
    revoked: Mapping[str, datetime.datetime] | None,
) -> None:
    if not (content and signature and certificate) or signed_at is None:
        report.problems.append(f"{slot}:signature_missing")
        return
    result = verify_signature(
        payload=content.encode(),
        signature_b64=signature,
        certificate_pem=certificate,
        trusted_ca_pems=trusted_ca_pems,
        signed_at=signed_at,
        expected_role=slot,
        revoked=revoked,
    )
    report.problems.extend(f"{slot}:{problem}" for problem in result.problems)


def verify_document(
    document: dict[str, Any],
    *,
    trusted_ca_pems: Sequence[str],
    revoked: Mapping[str, datetime.datetime] | None = None,
) -> VerificationReport:
    """Check an exported signed prescription offline (`revoked`: certificate serial → time of
    revocation, when the verifier has the platform's list)."""
    report = VerificationReport()
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        report.problems.append("export_format_unknown")
        return report
    doctor = document.get("doctor") or {}
    try:
        content = json.loads(doctor.get("content") or "")
    except ValueError:
        content = None
    if not isinstance(content, dict) or content.get("format") != CONTENT_FORMAT:
        report.problems.append("doctor:content_malformed")
        return report
    _check_signature(
        report,
        slot="doctor",
        content=doctor.get("content", ""),
        signature=doctor.get("signature", ""),
        certificate=doctor.get("certificate", ""),
        signed_at=_parse_time(content.get("signed_at")),
        trusted_ca_pems=trusted_ca_pems,
        revoked=revoked,
    )
    report.details["content"] = content
    pharmacist = document.get("pharmacist")
    if pharmacist:
        try:
            review = json.loads(pharmacist.get("content") or "")
        except ValueError:
            review = None
        if not isinstance(review, dict) or review.get("format") != REVIEW_FORMAT:
            report.problems.append("pharmacist:content_malformed")
            return report
        _check_signature(
            report,
            slot="pharmacist",
            content=pharmacist.get("content", ""),
            signature=pharmacist.get("signature", ""),
            certificate=pharmacist.get("certificate", ""),
            signed_at=_parse_time(review.get("reviewed_at")),
            trusted_ca_pems=trusted_ca_pems,
            revoked=revoked,
        )
        if review.get("signed_content_sha256") != sha256_hex(
            doctor.get("content", "")
        ) or review.get("doctor_signature_sha256") != sha256_hex(doctor.get("signature", "")):
            report.problems.append("pharmacist:countersignature_not_bound")
        report.details["review"] = review
    return report


def export_document(prescription: Prescription) -> dict[str, Any]:
    """A signed prescription with its signatures and certificates, verifiable anywhere."""
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "number": prescription.number,
        "version": prescription.version,
        "doctor": {
            "content": prescription.signed_content,
            "signature": prescription.doctor_signature,
            "certificate": prescription.doctor_certificate,
        },
        "pharmacist": None,
    }
    if prescription.pharmacist_signature:
        document["pharmacist"] = {
            "content": prescription.review_content,
            "signature": prescription.pharmacist_signature,
            "certificate": prescription.pharmacist_certificate,
        }
    return document


def _diff(signed: Any, current: Any, path: str) -> list[str]:
    if isinstance(signed, dict) and isinstance(current, dict):
        paths = []
        for key in sorted(set(signed) | set(current)):
            paths.extend(_diff(signed.get(key), current.get(key), f"{path}.{key}"))
        return paths
    if isinstance(signed, list) and isinstance(current, list) and len(signed) == len(current):
        paths = []
        for index, (a, b) in enumerate(zip(signed, current, strict=True)):
            paths.extend(_diff(a, b, f"{path}[{index}]"))
        return paths
    return [] if signed == current else [path]


def verify_prescription_signatures(prescription: Prescription) -> VerificationReport:
    """Signatures and certificates, plus: does the stored prescription still match them?"""
    from signing.selectors import revoked_certificates, trusted_ca_certificates

    report = verify_document(
        export_document(prescription),
        trusted_ca_pems=trusted_ca_certificates(),
        revoked=revoked_certificates(),
    )
    content = report.details.get("content")
    if content is None or prescription.signed_at is None or prescription.valid_until is None:
        return report
    current = clinical_content(
        prescription, signed_at=prescription.signed_at, valid_until=prescription.valid_until
    )
    changed = []
    for part in OWNED_PARTS:
        changed.extend(_diff(content.get(part), current.get(part), part))
    if changed:
        report.problems.append("content_changed")
        report.details["changed"] = changed
    review = report.details.get("review")
    if review is not None and (
        review.get("prescription") != str(prescription.public_id)
        or review.get("decision") != "approved"
    ):
        report.problems.append("pharmacist:decision_mismatch")
    return report


def verification_summary(prescription: Prescription) -> dict[str, Any]:
    """What the public verification page and the `verify` action show (patient name masked)."""
    from notifications.events import masked_name

    report = verify_prescription_signatures(prescription)
    pharmacist = prescription.pharmacist
    return {
        "valid": report.valid,
        "problems": report.problems,
        "changed": report.details.get("changed", []),
        "number": prescription.number,
        "version": prescription.version,
        "status": prescription.status,
        "patient_name": masked_name(prescription.patient.name),
        "doctor_name": prescription.doctor.user.full_name,
        "doctor_signed_at": prescription.signed_at,
        "doctor_certificate_serial": prescription.doctor_certificate_serial,
        "pharmacist_name": pharmacist.user.full_name if pharmacist else "",
        "pharmacist_signed_at": prescription.reviewed_at if pharmacist else None,
        "pharmacist_certificate_serial": prescription.pharmacist_certificate_serial,
        "valid_until": prescription.valid_until,
        "items": [item.drug.name_zh for item in prescription.items.all()],
        "diagnosis": prescription.diagnosis.name_zh,
    }
