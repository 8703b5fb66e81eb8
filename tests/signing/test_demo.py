"""`seed_demo` gives every demo doctor and pharmacist a credential under the printed PIN."""

import io
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import User
from core.demo import data
from signing.models import CertificateAuthority, SigningCredential
from signing.selectors import trusted_ca_certificates
from signing.services import sign_payload
from signing.verification import verify_signature

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _demo_cost(settings: Any) -> None:
    """The demo's real PIN cost (2**15), and fast password hashing, which is not under test."""
    settings.SIGNING_PIN_SCRYPT_N = 2**15
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", facilities=2, patients=0, stdout=out)
    return out.getvalue()


def test_the_printed_demo_pin_signs_for_every_demo_signer():
    output = _seed()

    credentials = SigningCredential.objects.select_related("user")
    assert data.DEMO_SIGNING_PIN == "246810"
    assert f"signing PIN of every demo doctor and pharmacist: {data.DEMO_SIGNING_PIN}" in output
    assert "signing credentials: 46 added" in output
    assert sorted(c.user.username for c in credentials) == sorted(
        [f"doctor{n:02d}" for n in range(1, 41)] + [f"pharmacist{n:02d}" for n in range(1, 7)]
    )
    assert {(c.status, c.algorithm) for c in credentials} == {("active", "sm2-sm3")}
    assert {c.private_key_sealed.split("$")[1] for c in credentials} == {str(2**15)}
    assert CertificateAuthority.objects.count() == 2
    for username, role in (("doctor01", "doctor"), ("pharmacist06", "pharmacist")):
        record = sign_payload(
            user=User.objects.get(username=username), pin=data.DEMO_SIGNING_PIN, payload=b"demo"
        )
        result = verify_signature(
            payload=b"demo",
            signature_b64=record.signature,
            certificate_pem=record.certificate_pem,
            trusted_ca_pems=trusted_ca_certificates(),
            signed_at=record.signed_at,
            expected_role=role,
        )
        assert (result.valid, result.problems) == (True, []), username


def test_a_second_seed_issues_nothing_new():
    _seed()
    serials = set(SigningCredential.objects.values_list("certificate_serial", flat=True))

    output = _seed()

    assert set(SigningCredential.objects.values_list("certificate_serial", flat=True)) == serials
    assert "signing credentials: all 46 present" in output
    assert "platform CA: present" in output
    assert f"signing PIN of every demo doctor and pharmacist: {data.DEMO_SIGNING_PIN}" in output
    assert CertificateAuthority.objects.count() == 2
