"""Signing settings are checked when settings load: production needs a real CA key secret, and
an unknown default algorithm stops any start. Each case runs in a fresh interpreter."""

from tests.support.processes import service_env
from tests.test_settings import SETUP_DJANGO, _complete_variables, _production_env, _run


def test_production_refuses_a_short_ca_key_secret() -> None:
    variables = {**_complete_variables(), "SIGNING_CA_KEY_SECRET": "too-short"}

    result = _run(["-c", SETUP_DJANGO], _production_env(**variables))

    assert result.returncode != 0
    assert "SIGNING_CA_KEY_SECRET must be set (at least 32 characters)" in result.stderr


def test_an_unknown_default_algorithm_stops_the_start() -> None:
    environment = service_env(
        DJANGO_SETTINGS_MODULE="telehealth.settings.base", SIGNING_DEFAULT_ALGORITHM="rsa-md5"
    )

    result = _run(["-c", SETUP_DJANGO], environment)

    assert result.returncode != 0
    assert "SIGNING_DEFAULT_ALGORITHM='rsa-md5': use sm2-sm3 or ecdsa-p256-sha256" in result.stderr


def test_the_default_algorithm_can_be_chosen_by_environment() -> None:
    environment = service_env(
        DJANGO_SETTINGS_MODULE="telehealth.settings.base",
        SIGNING_DEFAULT_ALGORITHM="ecdsa-p256-sha256",
    )

    result = _run(
        [
            "-c",
            f"{SETUP_DJANGO}; from django.conf import settings; "
            "print(settings.SIGNING_DEFAULT_ALGORITHM)",
        ],
        environment,
    )

    assert (result.returncode, result.stdout.strip()) == (0, "ecdsa-p256-sha256"), result.stderr
