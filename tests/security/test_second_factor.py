"""Page sign-in of doctors, pharmacists and operations needs a TOTP code after the password."""

import datetime
from typing import Any

import pyotp
import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from accounts.models import TotpDevice
from core.crypto import decrypt_text
from tests.factories import make_doctor, make_staff

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_counters() -> None:
    cache.clear()


def _with_password(user: Any) -> Any:
    user.set_password(PASSWORD)
    user.save()
    return user


def _password_step(client: Client, user: Any) -> Any:
    return client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})


def test_a_doctor_enrols_then_confirms_and_only_then_is_signed_in() -> None:
    doctor = _with_password(make_doctor())
    client = Client()
    response = _password_step(client, doctor)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/second-factor/"
    assert "_auth_user_id" not in client.session
    page = client.get("/accounts/login/second-factor/")
    assert 'id="totp-qr"' in page.content.decode()
    secret = decrypt_text(TotpDevice.objects.get(user=doctor).secret_encrypted)
    wrong = client.post("/accounts/login/second-factor/", {"code": "000000"})
    assert wrong.status_code == 400
    assert "_auth_user_id" not in client.session
    confirmed = client.post("/accounts/login/second-factor/", {"code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 302
    assert client.session["_auth_user_id"] == str(doctor.pk)
    assert TotpDevice.objects.get(user=doctor).confirmed_at is not None


def test_a_code_is_accepted_once() -> None:
    doctor = _with_password(make_doctor())
    first = Client()
    _password_step(first, doctor)
    first.get("/accounts/login/second-factor/")
    secret = decrypt_text(TotpDevice.objects.get(user=doctor).secret_encrypted)
    code = pyotp.TOTP(secret).now()
    assert first.post("/accounts/login/second-factor/", {"code": code}).status_code == 302
    second = Client()
    _password_step(second, doctor)
    replay = second.post("/accounts/login/second-factor/", {"code": code})
    assert replay.status_code == 400
    assert "_auth_user_id" not in second.session


def test_clinic_staff_sign_in_with_the_password_alone() -> None:
    staff = _with_password(make_staff())
    client = Client()
    assert _password_step(client, staff).status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_the_second_step_expires_and_needs_the_first() -> None:
    doctor = _with_password(make_doctor())
    client = Client()
    assert client.get("/accounts/login/second-factor/")["Location"] == "/accounts/login/"
    _password_step(client, doctor)
    session = client.session
    session["second_factor_since"] = int(
        (timezone.now() - datetime.timedelta(minutes=6)).timestamp()
    )
    session.save()
    assert client.get("/accounts/login/second-factor/")["Location"] == "/accounts/login/"


def test_wrong_codes_count_against_the_sign_in_throttle(settings: Any) -> None:
    settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 3
    doctor = _with_password(make_doctor())
    client = Client()
    # The password step took one attempt and does not clear the counter: only the code does.
    _password_step(client, doctor)
    statuses = [
        client.post("/accounts/login/second-factor/", {"code": "000000"}).status_code
        for _ in range(4)
    ]
    assert statuses == [400, 400, 429, 429]
