"""FHIR facade tests: the platform CA in place (prescriptions are really signed), provider keys
of their own (the order is really paid through the emulated WeChat Pay), and every response
validated against the fhir.resources models before it leaves the view."""

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


@pytest.fixture(autouse=True)
def _fhir_validates_responses(settings: object) -> None:
    settings.FHIR_VALIDATE_RESPONSES = True  # type: ignore[attr-defined]


@pytest.fixture
def pki(db: None) -> None:
    from tests.prescriptions.builders import pki as init_pki

    init_pki()


@pytest.fixture
def scene(pki: None, tmp_path: object, settings: object) -> object:
    from tests.fhir.scene import make_scene

    settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
    return make_scene()
