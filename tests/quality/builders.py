"""Consultations, prescriptions and people of known times and titles, written directly with the
ORM (their own flows have their own tests), for the quality tests' hand-checked datasets."""

import datetime
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts.models import (
    DoctorProfile,
    DoctorTitle,
    PharmacistProfile,
    PharmacistTitle,
    Role,
    User,
)
from clinics.models import Department, Facility
from consultations.models import (
    ClinicalNote,
    Consultation,
    ConsultationDiagnosis,
    ConsultationKind,
    ConsultationStatus,
    Slot,
)
from core.dates import local_day_start
from patients.models import Patient, PriorDiagnosisEvidence
from prescriptions.models import Prescription, PrescriptionItem, PrescriptionStatus
from tests.consultations.builders import give_evidence, icd10
from tests.factories import (
    make_facility,
    make_patient,
    make_patient_user,
    make_staff,
    make_user,
    resident_id,
)
from tests.prescriptions.builders import make_drug

_sequence = itertools.count(1)


def at(day: datetime.date, clock: str) -> datetime.datetime:
    """A local (Asia/Shanghai) time on `day`, e.g. at(day, "09:30:15")."""
    parsed = datetime.time.fromisoformat(clock)
    return local_day_start(day) + datetime.timedelta(
        hours=parsed.hour, minutes=parsed.minute, seconds=parsed.second
    )


def make_doctor_in(
    department: Department, *, title: str = DoctorTitle.ATTENDING, name: str = ""
) -> User:
    n = next(_sequence)
    user = make_user(role=Role.DOCTOR, **({"full_name": name} if name else {}))
    DoctorProfile.objects.create(
        user=user,
        department=department,
        licence_number=f"1204400000{n:05d}",
        qualification_number=f"2204400000{n:05d}",
        title=title,
        independent_practice_since=datetime.date(2012, 7, 1),
    )
    return user


def make_reviewing_pharmacist(title: str = PharmacistTitle.SUPERVISING) -> User:
    user = make_user(role=Role.PHARMACIST)
    PharmacistProfile.objects.create(user=user, licence_number=f"QP{user.pk:08d}", title=title)
    return user


@dataclass
class Site:
    """A facility with one staff member and one patient (who has a sign-in account)."""

    facility: Facility
    staff: User
    patient: Patient
    patient_user: User


def make_site(**facility: Any) -> Site:
    place = make_facility(**facility)
    staff = make_staff(facility=place)
    patient = make_patient(staff, id_number=resident_id())
    return Site(place, staff, patient, make_patient_user(patient))


def make_consultation(
    *,
    doctor: User,
    site: Site,
    status: str = ConsultationStatus.COMPLETED,
    checked_in_at: datetime.datetime | None = None,
    started_at: datetime.datetime | None = None,
    ended_at: datetime.datetime | None = None,
    record: bool = False,
) -> Consultation:
    """A scheduled consultation of `doctor` at the site, its slot starting at `started_at` (or
    now); `record` adds a note and a primary diagnosis."""
    profile = doctor.doctor_profile
    start = started_at or timezone.now()
    slot = Slot.objects.create(
        doctor=profile,
        department=profile.department,
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=15),
    )
    consultation = Consultation.objects.create(
        patient=site.patient,
        department=profile.department,
        doctor=profile,
        facility=site.facility,
        kind=ConsultationKind.SCHEDULED,
        slot=slot,
        scheduled_start=slot.starts_at,
        scheduled_end=slot.ends_at,
        status=status,
        fee_fen=3000,
        booked_by=site.staff,
        retention_until=datetime.date(2041, 1, 1),
        checked_in_at=checked_in_at,
        started_at=started_at,
        ended_at=ended_at,
    )
    if record:
        ClinicalNote.objects.create(
            consultation=consultation,
            subjective="头晕两周",
            assessment="血压控制欠佳",
            plan="调整降压药",
            author=doctor,
        )
        ConsultationDiagnosis.objects.create(
            consultation=consultation, code=icd10(), is_primary=True, recorded_by=doctor
        )
    return consultation


def completed_at(
    *, doctor: User, site: Site, ended_at: datetime.datetime, **fields: Any
) -> Consultation:
    """A completed consultation that ended at `ended_at` (checked in 10 and started 5 minutes
    before it unless told)."""
    return make_consultation(
        doctor=doctor,
        site=site,
        checked_in_at=fields.pop("checked_in_at", ended_at - datetime.timedelta(minutes=10)),
        started_at=fields.pop("started_at", ended_at - datetime.timedelta(minutes=5)),
        ended_at=ended_at,
        **fields,
    )


def ended(consultation: Consultation) -> datetime.datetime:
    assert consultation.ended_at is not None
    return consultation.ended_at


def _evidence(consultation: Consultation) -> PriorDiagnosisEvidence:
    existing = PriorDiagnosisEvidence.objects.filter(patient=consultation.patient).first()
    assert consultation.doctor is not None
    return existing or give_evidence(
        consultation.patient, consultation.booked_by, verified_by=consultation.doctor.user
    )


def make_reviewed_prescription(
    consultation: Consultation,
    *,
    pharmacist: User,
    reviewed_at: datetime.datetime,
    status: str = PrescriptionStatus.APPROVED,
    reasons: tuple[str, ...] = (),
) -> Prescription:
    """A prescription of the consultation the pharmacist decided at `reviewed_at`: approved, or
    rejected citing `reasons`."""
    n = next(_sequence)
    assert consultation.doctor is not None
    prescription = Prescription.objects.create(
        number=f"RXQ{n:09d}",
        consultation=consultation,
        patient=consultation.patient,
        doctor=consultation.doctor,
        status=status,
        diagnosis=icd10(),
        evidence=_evidence(consultation),
        signed_at=reviewed_at - datetime.timedelta(minutes=10),
        valid_until=reviewed_at + datetime.timedelta(hours=12),
        reviewed_at=reviewed_at,
        pharmacist=pharmacist.pharmacist_profile,
        rejection_reasons=list(reasons),
        rejection_comment="请修改" if reasons else "",
        retention_until=datetime.date(2041, 1, 1),
    )
    PrescriptionItem.objects.create(
        prescription=prescription,
        position=1,
        drug=make_drug(),
        dose=Decimal(5),
        dose_unit="mg",
        frequency="qd",
        route="oral",
        days_supply=7,
        quantity=1,
        unit_price_fen=2350,
    )
    return prescription
