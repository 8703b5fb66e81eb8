"""`manage.py seed_demo`: counts, valid identities, the demo credentials, idempotence."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Model
from django.utils import timezone
from pytest_django import Settings
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory
from stdnum.cn import ric

from accounts.models import DoctorProfile, PharmacistProfile, Role, User
from clinics.authentication import TerminalCredentialAuthentication
from clinics.models import Department, Facility, FacilityType, Hospital, StaffMembership, Terminal
from consultations.models import Slot, WeeklyAvailability
from core.crypto import decrypt_text
from core.demo import data
from patients.identity import normalize_phone, parse_resident_id
from patients.models import IdentityVerification, Patient, PatientFacility

MODELS: list[type[Model]] = [
    Hospital,
    Department,
    User,
    DoctorProfile,
    PharmacistProfile,
    Facility,
    Terminal,
    StaffMembership,
    Patient,
    PatientFacility,
    IdentityVerification,
]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    """Full-strength PBKDF2 costs a second per run and tests nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _seed(facilities: int = 30, patients: int = 40) -> str:
    out = io.StringIO()
    call_command("seed_demo", facilities=facilities, patients=patients, stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {model.__name__: model._default_manager.count() for model in MODELS}


def _age(birth_date: datetime.date, on: datetime.date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


@pytest.mark.django_db
def test_seed_creates_the_demo_set_with_exact_counts() -> None:
    _seed()

    assert _counts() == {
        "Hospital": 1,
        "Department": 10,
        "User": 40 + 6 + 1 + 30,
        "DoctorProfile": 40,
        "PharmacistProfile": 6,
        "Facility": 30,
        "Terminal": 30,
        "StaffMembership": 30,
        "Patient": 40,
        "PatientFacility": 40,
        "IdentityVerification": Patient.objects.filter(identity_verified_at__isnull=False).count(),
    }
    hospital = Hospital.objects.get()
    assert (hospital.code, hospital.name) == ("GD2H", "广东省第二人民医院")
    fees = sorted(Department.objects.values_list("consultation_fee_fen", flat=True))
    assert (fees[0], fees[-1]) == (2000, 5000)
    assert set(Facility.objects.values_list("facility_type", flat=True)) == set(FacilityType.values)
    assert set(Facility.objects.values_list("city", flat=True)) == {c.name for c in data.CITIES}
    assert len(data.CITIES) == 21
    assert set(Facility.objects.values_list("province", flat=True)) == {"广东省"}


@pytest.mark.django_db
def test_every_facility_has_one_terminal_and_one_staff_member() -> None:
    _seed()

    for facility in Facility.objects.prefetch_related("terminals", "staff__user"):
        digits = facility.code.removeprefix("FAC")
        assert [t.serial for t in facility.terminals.all()] == [f"T{digits}"]
        assert [m.user.username for m in facility.staff.all()] == [f"staff{digits}"]
        assert facility.staff.get().user.role == Role.CLINIC_STAFF
        assert facility.terminals.get().status == "offline"
    licensed = dict(
        Facility.objects.values_list("facility_type", "is_licensed_medical_institution")
    )
    assert licensed[FacilityType.PHARMACY] is False
    assert licensed[FacilityType.COMMUNITY_CLINIC] is True
    assert licensed[FacilityType.TOWNSHIP_HEALTH_CENTER] is True


@pytest.mark.django_db
def test_users_share_the_demo_password_and_roles() -> None:
    _seed()

    assert User.objects.values("password").distinct().count() == 1
    ops = User.objects.get(username="ops")
    assert (ops.role, ops.is_staff, ops.is_superuser) == (Role.OPERATIONS, True, True)
    assert ops.check_password("demo-pass-2026")
    assert User.objects.filter(role=Role.DOCTOR).count() == 40
    assert User.objects.filter(role=Role.PHARMACIST).count() == 6
    assert User.objects.get(username="pharmacist01").pharmacist_profile.licence_number.isdigit()
    unschedulable = {
        p.user.username
        for p in DoctorProfile.objects.select_related("user")
        if not p.can_be_scheduled()
    }
    assert unschedulable == {"doctor39", "doctor40"}
    profiles = DoctorProfile.objects.all()
    assert {len(p.licence_number) for p in profiles} == {15}
    assert {len(p.qualification_number) for p in profiles} == {15}
    assert DoctorProfile.objects.values("department").distinct().count() == 10


@pytest.mark.django_db
def test_patients_have_valid_resident_ids_matching_their_rows() -> None:
    _seed()
    today = timezone.localdate()

    for patient in Patient.objects.all():
        number = decrypt_text(patient.id_number_encrypted)
        identity = parse_resident_id(number)
        assert (identity.birth_date, identity.sex) == (patient.birth_date, patient.sex)
        assert ric.is_valid(number)  # stdnum also ties the region code to the birth year
        assert number.startswith("44")
        assert patient.id_number_masked == number[:4] + "*" * 10 + number[-4:]
        assert normalize_phone(patient.phone) == patient.phone
        assert datetime.date(1940, 1, 1) <= patient.birth_date <= datetime.date(2023, 12, 31)

    under_six = {p.pk for p in Patient.objects.all() if _age(p.birth_date, today) < 6}
    with_guardian = set(
        Patient.objects.exclude(guardian_name="")
        .exclude(guardian_relationship="")
        .exclude(guardian_phone="")
        .values_list("pk", flat=True)
    )
    assert under_six  # every tenth demo patient is born 2022-2023
    assert with_guardian == under_six


@pytest.mark.django_db
def test_patients_are_registered_and_verified_by_their_facility_staff() -> None:
    _seed()

    for verification in IdentityVerification.objects.select_related("patient"):
        assert verification.verified_by.staff_membership.facility_id == verification.facility_id
        assert verification.patient.identity_verified_at is not None
        assert verification.patient.facility_links.get().facility_id == verification.facility_id
    unverified = Patient.objects.filter(identity_verified_at__isnull=True)
    assert not IdentityVerification.objects.filter(patient__in=unverified).exists()
    for patient in Patient.objects.select_related("created_by__staff_membership"):
        assert patient.created_by is not None
        membership = patient.created_by.staff_membership
        assert patient.facility_links.get().facility_id == membership.facility_id


@pytest.mark.django_db
def test_the_printed_terminal_credential_authenticates() -> None:
    output = _seed()
    factory = APIRequestFactory()
    authentication = TerminalCredentialAuthentication()

    request = factory.get("/", HTTP_AUTHORIZATION="Terminal T00001:demo-terminal-secret")
    result = authentication.authenticate(request)

    assert "Terminal T00001:demo-terminal-secret" in output
    assert result is not None
    assert result[1].serial == "T00001"
    assert result[1].facility.code == "FAC00001"
    # Every other terminal has its own random secret.
    other = factory.get("/", HTTP_AUTHORIZATION="Terminal T00002:demo-terminal-secret")
    with pytest.raises(AuthenticationFailed):
        authentication.authenticate(other)
    assert Terminal.objects.values("credential_hash").distinct().count() == 30


@pytest.mark.django_db
def test_output_lists_the_demo_logins_and_urls() -> None:
    output = _seed()

    for expected in (
        "demo-pass-2026",
        "ops",
        "doctor01",
        "pharmacist01",
        "staff00001",
        "http://127.0.0.1:8000/admin/",
        "http://127.0.0.1:8000/api/docs/",
        "facilities: 30/30 added",
    ):
        assert expected in output


@pytest.mark.django_db
def test_a_second_run_adds_nothing() -> None:
    _seed()
    before = _counts()
    hashes = set(Patient.objects.values_list("id_number_hash", flat=True))

    output = _seed()

    assert _counts() == before
    assert set(Patient.objects.values_list("id_number_hash", flat=True)) == hashes
    assert "facilities: all 30 present" in output
    assert "patients: all 40 present" in output


@pytest.mark.django_db
def test_a_larger_network_adds_only_the_missing_facilities() -> None:
    # 6 is fewer than the facilities patients are spread over: the patients must not change.
    _seed(facilities=6)
    first_names = dict(Facility.objects.values_list("code", "name"))
    hashes = set(Patient.objects.values_list("id_number_hash", flat=True))

    _seed(facilities=30)

    assert Facility.objects.count() == 30
    assert Terminal.objects.count() == 30
    assert StaffMembership.objects.count() == 30
    assert set(Patient.objects.values_list("id_number_hash", flat=True)) == hashes
    assert len(hashes) == 40
    assert {
        code: name
        for code, name in Facility.objects.values_list("code", "name")
        if code in first_names
    } == first_names


@pytest.mark.django_db
def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(CommandError):
        call_command("seed_demo", facilities=0, stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("seed_demo", patients=-1, stdout=io.StringIO())
    assert Facility.objects.count() == 0


def test_region_codes_are_real_guangdong_divisions() -> None:
    """Each code names its district in stdnum's table (Dongguan and Zhongshan: the city)."""
    for city in data.CITIES:
        for district, code in city.districts:
            number = f"{code}20230101001"
            place = ric.get_birth_place(number + ric.calc_check_digit(number + "0"))
            expected = city.name if code.endswith("00") else district
            assert (place["province"], place["county"]) == ("广东省", expected)
    for county, code in data.FORMER_REGION_CODES:
        number = f"{code}19600101001"
        place = ric.get_birth_place(number + ric.calc_check_digit(number + "0"))
        assert (place["province"], place["county"]) == ("广东省", county)


@pytest.mark.django_db
def test_doctors_get_clinic_hours_and_bookable_slots_except_the_recently_licensed() -> None:
    output = _seed()

    assert WeeklyAvailability.objects.values("doctor").distinct().count() == 40
    doctor01 = DoctorProfile.objects.get(user__username="doctor01")
    assert [
        (w.weekday, f"{w.starts_at:%H:%M}", f"{w.ends_at:%H:%M}")
        for w in WeeklyAvailability.objects.filter(doctor=doctor01, weekday=0)
    ] == [(0, "08:30", "12:00"), (0, "14:00", "17:30")]
    assert WeeklyAvailability.objects.filter(weekday=5).values("doctor").distinct().count() == 13
    future = Slot.objects.filter(starts_at__gt=timezone.now(), is_withdrawn=False)
    assert future.filter(doctor=doctor01).exists()
    assert not Slot.objects.filter(doctor__user__username__in=["doctor39", "doctor40"]).exists()
    assert "slots: " in output

    slots = Slot.objects.count()
    assert "slots: 0 added" in _seed()
    assert Slot.objects.count() == slots
    assert WeeklyAvailability.objects.count() == 40 * 10 + 13
