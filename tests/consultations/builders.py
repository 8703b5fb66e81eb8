"""Consultations in a chosen state, with everything a transition needs around them."""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import User
from clinics.models import Facility
from consultations.models import (
    ClinicalNote,
    Consultation,
    ConsultationDiagnosis,
    ConsultationKind,
    Slot,
)
from patients.models import (
    ConsentRecord,
    ConsentTemplate,
    Patient,
    PriorDiagnosisEvidence,
)
from terminology.models import Icd10Code
from tests.factories import make_doctor, make_facility, make_patient, make_staff, resident_id


def icd10(
    code: str = "I10",
    name_zh: str = "特发性(原发性)高血压",
    name_en: str = "Essential hypertension",
) -> Icd10Code:
    row, _ = Icd10Code.objects.get_or_create(
        code=code, defaults={"name_zh": name_zh, "name_en": name_en}
    )
    return row


def give_consent(patient: Patient, staff: User) -> ConsentRecord:
    template, _ = ConsentTemplate.objects.get_or_create(
        version="test",
        language="zh-hans",
        defaults={"title": "知情同意书", "text": "同意远程诊疗。"},
    )
    return ConsentRecord.objects.create(
        patient=patient,
        template=template,
        text_sha256="0" * 64,
        signer="patient",
        signer_name=patient.name,
        method="terminal_confirmation",
        facility_id=staff.staff_membership.facility_id,
        recorded_by=staff,
        signed_at=timezone.now(),
    )


def give_evidence(
    patient: Patient, staff: User, *, verified_by: User | None
) -> PriorDiagnosisEvidence:
    return PriorDiagnosisEvidence.objects.create(
        patient=patient,
        document="evidence/test.pdf",
        document_name="门诊病历.pdf",
        content_type="application/pdf",
        size_bytes=1024,
        issuing_institution="广州市第一人民医院",
        diagnosis=icd10(),
        diagnosis_date=datetime.date(2024, 3, 1),
        uploaded_by=staff,
        verified_by=verified_by,
        verified_at=timezone.now() if verified_by else None,
    )


@dataclass
class Visit:
    consultation: Consultation
    facility: Facility
    staff: User
    doctor: User
    patient: Patient

    def refresh(self) -> Consultation:
        self.consultation.refresh_from_db()
        return self.consultation


def make_visit(
    status: str = "booked",
    *,
    starts_in: datetime.timedelta = datetime.timedelta(minutes=10),
    consent: bool = True,
    evidence: bool = True,
    record: bool = True,
    facility: Facility | None = None,
    doctor: User | None = None,
) -> Visit:
    """A scheduled consultation in `status`, its patient consented with verified evidence, and
    (for started ones) a note with an assessment and a primary diagnosis."""
    facility = facility or make_facility()
    staff = make_staff(facility=facility)
    doctor = doctor or make_doctor()
    patient = make_patient(staff, id_number=resident_id())
    if consent:
        give_consent(patient, staff)
    if evidence:
        give_evidence(patient, staff, verified_by=doctor)
    profile = doctor.doctor_profile
    start = timezone.now() + starts_in
    slot = Slot.objects.create(
        doctor=profile,
        department=profile.department,
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=15),
    )
    consultation = Consultation.objects.create(
        patient=patient,
        department=profile.department,
        doctor=profile,
        facility=facility,
        kind=ConsultationKind.SCHEDULED,
        slot=slot,
        scheduled_start=slot.starts_at,
        scheduled_end=slot.ends_at,
        status=status,
        fee_fen=profile.department.consultation_fee_fen,
        booked_by=staff,
        retention_until=datetime.date(2041, 1, 1),
        checked_in_at=timezone.now() if status != "booked" else None,
        started_at=timezone.now() if status in ("in_progress", "completed", "terminated") else None,
    )
    if record and status == "in_progress":
        ClinicalNote.objects.create(
            consultation=consultation, assessment="血压控制尚可", author=doctor
        )
        ConsultationDiagnosis.objects.create(
            consultation=consultation, code=icd10(), is_primary=True, recorded_by=doctor
        )
    return Visit(
        consultation=consultation, facility=facility, staff=staff, doctor=doctor, patient=patient
    )
