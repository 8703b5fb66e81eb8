"""`sign_payload`: the PIN unlocks the key on every call; wrong PINs count and lock."""

import base64
import datetime

import pytest
from django.utils import timezone

from accounts.models import User
from core.exceptions import PermissionDeniedError
from core.models import AuditEvent
from signing.canonical import canonical_json
from signing.models import SigningCredential
from signing.selectors import revoked_certificates, trusted_ca_certificates
from signing.services import SignatureRecord, credential_issue, credential_revoke, sign_payload
from signing.verification import verify_signature
from tests.signing.conftest import PIN, WRONG_PIN

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("platform_ca")]
PAYLOAD = canonical_json(
    {"patient": "陈志强", "diagnosis": "I10", "items": [{"drug": "氨氯地平片", "days": 7}]}
)


def _signed_events() -> int:
    return AuditEvent.objects.filter(detail__event="signed").count()


def _refusal(user: User, pin: str) -> PermissionDeniedError:
    with pytest.raises(PermissionDeniedError) as refused:
        sign_payload(user=user, pin=pin, payload=PAYLOAD)
    return refused.value


@pytest.mark.parametrize("algorithm", ["sm2-sm3", "ecdsa-p256-sha256"])
def test_a_doctor_signs_and_anyone_verifies_offline(doctor: User, algorithm: str):
    credential = credential_issue(user=doctor, pin=PIN, algorithm=algorithm)
    before = timezone.now()

    record = sign_payload(user=doctor, pin=PIN, payload=PAYLOAD)

    assert isinstance(record, SignatureRecord)
    assert (record.algorithm, record.signer_role) == (algorithm, "doctor")
    assert (record.certificate_pem, record.certificate_serial) == (
        credential.certificate_pem,
        credential.certificate_serial,
    )
    assert before <= record.signed_at <= timezone.now()
    assert record.signed_at.tzinfo is not None
    assert base64.b64decode(record.signature, validate=True)
    result = verify_signature(
        payload=PAYLOAD,
        signature_b64=record.signature,
        certificate_pem=record.certificate_pem,
        trusted_ca_pems=trusted_ca_certificates(),
        signed_at=record.signed_at,
        expected_role="doctor",
    )
    assert (result.valid, result.problems, result.signer_public_id) == (
        True,
        [],
        str(doctor.public_id),
    )
    credential.refresh_from_db()
    assert credential.last_signed_at == record.signed_at
    event = AuditEvent.objects.get(detail__event="signed")
    assert (event.actor, event.object_id) == (doctor, str(credential.public_id))
    assert event.detail["certificate_serial"] == credential.certificate_serial


def test_a_pharmacist_countersignature_is_not_a_doctor_signature(pharmacist: User):
    credential_issue(user=pharmacist, pin=PIN)
    record = sign_payload(user=pharmacist, pin=PIN, payload=PAYLOAD)

    result = verify_signature(
        payload=PAYLOAD,
        signature_b64=record.signature,
        certificate_pem=record.certificate_pem,
        trusted_ca_pems=trusted_ca_certificates(),
        signed_at=record.signed_at,
        expected_role="doctor",
    )

    assert (record.signer_role, result.problems) == ("pharmacist", ["certificate_role_mismatch"])


def test_a_forged_certificate_with_the_platform_ca_name_is_untrusted(doctor: User):
    """A self-signed certificate that copies the platform CA's subject, used to sign."""
    from signing.algorithms import get_algorithm
    from signing.certificates import CertificateRequest, issue_certificate, new_serial
    from signing.models import CertificateAuthority

    platform = CertificateAuthority.objects.get(algorithm="sm2-sm3", is_active=True)
    sm2 = get_algorithm("sm2-sm3")
    key = sm2.generate_private_key()
    now = timezone.now()
    forged = issue_certificate(
        request=CertificateRequest(
            subject=[
                ("country_name", "CN"),
                ("organization_name", "Guangdong Second People's Hospital"),
                ("organizational_unit_name", "SM2"),
                ("common_name", "Guangdong Second People's Hospital Online Hospital Signing CA"),
            ],
            serial=new_serial(),
            not_before=now - datetime.timedelta(days=1),
            not_after=now + datetime.timedelta(days=365),
            public_key=sm2.public_key(key),
            is_ca=False,
        ),
        algorithm=sm2,
        issuer_private_key=key,
        issuer_certificate_pem=None,
    )

    result = verify_signature(
        payload=PAYLOAD,
        signature_b64=base64.b64encode(sm2.sign(key, PAYLOAD)).decode(),
        certificate_pem=forged,
        trusted_ca_pems=trusted_ca_certificates(),
        signed_at=now,
    )

    assert platform.subject.startswith("CN=Guangdong Second People's Hospital Online Hospital")
    assert (result.valid, result.problems) == (False, ["certificate_untrusted"])


def test_a_wrong_pin_signs_nothing_and_is_counted(doctor: User):
    credential = credential_issue(user=doctor, pin=PIN)

    refusal = _refusal(doctor, WRONG_PIN)

    assert (refusal.code, refusal.status_code) == ("signing_pin_invalid", 403)
    assert refusal.extra == {"attempts_remaining": 4, "locked_until": None}
    credential.refresh_from_db()
    assert (credential.failed_pin_attempts, credential.locked_until) == (1, None)
    assert credential.last_signed_at is None
    assert _signed_events() == 0
    failure = AuditEvent.objects.get(detail__event="pin_failed")
    assert (failure.actor, failure.detail["attempts_remaining"]) == (doctor, 4)


def test_five_wrong_pins_lock_even_the_right_pin_out(doctor: User, settings):
    credential = credential_issue(user=doctor, pin=PIN)
    codes = [_refusal(doctor, WRONG_PIN).code for _ in range(settings.SIGNING_PIN_MAX_ATTEMPTS)]
    credential.refresh_from_db()
    locked_until = credential.locked_until

    refusal = _refusal(doctor, PIN)

    assert codes == ["signing_pin_invalid"] * 5
    assert locked_until is not None
    lock_minutes = (locked_until - timezone.now()).total_seconds() / 60
    assert settings.SIGNING_PIN_LOCK_MINUTES - 1 < lock_minutes <= settings.SIGNING_PIN_LOCK_MINUTES
    assert (refusal.code, refusal.status_code) == ("signing_pin_locked", 403)
    assert refusal.extra == {"locked_until": locked_until.isoformat()}
    assert _signed_events() == 0
    assert AuditEvent.objects.filter(detail__event="pin_failed").count() == 5
    assert AuditEvent.objects.filter(detail__event="pin_refused_locked").count() == 1
    last_failure = AuditEvent.objects.filter(detail__event="pin_failed").latest("pk")
    assert last_failure.detail == {
        "event": "pin_failed",
        "attempts_remaining": 0,
        "locked_until": locked_until.isoformat(),
    }


def test_the_lock_passes_and_the_right_pin_signs_again(doctor: User):
    credential = credential_issue(user=doctor, pin=PIN)
    for _ in range(5):
        _refusal(doctor, WRONG_PIN)
    # The lock's end, moved to the past (the test does not wait 15 minutes).
    SigningCredential.objects.filter(pk=credential.pk).update(
        locked_until=timezone.now() - datetime.timedelta(seconds=1)
    )

    record = sign_payload(user=doctor, pin=PIN, payload=PAYLOAD)

    credential.refresh_from_db()
    assert record.certificate_serial == credential.certificate_serial
    assert (credential.failed_pin_attempts, credential.locked_until) == (0, None)


def test_a_success_resets_the_count_of_wrong_pins(doctor: User):
    credential = credential_issue(user=doctor, pin=PIN)
    for _ in range(4):
        _refusal(doctor, WRONG_PIN)

    sign_payload(user=doctor, pin=PIN, payload=PAYLOAD)
    refusal = _refusal(doctor, WRONG_PIN)

    credential.refresh_from_db()
    assert refusal.extra["attempts_remaining"] == 4
    assert (credential.failed_pin_attempts, credential.locked_until) == (1, None)


def test_without_a_credential_nothing_is_signed(doctor: User):
    refusal = _refusal(doctor, PIN)

    assert (refusal.code, refusal.status_code) == ("signing_credential_missing", 403)
    assert not AuditEvent.objects.filter(object_type="signing_credential").exists()


def test_a_revoked_credential_no_longer_signs_but_its_signatures_still_verify(doctor: User):
    from core.actors import SYSTEM_ACTOR

    credential = credential_issue(user=doctor, pin=PIN)
    record = sign_payload(user=doctor, pin=PIN, payload=PAYLOAD)
    credential_revoke(credential=credential, actor=SYSTEM_ACTOR, reason="left the hospital")

    refusal = _refusal(doctor, PIN)

    assert refusal.code == "signing_credential_missing"
    result = verify_signature(
        payload=PAYLOAD,
        signature_b64=record.signature,
        certificate_pem=record.certificate_pem,
        trusted_ca_pems=trusted_ca_certificates(),
        signed_at=record.signed_at,
        revoked=revoked_certificates(),
    )
    assert (result.valid, result.problems) == (True, [])
    # A signature claimed after the revocation is refused.
    late = verify_signature(
        payload=PAYLOAD,
        signature_b64=record.signature,
        certificate_pem=record.certificate_pem,
        trusted_ca_pems=trusted_ca_certificates(),
        signed_at=timezone.now(),
        revoked=revoked_certificates(),
    )
    assert late.problems == ["certificate_revoked"]


def test_an_expired_certificate_no_longer_signs(doctor: User):
    credential = credential_issue(user=doctor, pin=PIN)
    SigningCredential.objects.filter(pk=credential.pk).update(not_after=timezone.now())

    refusal = _refusal(doctor, PIN)

    assert refusal.code == "signing_credential_expired"
    assert _signed_events() == 0


def test_a_deactivated_account_no_longer_signs(doctor: User):
    credential_issue(user=doctor, pin=PIN)
    doctor.is_active = False
    doctor.save(update_fields=["is_active"])

    assert _refusal(doctor, PIN).code == "signing_credential_missing"
    assert _signed_events() == 0
