"""The doctors' public credentials (/doctors/): open to anyone, only what is public."""

import datetime
import re
from typing import Any

import pytest
from django.test import Client

from accounts.models import Role, User
from tests.factories import make_doctor, make_staff, make_user

pytestmark = pytest.mark.django_db


def _doctor(name: str, **kwargs: Any) -> User:
    return make_doctor(full_name=name, phone="+8613800138000", **kwargs)


def test_anyone_sees_the_doctors_with_their_credentials() -> None:
    doctor = _doctor("李明", practice_since=datetime.date(2010, 1, 1))
    profile = doctor.doctor_profile

    answer = Client().get("/doctors/")

    assert answer.status_code == 200
    page = answer.content.decode()
    row = re.search(rf'<tr><td><a href="/doctors/{doctor.public_id}/">李明</a>.*?</tr>', page)
    assert row is not None
    assert profile.licence_number in row.group(0)
    assert profile.department.name in row.group(0)
    years = profile.years_of_independent_practice()
    assert f"<td>{years}</td></tr>" in row.group(0)


def test_the_public_pages_show_nothing_that_is_not_public() -> None:
    doctor = _doctor("李明")
    profile = doctor.doctor_profile

    pages = [Client().get("/doctors/"), Client().get(f"/doctors/{doctor.public_id}/")]

    for answer in pages:
        page = answer.content.decode()
        assert doctor.username not in page
        assert profile.qualification_number not in page
        assert "13800138000" not in page


def test_a_doctors_page_lists_title_department_licence_and_years(settings: Any) -> None:
    doctor = _doctor("王芳", practice_since=datetime.date(2015, 7, 1))
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get(f"/doctors/{doctor.public_id}/").content.decode()

    profile = doctor.doctor_profile
    assert "<h1>王芳</h1>" in page
    assert "Attending physician" in page
    assert f'id="licence-number">{profile.licence_number}<' in page
    years = profile.years_of_independent_practice()
    assert f"{years} years, since 2015" in page


def test_deactivated_doctors_and_other_people_are_not_listed() -> None:
    gone = _doctor("赵离职")
    User.objects.filter(pk=gone.pk).update(is_active=False)
    staff = make_staff()
    client = Client()

    listing = client.get("/doctors/").content.decode()

    assert "赵离职" not in listing
    assert client.get(f"/doctors/{gone.public_id}/").status_code == 404
    assert client.get(f"/doctors/{staff.public_id}/").status_code == 404
    assert client.get(f"/doctors/{make_user(role=Role.PATIENT).public_id}/").status_code == 404


def test_doctors_filter_by_department() -> None:
    cardiology = _doctor("心内科医生")
    other = _doctor("内分泌科医生")
    department = cardiology.doctor_profile.department

    page = Client().get(f"/doctors/?department={department.public_id}").content.decode()

    assert "心内科医生" in page
    assert "内分泌科医生" not in page
    assert other.doctor_profile.department.name not in page.split('id="doctors"')[1]


def test_signed_in_users_of_any_role_see_the_same_page() -> None:
    _doctor("李明")
    client = Client()
    client.force_login(make_staff())

    answer = client.get("/doctors/")

    assert answer.status_code == 200
    assert "李明" in answer.content.decode()
