"""Offline verification, with certificates built in memory: none of these tests may touch the
database (pytest-django blocks it for tests without the `django_db` mark, so any query fails)."""

import base64
import datetime

import pytest

from signing.algorithms import ALGORITHM_NAMES, get_algorithm
from signing.canonical import canonical_json
from signing.certificates import parse_certificate
from signing.verification import VerificationResult, verify_signature
from tests.signing.pkitools import CA_SUBJECT, START, Holder, make_ca, make_signer

PAYLOAD = canonical_json({"prescription": "RX20260105-0001", "items": [{"drug": "氨氯地平片"}]})
SIGNED_AT = START + datetime.timedelta(days=30)


def _sign(holder: Holder, payload: bytes = PAYLOAD) -> str:
    signature = get_algorithm(holder.algorithm).sign(holder.private_key, payload)
    return base64.b64encode(signature).decode()


def _verify(signer: Holder, ca: Holder, **overrides: object) -> VerificationResult:
    arguments: dict[str, object] = {
        "payload": PAYLOAD,
        "signature_b64": _sign(signer),
        "certificate_pem": signer.certificate_pem,
        "trusted_ca_pems": [ca.certificate_pem],
        "signed_at": SIGNED_AT,
    }
    return verify_signature(**(arguments | overrides))  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=ALGORITHM_NAMES)
def ca(request: pytest.FixtureRequest) -> Holder:
    return make_ca(request.param)


@pytest.fixture(scope="module")
def signer(ca: Holder) -> Holder:
    return make_signer(ca)


def test_a_good_signature_verifies_with_what_the_certificate_says(ca: Holder, signer: Holder):
    result = _verify(signer, ca, expected_role="doctor")

    assert result == VerificationResult(
        valid=True,
        problems=[],
        algorithm=ca.algorithm,
        certificate_serial=parse_certificate(signer.certificate_pem).serial,
        signer_name="林志明",
        signer_public_id="6f1c1d2e-0000-4000-8000-000000000001",
        signer_role="doctor",
        issuer_name="Guangdong Second People's Hospital Online Hospital Signing CA",
    )


def test_a_tampered_payload_is_signature_invalid(ca: Holder, signer: Holder):
    tampered = PAYLOAD.replace("氨氯地平片".encode(), "硝苯地平片".encode())

    result = _verify(signer, ca, payload=tampered)

    assert (result.valid, result.problems) == (False, ["signature_invalid"])


@pytest.mark.parametrize(
    "garbage", ["", "not base64!", "AAAA", base64.b64encode(b"\x30\x00").decode()]
)
def test_an_unreadable_signature_is_signature_invalid(ca: Holder, signer: Holder, garbage: str):
    result = _verify(signer, ca, signature_b64=garbage)

    assert (result.valid, result.problems) == (False, ["signature_invalid"])


def test_a_signature_by_another_key_is_signature_invalid(ca: Holder, signer: Holder):
    colleague = make_signer(ca)

    result = _verify(signer, ca, signature_b64=_sign(colleague))

    assert result.problems == ["signature_invalid"]


def test_a_certificate_from_an_untrusted_ca_is_untrusted(ca: Holder):
    elsewhere = make_ca(ca.algorithm, subject=[("common_name", "Another Hospital Signing CA")])
    stranger = make_signer(elsewhere)

    result = _verify(stranger, ca)

    assert (result.valid, result.problems, result.issuer_name) == (
        False,
        ["certificate_untrusted"],
        None,
    )
    # The same certificate is fine for whoever trusts its CA.
    assert _verify(stranger, elsewhere).valid


def test_an_impostor_ca_with_the_platform_name_is_untrusted(ca: Holder):
    impostor = make_ca(ca.algorithm, subject=CA_SUBJECT)
    forged = make_signer(impostor)

    assert (
        parse_certificate(forged.certificate_pem).issuer
        == parse_certificate(ca.certificate_pem).subject
    )
    assert _verify(forged, ca).problems == ["certificate_untrusted"]


def test_a_ca_certificate_is_not_a_signing_certificate(ca: Holder):
    result = _verify(ca, ca)

    assert result.problems == ["certificate_untrusted"]


def test_a_certificate_of_the_other_algorithm_ca_is_untrusted(ca: Holder, signer: Holder):
    other = next(name for name in ALGORITHM_NAMES if name != ca.algorithm)
    other_ca = make_ca(other)

    assert _verify(signer, ca, trusted_ca_pems=[other_ca.certificate_pem]).problems == [
        "certificate_untrusted"
    ]
    assert _verify(signer, ca, trusted_ca_pems=[other_ca.certificate_pem, ca.certificate_pem]).valid


def test_a_pharmacist_certificate_is_not_a_doctor_certificate(ca: Holder):
    pharmacist = make_signer(ca, role="pharmacist", name="黄丽华")

    result = _verify(pharmacist, ca, expected_role="doctor")

    assert (result.problems, result.signer_role) == (["certificate_role_mismatch"], "pharmacist")
    assert _verify(pharmacist, ca, expected_role="pharmacist").valid


def test_an_ou_that_contradicts_the_role_policy_names_no_role(ca: Holder):
    confused = make_signer(ca, role="doctor", policy_roles=("pharmacist",))

    result = _verify(confused, ca, expected_role="doctor")

    assert (result.problems, result.signer_role) == (["certificate_role_mismatch"], None)


@pytest.mark.parametrize(
    ("moment", "valid"),
    [
        (START - datetime.timedelta(seconds=1), False),
        (START, True),
        (START + datetime.timedelta(days=730), True),
        (START + datetime.timedelta(days=730, seconds=1), False),
    ],
)
def test_validity_at_signing_time(
    ca: Holder, signer: Holder, moment: datetime.datetime, valid: bool
):
    result = _verify(signer, ca, signed_at=moment)

    assert result.problems == ([] if valid else ["certificate_not_valid_at_signing_time"])


def test_a_signature_after_the_ca_expired_is_not_valid():
    short_lived = make_ca("ecdsa-p256-sha256", days=100)
    signer = make_signer(short_lived, days=730)

    result = _verify(signer, short_lived, signed_at=START + datetime.timedelta(days=101))

    assert result.problems == ["certificate_not_valid_at_signing_time"]


def test_revocation_applies_from_its_time(ca: Holder, signer: Holder):
    serial = parse_certificate(signer.certificate_pem).serial
    revoked = {serial: SIGNED_AT}

    assert _verify(signer, ca, revoked=revoked).problems == ["certificate_revoked"]
    earlier = SIGNED_AT - datetime.timedelta(seconds=1)
    assert _verify(signer, ca, revoked=revoked, signed_at=earlier).valid


@pytest.mark.parametrize(
    "certificate",
    [
        "",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
    ],
)
def test_an_unreadable_certificate_is_malformed(ca: Holder, certificate: str):
    result = _verify(make_signer(ca), ca, certificate_pem=certificate)

    assert result == VerificationResult(valid=False, problems=["certificate_malformed"])


def test_two_certificates_in_one_pem_are_malformed(ca: Holder, signer: Holder):
    result = _verify(signer, ca, certificate_pem=signer.certificate_pem + ca.certificate_pem)

    assert result.problems == ["certificate_malformed"]


def test_a_flipped_bit_in_the_certificate_breaks_trust_or_parsing(ca: Holder, signer: Holder):
    # Change the subject's name inside the TBS: the CA's signature no longer covers it.
    forged_pem = _replace_in_der(signer.certificate_pem, "林志明".encode(), "林志朋".encode())

    result = _verify(signer, ca, certificate_pem=forged_pem)

    assert (result.problems, result.signer_name) == (["certificate_untrusted"], "林志朋")


def test_every_problem_is_reported_together(ca: Holder):
    elsewhere = make_ca(ca.algorithm)
    pharmacist = make_signer(elsewhere, role="pharmacist")

    result = _verify(
        pharmacist,
        ca,
        payload=PAYLOAD + b" ",
        signed_at=START - datetime.timedelta(days=1),
        expected_role="doctor",
    )

    assert result.problems == [
        "signature_invalid",
        "certificate_untrusted",
        "certificate_not_valid_at_signing_time",
        "certificate_role_mismatch",
    ]


def test_a_naive_signing_time_is_a_programming_error(ca: Holder, signer: Holder):
    with pytest.raises(ValueError, match="aware"):
        _verify(signer, ca, signed_at=datetime.datetime(2026, 2, 1, 12, 0))


def _replace_in_der(pem_text: str, old: bytes, new: bytes) -> str:
    from asn1crypto import pem

    _, _, der = pem.unarmor(pem_text.encode())
    assert der.count(old) == 1
    return pem.armor("CERTIFICATE", der.replace(old, new)).decode()
