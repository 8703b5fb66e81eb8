"""What the supervision platform receives about each finished record, and how finished records
are found.

A payload states facts fixed once the record finished (a completed consultation, an approved
prescription's signed content, a dispense), never the record's current state, so the snapshot
taken at collection is what the regulator should get however late it is sent. Values are
strings, integers, booleans and nulls only: the canonical JSON the digest covers refuses floats.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, QuerySet
from django.utils import timezone

from accounts.models import DoctorProfile, PharmacistProfile
from clinics.models import Facility
from consultations.models import Consultation, ConsultationStatus
from interop.models import RegulatorReportKind
from interop.regulator.protocol import sm3_hex
from patients.models import Patient
from patients.services import patient_decrypt_id_number
from pharmacy.models import Dispense
from prescriptions.models import Prescription, PrescriptionStatus

# Statuses a prescription can reach only through the pharmacist's approval (revoked and expired
# also follow a signed-only state, hence the reviewer check as well).
APPROVED_AT_SOME_POINT = (
    PrescriptionStatus.APPROVED,
    PrescriptionStatus.DISPENSED,
    PrescriptionStatus.EXPIRED,
    PrescriptionStatus.REVOKED,
)


def moment(value: datetime.datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value is not None else None


def _patient(patient: Patient) -> dict[str, Any]:
    return {
        "patient_id": str(patient.public_id),
        "name": patient.name,
        "id_type": patient.id_type,
        "id_number": patient_decrypt_id_number(patient=patient),
        "sex": patient.sex,
        "birth_date": patient.birth_date.isoformat(),
    }


def _doctor(doctor: DoctorProfile | None) -> dict[str, Any] | None:
    if doctor is None:
        return None
    return {
        "doctor_id": str(doctor.user.public_id),
        "name": doctor.user.full_name,
        "licence_number": doctor.licence_number,
        "qualification_number": doctor.qualification_number,
        "title": doctor.title,
        "department_code": doctor.department.code,
        "department_name": doctor.department.name,
    }


def _pharmacist(pharmacist: PharmacistProfile | None) -> dict[str, Any] | None:
    if pharmacist is None:
        return None
    return {
        "pharmacist_id": str(pharmacist.user.public_id),
        "name": pharmacist.user.full_name,
        "licence_number": pharmacist.licence_number,
        "title": pharmacist.title,
    }


def _facility(facility: Facility | None) -> dict[str, Any] | None:
    if facility is None:
        return None
    return {
        "facility_code": facility.code,
        "name": facility.name,
        "facility_type": facility.facility_type,
        "province": facility.province,
        "city": facility.city,
        "district": facility.district,
        "licensed_medical_institution": facility.is_licensed_medical_institution,
    }


def consultation_payload(consultation: Consultation) -> dict[str, Any]:
    return {
        "consultation_id": str(consultation.public_id),
        "visit_kind": consultation.kind,
        "outcome": consultation.status,
        "patient": _patient(consultation.patient),
        "doctor": _doctor(consultation.doctor),
        "department_code": consultation.department.code,
        "facility": _facility(consultation.facility),
        "scheduled_start": moment(consultation.scheduled_start),
        "checked_in_at": moment(consultation.checked_in_at),
        "started_at": moment(consultation.started_at),
        "ended_at": moment(consultation.ended_at),
        "diagnoses": [
            {
                "icd10": diagnosis.code.code,
                "name": diagnosis.code.name_zh,
                "primary": diagnosis.is_primary,
            }
            for diagnosis in consultation.diagnoses.all()
        ],
        "termination_reason": consultation.termination_reason or None,
        "fee_fen": consultation.fee_fen,
    }


def prescription_approved_payload(prescription: Prescription) -> dict[str, Any]:
    return {
        "prescription_id": str(prescription.public_id),
        "prescription_number": prescription.number,
        "version": prescription.version,
        "consultation_id": str(prescription.consultation.public_id),
        "patient": _patient(prescription.patient),
        "doctor": _doctor(prescription.doctor),
        "pharmacist": _pharmacist(prescription.pharmacist),
        "diagnosis": {"icd10": prescription.diagnosis.code, "name": prescription.diagnosis.name_zh},
        "signed_at": moment(prescription.signed_at),
        "reviewed_at": moment(prescription.reviewed_at),
        "valid_until": moment(prescription.valid_until),
        "long_term": prescription.long_term,
        "items": [
            {
                "position": item.position,
                "drug_code": item.drug.code,
                "generic_name": item.drug.name_zh,
                "atc_code": item.drug.atc_code,
                "dosage_form": item.drug.dosage_form,
                "strength": item.drug.strength,
                "dose": str(item.dose.normalize()),
                "dose_unit": item.dose_unit,
                "frequency": item.frequency,
                "route": item.route,
                "days_supply": item.days_supply,
                "quantity": item.quantity,
                "pack_unit": item.drug.pack_unit,
                "unit_price_fen": item.unit_price_fen,
            }
            for item in prescription.items.all()
        ],
        "doctor_certificate_serial": prescription.doctor_certificate_serial,
        "pharmacist_certificate_serial": prescription.pharmacist_certificate_serial,
        "signed_content_sm3": sm3_hex(prescription.signed_content.encode()),
        "review_content_sm3": sm3_hex(prescription.review_content.encode()),
    }


def prescription_dispensed_payload(prescription: Prescription) -> dict[str, Any]:
    return {
        "prescription_id": str(prescription.public_id),
        "prescription_number": prescription.number,
        "version": prescription.version,
        "patient_id": str(prescription.patient.public_id),
        "dispensed_at": moment(prescription.dispensed_at),
    }


def dispense_payload(dispense: Dispense) -> dict[str, Any]:
    prescription = dispense.prescription
    return {
        "prescription_id": str(prescription.public_id),
        "prescription_number": prescription.number,
        "version": prescription.version,
        "patient_id": str(prescription.patient.public_id),
        "dispensed_at": moment(dispense.dispensed_at),
        "method": dispense.fulfilment.method,
        "facility": _facility(dispense.facility),
        "dispensed_by_role": dispense.actor_role,
        "items": [
            {
                "drug_code": item.drug.code,
                "generic_name": item.drug.name_zh,
                "quantity": item.quantity,
            }
            for item in dispense.items.all()
        ],
    }


@dataclass(frozen=True)
class FeedKind:
    kind: str
    finished: Callable[[], QuerySet[Any]]
    occurred_field: str
    reference: Callable[[Any], str]
    payload: Callable[[Any], dict[str, Any]]

    def occurred_at(self, row: Model) -> datetime.datetime:
        value: datetime.datetime = getattr(row, self.occurred_field)
        return value


def _consultations(status: str) -> Callable[[], QuerySet[Consultation]]:
    def rows() -> QuerySet[Consultation]:
        return (
            Consultation.objects.filter(status=status, ended_at__isnull=False)
            .select_related(
                "patient", "doctor__user", "doctor__department", "department", "facility"
            )
            .prefetch_related("diagnoses__code")
        )

    return rows


def _approved_prescriptions() -> QuerySet[Prescription]:
    return (
        Prescription.objects.filter(
            status__in=APPROVED_AT_SOME_POINT, pharmacist__isnull=False, reviewed_at__isnull=False
        )
        .select_related(
            "patient",
            "consultation",
            "doctor__user",
            "doctor__department",
            "pharmacist__user",
            "diagnosis",
        )
        .prefetch_related("items__drug")
    )


def _dispensed_prescriptions() -> QuerySet[Prescription]:
    return Prescription.objects.filter(status=PrescriptionStatus.DISPENSED).select_related(
        "patient"
    )


def _dispenses() -> QuerySet[Dispense]:
    return Dispense.objects.select_related(
        "prescription__patient", "fulfilment", "facility"
    ).prefetch_related("items__drug")


def _number_version(prescription: Prescription) -> str:
    return f"{prescription.number}-{prescription.version}"


FEED_KINDS: tuple[FeedKind, ...] = (
    FeedKind(
        kind=RegulatorReportKind.CONSULTATION_COMPLETED,
        finished=_consultations(ConsultationStatus.COMPLETED),
        occurred_field="ended_at",
        reference=lambda consultation: str(consultation.public_id),
        payload=consultation_payload,
    ),
    FeedKind(
        kind=RegulatorReportKind.CONSULTATION_TERMINATED,
        finished=_consultations(ConsultationStatus.TERMINATED),
        occurred_field="ended_at",
        reference=lambda consultation: str(consultation.public_id),
        payload=consultation_payload,
    ),
    FeedKind(
        kind=RegulatorReportKind.PRESCRIPTION_APPROVED,
        finished=_approved_prescriptions,
        occurred_field="reviewed_at",
        reference=_number_version,
        payload=prescription_approved_payload,
    ),
    FeedKind(
        kind=RegulatorReportKind.PRESCRIPTION_DISPENSED,
        finished=_dispensed_prescriptions,
        occurred_field="dispensed_at",
        reference=_number_version,
        payload=prescription_dispensed_payload,
    ),
    FeedKind(
        kind=RegulatorReportKind.DISPENSE_RECORDED,
        finished=_dispenses,
        occurred_field="dispensed_at",
        reference=lambda dispense: _number_version(dispense.prescription),
        payload=dispense_payload,
    ),
)
