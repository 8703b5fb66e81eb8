"""Sign-in limits: password lockout per account and per address, one-time codes under a burst of
concurrent guesses."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connections
from django.test import Client

from notifications.models import LoginCode
from tests.factories import make_patient, make_staff, make_user

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_counters() -> None:
    cache.clear()


def _user() -> Any:
    user = make_user(username="ops.chen")
    user.set_password(PASSWORD)
    user.save()
    return user


def _token(client: Client, password: str, address: str = "10.0.0.1") -> Any:
    return client.post(
        "/api/v1/auth/token/",
        {"username": "ops.chen", "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


@pytest.mark.django_db
def test_the_sixth_attempt_is_refused_even_with_the_right_password(settings: Any) -> None:
    settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 5
    _user()
    client = Client()
    assert [_token(client, "wrong").status_code for _ in range(5)] == [401] * 5
    locked = _token(client, PASSWORD)
    assert (locked.status_code, locked.json()["code"]) == (429, "signin_locked")
    assert locked.json()["retry_after_seconds"] == settings.SIGNIN_LOCKOUT_SECONDS


@pytest.mark.django_db
def test_a_success_clears_the_account_counter(settings: Any) -> None:
    settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 3
    _user()
    client = Client()
    assert [_token(client, "wrong").status_code for _ in range(2)] == [401, 401]
    assert _token(client, PASSWORD).status_code == 200
    assert [_token(client, "wrong").status_code for _ in range(3)] == [401] * 3
    assert _token(client, "wrong").status_code == 429


@pytest.mark.django_db
def test_one_address_guessing_many_accounts_is_stopped(settings: Any) -> None:
    settings.SIGNIN_MAX_FAILURES_PER_ADDRESS = 4
    client = Client()
    statuses = [
        client.post(
            "/api/v1/auth/token/",
            {"username": f"someone{n}", "password": "x"},
            content_type="application/json",
            REMOTE_ADDR="203.0.113.9",
        ).status_code
        for n in range(6)
    ]
    assert statuses == [401, 401, 401, 401, 429, 429]
    other_address = _token(client, "wrong", address="198.51.100.7")
    assert other_address.status_code == 401


@pytest.mark.django_db
def test_the_page_form_is_locked_too(settings: Any) -> None:
    settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 2
    _user()
    client = Client()
    for _ in range(2):
        page = client.post("/accounts/login/", {"username": "ops.chen", "password": "wrong"})
        assert page.status_code == 200
    locked = client.post("/accounts/login/", {"username": "ops.chen", "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_guesses_check_at_most_five_passwords(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": "signin-race-test",
        }
    }
    from django.core.cache import caches

    caches["default"].clear()
    settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 5
    _user()

    def guess(n: int) -> int:
        try:
            return _token(Client(), f"wrong-{n}", address=f"10.1.{n // 250}.{n % 250}").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = sorted(pool.map(guess, range(50)))
    assert statuses.count(401) == 5
    assert statuses.count(429) == 45


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_code_guesses_burn_the_code_after_the_limit(settings: Any) -> None:
    from core.crypto import decrypt_text
    from core.exceptions import DomainError
    from notifications.otp import login_code_request, login_code_verify

    settings.LOGIN_CODE_MAX_ATTEMPTS = 5
    patient = make_patient(make_staff(), phone="13900139000")
    issued = login_code_request(phone=patient.phone)
    assert issued is not None
    right = decrypt_text(issued.code_encrypted)
    wrong = [f"{(int(right) + n) % 10**6:06d}" for n in range(1, 51)]

    def guess(code: str) -> str:
        try:
            login_code_verify(phone="13900139000", code=code)
        except DomainError as refused:
            return refused.code
        finally:
            connections.close_all()
        return "accepted"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(guess, wrong))
    assert outcomes == ["otp_invalid"] * 50
    code = LoginCode.objects.get(pk=issued.pk)
    assert (code.failed_attempts, code.used_at is not None) == (5, True)
    # Burnt: the right code no longer signs in.
    with pytest.raises(DomainError) as caught:
        login_code_verify(phone="13900139000", code=right)
    assert caught.value.code == "otp_invalid"
