"""Production talks to the real providers only: the emulators, their URLs and their sweep are
gone, keys are never generated, and every merchant setting is required."""

import pytest

from tests.test_settings import PAYMENT_VARIABLES, _complete_variables, _production_env, _run

INSPECT = """
import django
django.setup()
from django.apps import apps
from django.conf import settings
from django.urls import Resolver404, resolve
print(apps.is_installed("provider_emulators"))
print([name for name in settings.CELERY_BEAT_SCHEDULE if name.startswith("payment-emulator")])
print(settings.WECHATPAY_API_BASE_URL, settings.ALIPAY_GATEWAY_URL)
print(settings.PAYMENT_KEYS_AUTOCREATE)
try:
    resolve("/emulators/alipay/gateway.do")
    print("emulators mounted")
except Resolver404:
    print("emulators not mounted")
"""


def test_production_has_no_emulators_and_the_real_providers_urls() -> None:
    result = _run(["-c", INSPECT], _production_env(**_complete_variables()))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "False",
        "[]",
        "https://api.mch.weixin.qq.com https://openapi.alipay.com/gateway.do",
        "False",
        "emulators not mounted",
    ]


@pytest.mark.parametrize("missing", sorted(PAYMENT_VARIABLES))
def test_production_refuses_to_start_without_a_payment_setting(missing: str) -> None:
    variables = {**_complete_variables(), missing: ""}

    result = _run(["-c", "import django; django.setup()"], _production_env(**variables))

    assert result.returncode != 0
    assert f"payment settings missing: {missing}" in result.stderr
