"""Production settings refuse to start without their secrets and pass Django's deploy checks.

Each case runs in a fresh interpreter, because settings are read once per process.
"""

import secrets
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from tests.support.processes import service_env

PRODUCTION = "telehealth.settings.production"
SETUP_DJANGO = "import django; django.setup()"


def _production_env(**variables: str | None) -> dict[str, str]:
    """This environment without any DJANGO_* or PATIENT_* variable, plus `variables`."""
    overrides: dict[str, str | None] = {
        name: None
        for name in service_env()
        if name.startswith(("DJANGO_", "PATIENT_", "SIGNING_", "WECHATPAY_", "ALIPAY_", "COURIER_"))
        or name in ("DATABASE_URL", "REDIS_URL")
    }
    overrides |= {"DJANGO_SETTINGS_MODULE": PRODUCTION, **variables}
    return service_env(**overrides)


# The real payment providers' merchant settings (production never falls back to the emulators).
PAYMENT_VARIABLES = {
    "WECHATPAY_MCHID": "1900000109",
    "WECHATPAY_APPID": "wx8888888888888888",
    "WECHATPAY_MERCHANT_PRIVATE_KEY_PATH": "/run/secrets/wechatpay/apiclient_key.pem",
    "WECHATPAY_MERCHANT_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
    "WECHATPAY_APIV3_KEY": "0123456789abcdef0123456789abcdef",
    "WECHATPAY_PUBLIC_KEY_PATH": "/run/secrets/wechatpay/pub_key.pem",
    "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000",
    "ALIPAY_APPID": "2021000000000001",
    "ALIPAY_SELLER_ID": "2088000000000001",
    "ALIPAY_APP_PRIVATE_KEY_PATH": "/run/secrets/alipay/app_private_key.pem",
    "ALIPAY_PUBLIC_KEY_PATH": "/run/secrets/alipay/alipay_public_key.pem",
}


def _complete_variables() -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60)[:60],
        "PATIENT_DATA_KEYS": Fernet.generate_key().decode(),
        "PATIENT_LOOKUP_KEYS": secrets.token_urlsafe(32),
        "SIGNING_CA_KEY_SECRET": secrets.token_urlsafe(32),
        "DJANGO_ALLOWED_HOSTS": "example.org",
        "DATABASE_URL": "postgres://telehealth@db.internal:5432/telehealth",
        "REDIS_URL": "redis://cache.internal:6379/0",
        **PAYMENT_VARIABLES,
        "COURIER_API_BASE_URL": "https://courier.example.org/open",
        "COURIER_SHARED_SECRET": secrets.token_urlsafe(32),
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_complete_variables_start_production() -> None:
    result = _run(["-c", SETUP_DJANGO], _production_env(**_complete_variables()))

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "missing",
    [
        "DJANGO_SECRET_KEY",
        "PATIENT_DATA_KEYS",
        "PATIENT_LOOKUP_KEYS",
        "SIGNING_CA_KEY_SECRET",
        "DJANGO_ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
        "COURIER_API_BASE_URL",
        "COURIER_SHARED_SECRET",
    ],
)
def test_production_refuses_to_start_without(missing: str) -> None:
    variables: dict[str, str | None] = {**_complete_variables(), missing: None}

    result = _run(["-c", SETUP_DJANGO], _production_env(**variables))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COURIER_API_BASE_URL", "http://127.0.0.1:8000/emulators/courier"),
        ("COURIER_SHARED_SECRET", "too-short"),
    ],
)
def test_production_refuses_a_weak_courier_setting(name: str, value: str) -> None:
    result = _run(["-c", SETUP_DJANGO], _production_env(**{**_complete_variables(), name: value}))

    assert result.returncode != 0
    assert "ImproperlyConfigured: COURIER_API_BASE_URL (https://) and COURIER_SHARED_SECRET" in (
        result.stderr
    )


@pytest.mark.parametrize("empty", ["DJANGO_SECRET_KEY", "PATIENT_DATA_KEYS", "PATIENT_LOOKUP_KEYS"])
def test_production_refuses_an_empty_secret(empty: str) -> None:
    result = _run(["-c", SETUP_DJANGO], _production_env(**{**_complete_variables(), empty: ""}))

    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: DJANGO_SECRET_KEY, PATIENT_DATA_KEYS and PATIENT_LOOKUP_KEYS "
        "must be set" in result.stderr
    )


def test_production_passes_the_deploy_checks() -> None:
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        _production_env(**_complete_variables()),
    )

    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "System check identified no issues" in result.stdout


def test_the_deploy_checks_would_catch_a_weakened_production() -> None:
    # The same check fails when HTTPS redirects are switched off, so a pass above means something.
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        _production_env(**_complete_variables(), DJANGO_SECURE_SSL_REDIRECT="false"),
    )

    assert result.returncode != 0
    assert "security.W008" in result.stderr


def test_production_gives_each_process_a_bounded_connection_pool() -> None:
    inspect = (
        f"{SETUP_DJANGO}; from django.conf import settings as s; "
        "d = s.DATABASES['default']; print(d['CONN_MAX_AGE'], d['OPTIONS']['pool']['max_size'])"
    )

    default = _run(["-c", inspect], _production_env(**_complete_variables()))
    sized = _run(
        ["-c", inspect], _production_env(**_complete_variables(), DATABASE_POOL_MAX_SIZE="9")
    )

    assert (default.returncode, default.stdout.split()) == (0, ["0", "4"]), default.stderr
    assert (sized.returncode, sized.stdout.split()) == (0, ["0", "9"]), sized.stderr
