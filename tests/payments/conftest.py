"""Payment tests use their own provider keys (generated once per session in a scratch folder),
so they never depend on, or write to, the development keys."""

from collections.abc import Iterator

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
