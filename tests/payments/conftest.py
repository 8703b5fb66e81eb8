"""Payment tests use their own provider keys (generated once per session in a scratch folder),
so they never depend on, or write to, the development keys."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings


@pytest.fixture(autouse=True, scope="session")
def _payment_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = settings.PAYMENT_KEYS_DIR
    settings.PAYMENT_KEYS_DIR = tmp_path_factory.mktemp("payment-keys")
    try:
        yield
    finally:
        settings.PAYMENT_KEYS_DIR = previous


@pytest.fixture
def providers_live(live_server: Any, settings: Any) -> str:
    """The platform and both emulated providers behind one live server: the SDKs reach the
    emulators over HTTP, and the emulators call the platform back over HTTP."""
    url = str(live_server.url)
    settings.SITE_URL = url
    settings.PAYMENT_EMULATOR_BASE_URL = f"{url}/emulators"
    settings.WECHATPAY_API_BASE_URL = f"{url}/emulators/wechatpay"
    settings.ALIPAY_GATEWAY_URL = f"{url}/emulators/alipay/gateway.do"
    return url
