"""Signing tests run scrypt at a token cost (the sealed key records its own cost, so nothing
else changes); `bench/signing_throughput.py` measures the production cost."""

from typing import Any

import pytest

from accounts.models import Role, User
from signing.pki import pki_init
from tests.factories import make_doctor, make_user

PIN = "246813"
WRONG_PIN = "975310"


@pytest.fixture(autouse=True)
def _cheap_pin_derivation(settings: Any) -> None:
    settings.SIGNING_PIN_SCRYPT_N = 2**4


@pytest.fixture
def platform_ca(db: None) -> None:
    pki_init()


def make_pharmacist(**fields: Any) -> User:
    return make_user(role=Role.PHARMACIST, **fields)


@pytest.fixture
def doctor(db: None) -> User:
    return make_doctor(full_name="林志明")


@pytest.fixture
def pharmacist(db: None) -> User:
    return make_pharmacist(full_name="黄丽华")
