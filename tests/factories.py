"""Test data builders. Patients and terminals are made through their services, as in use."""

import datetime
import itertools
from typing import Any

from django.contrib.auth.hashers import make_password
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import DoctorProfile, DoctorTitle, Role, User
from clinics.models import Department, Facility, FacilityType, Hospital, StaffMembership
from clinics.services import IssuedCredential, terminal_register
from core.actors import Actor, actor_for_user
from patients.identity import resident_id_with_check_digit
from patients.models import Patient
from patients.services import patient_register

PASSWORD = "correct-horse-battery-9"
_PASSWORD_HASH = make_password(PASSWORD)
_sequence = itertools.count(1)


def make_hospital() -> Hospital:
    hospital, _ = Hospital.objects.get_or_create(
        code="GD2H", defaults={"name": "广东省第二人民医院"}
    )
    return hospital


def make_department(**fields: Any) -> Department:
    n = next(_sequence)
    values: dict[str, Any] = {
        "hospital": make_hospital(),
        "code": f"D{n:03d}",
        "name": f"科室{n}",
        "consultation_fee_fen": 3000,
    }
    return Department.objects.create(**(values | fields))


def make_facility(**fields: Any) -> Facility:
    n = next(_sequence)
    values: dict[str, Any] = {
        "code": f"TF{n:05d}",
        "name": f"测试药店{n}",
        "facility_type": FacilityType.PHARMACY,
        "province": "广东省",
        "city": "广州市",
        "district": "越秀区",
        "operator": "大参林医药集团",
    }
    return Facility.objects.create(**(values | fields))


def make_user(**fields: Any) -> User:
    """An operations user unless told otherwise; everyone's password is PASSWORD."""
    n = next(_sequence)
    values: dict[str, Any] = {
        "username": f"user{n}",
        "full_name": f"用户{n}",
        "role": Role.OPERATIONS,
        "password": _PASSWORD_HASH,
    }
    return User.objects.create(**(values | fields))


def make_staff(facility: Facility | None = None, **kwargs: Any) -> User:
    user = make_user(role=Role.CLINIC_STAFF, **kwargs)
    StaffMembership.objects.create(user=user, facility=facility or make_facility())
    return user


def make_doctor(*, practice_since: datetime.date | None = None, **kwargs: Any) -> User:
    user = make_user(role=Role.DOCTOR, **kwargs)
    n = next(_sequence)
    DoctorProfile.objects.create(
        user=user,
        department=make_department(),
        licence_number=f"1104400000{n:05d}",
        qualification_number=f"2004400000{n:05d}",
        title=DoctorTitle.ATTENDING,
        independent_practice_since=practice_since or datetime.date(2015, 7, 1),
    )
    return user


def make_terminal(facility: Facility | None = None) -> IssuedCredential:
    operations = Actor(role=Role.OPERATIONS)
    return terminal_register(
        actor=operations,
        facility=facility or make_facility(),
        serial=f"TT{next(_sequence):06d}",
    )


def resident_id(
    *, region: str = "440104", birth: str = "19900101", sequence: int | None = None
) -> str:
    """A valid 18-digit resident ID; the sequence's last digit odd = male."""
    seq = sequence if sequence is not None else next(_sequence) % 1000
    return resident_id_with_check_digit(f"{region}{birth}{seq:03d}")


def make_patient(staff: User, **kwargs: Any) -> Patient:
    fields: dict[str, Any] = {
        "name": "陈志强",
        "id_type": "resident_id",
        "id_number": resident_id(),
        "phone": "13800138000",
    }
    fields.update(kwargs)
    return patient_register(actor=actor_for_user(staff), **fields)


def api_client(user: User | None = None) -> APIClient:
    """A client carrying a real bearer token, as a mobile app or terminal console would."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def terminal_client(credential: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Terminal {credential}")
    return client


# Mon-Fri 08:30-12:00 and 14:00-17:30 (the gap is the lunch break).
WORKDAY_WINDOWS = tuple(
    (weekday, starts, ends)
    for weekday in range(5)
    for starts, ends in (("08:30", "12:00"), ("14:00", "17:30"))
)


def make_schedule(
    doctor: User, windows: tuple[tuple[int, str, str], ...] = WORKDAY_WINDOWS
) -> list[Any]:
    """Weekly windows (weekday, "HH:MM", "HH:MM") written directly: no slots are generated."""
    from consultations.models import WeeklyAvailability

    return WeeklyAvailability.objects.bulk_create(
        WeeklyAvailability(
            doctor=doctor.doctor_profile,
            weekday=weekday,
            starts_at=datetime.time.fromisoformat(starts),
            ends_at=datetime.time.fromisoformat(ends),
        )
        for weekday, starts, ends in windows
    )


def make_slot(
    doctor: User,
    *,
    starts_at: datetime.datetime | None = None,
    starts_in: datetime.timedelta = datetime.timedelta(days=1),
    minutes: int = 15,
    **fields: Any,
) -> Any:
    """One slot of the doctor in their department, `starts_in` from now unless `starts_at`."""
    from django.utils import timezone

    from consultations.models import Slot

    profile = doctor.doctor_profile
    start = starts_at or timezone.now().replace(microsecond=0) + starts_in
    values: dict[str, Any] = {
        "doctor": profile,
        "department": profile.department,
        "starts_at": start,
        "ends_at": start + datetime.timedelta(minutes=minutes),
    }
    return Slot.objects.create(**(values | fields))


def make_consent(patient: Patient, staff: User, **fields: Any) -> Any:
    """Consent to the seeded 2026.1 text, signed by the patient (the guardian if one is
    recorded), recorded through the service."""
    from patients.consents import consent_record
    from patients.models import ConsentTemplate

    # Transactional tests empty the seeded tables; put the text back if it is gone.
    ConsentTemplate.objects.get_or_create(
        version="2026.1",
        language="zh-hans",
        defaults={"title": "互联网诊疗知情同意书", "text": "本人同意接受互联网复诊服务。"},
    )
    values: dict[str, Any] = {
        "template_version": "2026.1",
        "language": "zh-hans",
        "signer": "guardian" if patient.guardian_name else "patient",
        "signer_name": patient.guardian_name or patient.name,
        "method": "terminal_confirmation",
    }
    return consent_record(actor=actor_for_user(staff), patient=patient, **(values | fields))


# The smallest file the evidence upload accepts as a PDF (it checks the leading bytes).
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def make_evidence(
    patient: Patient, staff: User, verified_by: User | None = None, **fields: Any
) -> Any:
    """Evidence of an earlier hypertension (I10) diagnosis, uploaded through the service (use a
    temporary MEDIA_ROOT: `settings.MEDIA_ROOT = tmp_path`). `verified_by` verifies it through
    the service too, so that doctor needs a consultation with the patient (make_consultation)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from patients.evidence import evidence_upload, evidence_verify
    from terminology.models import Icd10Code

    Icd10Code.objects.get_or_create(
        code="I10",
        defaults={
            "name_zh": "特发性（原发性）高血压",
            "name_en": "Essential (primary) hypertension",
            "chapter": "IX",
            "is_chronic": True,
        },
    )
    values: dict[str, Any] = {
        "document": SimpleUploadedFile("门诊病历.pdf", PDF_BYTES, content_type="application/pdf"),
        "issuing_institution": "广州市第一人民医院",
        "diagnosis_code": "I10",
        "diagnosis_date": datetime.date(2024, 3, 1),
    }
    evidence = evidence_upload(actor=actor_for_user(staff), patient=patient, **(values | fields))
    if verified_by is not None:
        evidence = evidence_verify(actor=actor_for_user(verified_by), evidence=evidence)
    return evidence


def make_consultation(
    *, patient: Patient, doctor_user: User, facility: Facility, status: str = "booked"
) -> Any:
    """A scheduled consultation in `status`, in a new slot of the doctor starting in about an
    hour (later when that time is taken), booked by staff of `facility`. Written directly: use
    the booking services to test booking."""
    from django.utils import timezone

    from consultations.models import RECORD_RETENTION_YEARS, Consultation, Slot
    from core.dates import years_after

    profile = doctor_user.doctor_profile
    start = timezone.now().replace(second=0, microsecond=0) + datetime.timedelta(hours=1)
    slot_length = datetime.timedelta(minutes=profile.department.slot_minutes)
    while Slot.objects.filter(
        doctor=profile, starts_at__lt=start + slot_length, ends_at__gt=start
    ).exists():
        start += slot_length
    slot = make_slot(doctor_user, starts_at=start, minutes=profile.department.slot_minutes)
    return Consultation.objects.create(
        patient=patient,
        department=profile.department,
        doctor=profile,
        facility=facility,
        kind="scheduled",
        slot=slot,
        scheduled_start=slot.starts_at,
        scheduled_end=slot.ends_at,
        status=status,
        fee_fen=profile.department.consultation_fee_fen,
        booked_by=make_staff(facility=facility),
        retention_until=years_after(timezone.localdate(), RECORD_RETENTION_YEARS),
    )


def make_patient_user(patient: Patient) -> User:
    """Give the patient a sign-in account of their own (role patient)."""
    user = make_user(role=Role.PATIENT, full_name=patient.name)
    Patient.objects.filter(pk=patient.pk).update(user=user)
    patient.user = user
    return user
