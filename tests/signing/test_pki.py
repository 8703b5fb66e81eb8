"""`manage.py init_pki`: one self-signed root per algorithm, idempotent, rotation keeps the old
roots trusted; the CA keys are sealed under SIGNING_CA_KEY_SECRET."""

import io
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import User
from core.exceptions import ConflictError
from signing.algorithms import get_algorithm
from signing.certificates import parse_certificate
from signing.keystore import open_with_secret
from signing.models import CertificateAuthority, SigningCredential
from signing.pki import ca_key_context
from signing.selectors import trusted_ca_certificates
from signing.services import credential_issue, sign_payload
from signing.verification import verify_signature
from tests.signing.conftest import PIN

pytestmark = pytest.mark.django_db


def _init_pki(*args: str) -> str:
    out = io.StringIO()
    call_command("init_pki", *args, stdout=out)
    return out.getvalue()


def test_init_pki_creates_one_root_per_algorithm_and_is_idempotent():
    first = _init_pki()
    serials = dict(CertificateAuthority.objects.values_list("algorithm", "serial"))

    second = _init_pki()

    assert set(serials) == {"sm2-sm3", "ecdsa-p256-sha256"}
    assert dict(CertificateAuthority.objects.values_list("algorithm", "serial")) == serials
    assert first.count(": created,") == 2
    assert second.count(": present,") == 2
    assert f"sm2-sm3: present, serial {serials['sm2-sm3']}" in second


@pytest.mark.parametrize("name", ["sm2-sm3", "ecdsa-p256-sha256"])
def test_the_root_is_a_self_signed_ca_for_twenty_years(name: str):
    _init_pki("--algorithm", name)
    authority = CertificateAuthority.objects.get()
    root = parse_certificate(authority.certificate_pem)

    assert authority.algorithm == name
    assert root.algorithm is get_algorithm(name)
    assert root.is_ca is True
    assert root.key_usage == {"key_cert_sign", "crl_sign"}
    assert root.subject == root.issuer
    assert root.common_name == "Guangdong Second People's Hospital Online Hospital Signing CA"
    assert root.algorithm.verify(root.public_key, root.tbs, root.signature)
    assert (root.not_before, root.not_after) == (authority.not_before, authority.not_after)
    assert root.not_after.year - root.not_before.year == 20
    assert authority.subject == (
        "CN=Guangdong Second People's Hospital Online Hospital Signing CA, "
        f"OU={'SM2' if name == 'sm2-sm3' else 'ECDSA P-256'}, "
        "O=Guangdong Second People's Hospital, C=CN"
    )


def test_the_ca_key_is_stored_sealed_under_the_configured_secret(settings: Any):
    _init_pki("--algorithm", "ecdsa-p256-sha256")
    authority = CertificateAuthority.objects.get()

    private_key = open_with_secret(
        authority.private_key_sealed,
        settings.SIGNING_CA_KEY_SECRET,
        context=ca_key_context(authority.serial),
    )

    root = parse_certificate(authority.certificate_pem)
    assert get_algorithm(authority.algorithm).public_key(private_key) == root.public_key
    assert authority.private_key_sealed.startswith("hkdf-aes256gcm$")
    assert private_key.hex() not in authority.private_key_sealed


def test_a_changed_secret_stops_issuing_until_the_ca_is_rotated(settings: Any, doctor: User):
    _init_pki()
    settings.SIGNING_CA_KEY_SECRET = "another-secret-after-a-careless-redeploy"

    with pytest.raises(ConflictError) as refused:
        credential_issue(user=doctor, pin=PIN)

    assert refused.value.code == "signing_ca_key_unavailable"
    assert not SigningCredential.objects.exists()
    _init_pki("--force-new")
    assert credential_issue(user=doctor, pin=PIN).issuer.is_active


def test_rotation_adds_an_issuer_and_keeps_every_root_trusted(doctor: User):
    _init_pki()
    before = credential_issue(user=doctor, pin=PIN)
    old_signature = sign_payload(user=doctor, pin=PIN, payload=b"signed before rotation")

    output = _init_pki("--force-new", "--algorithm", "sm2-sm3")
    after = credential_issue(user=doctor, pin=PIN)

    roots = CertificateAuthority.objects.filter(algorithm="sm2-sm3").order_by("created_at")
    assert [(ca.is_active, ca.retired_at is not None) for ca in roots] == [
        (False, True),
        (True, False),
    ]
    assert CertificateAuthority.objects.filter(algorithm="ecdsa-p256-sha256").count() == 1
    assert "sm2-sm3: created" in output
    assert before.issuer == roots[0]
    assert after.issuer == roots[1]
    trusted = trusted_ca_certificates()
    assert trusted == list(
        CertificateAuthority.objects.order_by("created_at").values_list(
            "certificate_pem", flat=True
        )
    )
    assert len(trusted) == 3
    result = verify_signature(
        payload=b"signed before rotation",
        signature_b64=old_signature.signature,
        certificate_pem=old_signature.certificate_pem,
        trusted_ca_pems=trusted,
        signed_at=old_signature.signed_at,
    )
    assert (result.valid, result.problems) == (True, [])
