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
