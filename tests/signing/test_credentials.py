"""Issuing and revoking signing credentials."""

import datetime
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Role, User
from core.actors import Actor
from core.exceptions import ConflictError, DomainError
from core.models import AuditEvent
from signing.certificates import ROLE_POLICY_OIDS, parse_certificate
from signing.keystore import open_with_pin
from signing.models import CertificateAuthority, CredentialStatus, SigningCredential
from signing.pki import add_years
from signing.selectors import credential_active_for, revoked_certificates
from signing.services import (
    credential_issue,
    credential_issue_many,
    credential_key_context,
    credential_revoke,
)
from tests.factories import make_staff, make_user
from tests.signing.conftest import PIN

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("platform_ca")]
OPERATIONS = Actor(role=Role.OPERATIONS)


@pytest.mark.parametrize("algorithm", ["sm2-sm3", "ecdsa-p256-sha256"])
def test_a_doctor_gets_a_certificate_from_the_platform_ca(doctor: User, algorithm: str):
    now = timezone.now()

    credential = credential_issue(user=doctor, pin=PIN, algorithm=algorithm, now=now)

    certificate = parse_certificate(credential.certificate_pem)
    ca = CertificateAuthority.objects.get(algorithm=algorithm, is_active=True)
    root = parse_certificate(ca.certificate_pem)
    assert (credential.status, credential.role, credential.algorithm, credential.issuer) == (
        CredentialStatus.ACTIVE,
        "doctor",
        algorithm,
        ca,
    )
    assert (certificate.common_name, certificate.user_id, certificate.role) == (
        "林志明",
        str(doctor.public_id),
        "doctor",
    )
    assert certificate.algorithm.name == algorithm
    assert certificate.serial == credential.certificate_serial
    assert certificate.issuer == root.subject
    assert root.algorithm.verify(root.public_key, certificate.tbs, certificate.signature)
    assert certificate.authority_key_identifier == root.key_identifier
    assert certificate.key_usage == {"digital_signature", "non_repudiation"}
    assert certificate.is_ca is False
    expected_start = now.replace(microsecond=0) - datetime.timedelta(minutes=5)
    assert (certificate.not_before, credential.not_before) == (expected_start, expected_start)
    assert certificate.not_after == add_years(now.replace(microsecond=0), 2)
    assert credential.not_after == certificate.not_after
    assert int(credential.certificate_serial, 16).bit_length() > 64


def test_the_default_algorithm_comes_from_settings(doctor: User, settings: Any):
    assert credential_issue(user=doctor, pin=PIN).algorithm == "sm2-sm3"

    settings.SIGNING_DEFAULT_ALGORITHM = "ecdsa-p256-sha256"

    assert credential_issue(user=doctor, pin=PIN).algorithm == "ecdsa-p256-sha256"


def test_a_pharmacist_certificate_carries_the_pharmacist_policy(pharmacist: User):
    credential = credential_issue(user=pharmacist, pin=PIN)

    certificate = parse_certificate(credential.certificate_pem)
    policies = [
        p["policy_identifier"].dotted for p in certificate.certificate.certificate_policies_value
    ]
    assert policies == [ROLE_POLICY_OIDS["pharmacist"]]
    assert (credential.role, certificate.role) == ("pharmacist", "pharmacist")


def test_the_pin_seals_the_private_key_and_is_not_stored(doctor: User):
    credential = credential_issue(user=doctor, pin=PIN)

    stored = SigningCredential.objects.filter(pk=credential.pk).values().get()
    assert not any(PIN in str(value) for value in stored.values())
    private_key = open_with_pin(
        credential.private_key_sealed,
        PIN,
        context=credential_key_context(credential.certificate_serial),
    )
    certificate = parse_certificate(credential.certificate_pem)
    assert certificate.algorithm.public_key(private_key) == certificate.public_key


@pytest.mark.parametrize(
    "pin",
    ["12345", "1234567890123", "24681a", " 246813", "111111", "123456", "654321", "890123", ""],
)
def test_a_weak_pin_is_refused_and_nothing_is_issued(doctor: User, pin: str):
    with pytest.raises(DomainError) as refused:
        credential_issue(user=doctor, pin=pin)

    assert refused.value.code == "signing_pin_weak"
    assert not SigningCredential.objects.exists()
    assert not AuditEvent.objects.filter(object_type="signing_credential").exists()


@pytest.mark.parametrize("pin", ["246810", "135792", "000001", "202604281530"])
def test_pins_of_six_to_twelve_digits_are_accepted(doctor: User, pin: str):
    assert credential_issue(user=doctor, pin=pin).status == CredentialStatus.ACTIVE


@pytest.mark.parametrize("role", [Role.CLINIC_STAFF, Role.PATIENT, Role.OPERATIONS])
def test_only_doctors_and_pharmacists_hold_credentials(role: str):
    user = make_staff() if role == Role.CLINIC_STAFF else make_user(role=role)

    with pytest.raises(DomainError) as refused:
        credential_issue(user=user, pin=PIN)

    assert refused.value.code == "signing_role_not_allowed"
    assert not SigningCredential.objects.exists()


def test_a_deactivated_account_gets_no_credential(doctor: User):
    doctor.is_active = False
    doctor.save(update_fields=["is_active"])

    with pytest.raises(DomainError) as refused:
        credential_issue(user=doctor, pin=PIN)

    assert refused.value.code == "signing_user_inactive"
    assert not SigningCredential.objects.exists()


def test_an_unknown_algorithm_is_refused(doctor: User):
    with pytest.raises(DomainError) as refused:
        credential_issue(user=doctor, pin=PIN, algorithm="rsa-sha1")

    assert refused.value.code == "signing_algorithm_unknown"
    assert not SigningCredential.objects.exists()


def test_without_a_ca_nothing_is_issued(doctor: User):
    CertificateAuthority.objects.all().delete()

    with pytest.raises(ConflictError) as refused:
        credential_issue(user=doctor, pin=PIN)

    assert refused.value.code == "signing_ca_missing"
    assert not SigningCredential.objects.exists()


def test_issuing_again_revokes_the_previous_credential(doctor: User):
    first = credential_issue(user=doctor, pin=PIN)

    second = credential_issue(user=doctor, pin="135792", actor=OPERATIONS)

    first.refresh_from_db()
    assert (first.status, first.revocation_reason) == ("revoked", "superseded by a new credential")
    assert first.revoked_at is not None
    assert credential_active_for(user=doctor) == second
    assert revoked_certificates() == {first.certificate_serial: first.revoked_at}
    events = AuditEvent.objects.filter(object_type="signing_credential").order_by("pk")
    assert [(e.object_id, e.action, e.detail["event"], e.actor_role) for e in events] == [
        (str(first.public_id), "create", "issued", "doctor"),
        (str(first.public_id), "update", "revoked", "operations"),
        (str(second.public_id), "create", "issued", "operations"),
    ]
    assert events[2].detail["superseded"] == first.certificate_serial


def test_revoking_stops_a_credential_once(doctor: User):
    credential = credential_issue(user=doctor, pin=PIN)

    revoked = credential_revoke(credential=credential, actor=OPERATIONS, reason="lost phone")

    assert (revoked.status, revoked.revocation_reason) == ("revoked", "lost phone")
    assert credential_active_for(user=doctor) is None
    with pytest.raises(ConflictError) as again:
        credential_revoke(credential=credential, actor=OPERATIONS)
    assert again.value.code == "signing_credential_revoked"
    assert AuditEvent.objects.filter(detail__event="revoked").count() == 1


def test_issuing_to_many_users_under_one_pin(doctor: User, pharmacist: User):
    credentials = credential_issue_many(users=[doctor, pharmacist], pin=PIN)

    assert [(c.user, c.role) for c in credentials] == [
        (doctor, "doctor"),
        (pharmacist, "pharmacist"),
    ]
    assert SigningCredential.objects.filter(status="active").count() == 2
    for credential in credentials:
        assert open_with_pin(
            credential.private_key_sealed,
            PIN,
            context=credential_key_context(credential.certificate_serial),
        )


def test_one_refused_user_stops_the_whole_batch(doctor: User):
    with pytest.raises(DomainError):
        credential_issue_many(users=[doctor, make_staff()], pin=PIN)

    assert not SigningCredential.objects.exists()


def test_one_active_credential_per_user_is_a_database_rule(doctor: User):
    from django.db import IntegrityError, transaction

    credential = credential_issue(user=doctor, pin=PIN)

    with pytest.raises(IntegrityError), transaction.atomic():
        SigningCredential.objects.create(
            user=doctor,
            role="doctor",
            algorithm=credential.algorithm,
            issuer=credential.issuer,
            certificate_serial="abc",
            certificate_pem=credential.certificate_pem,
            private_key_sealed=credential.private_key_sealed,
            not_before=credential.not_before,
            not_after=credential.not_after,
        )
    assert SigningCredential.objects.get() == credential


def test_the_enrolment_command_issues_from_a_pin_on_stdin(doctor: User, monkeypatch: Any):
    import io

    from django.core.management import call_command

    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PIN}\n"))
    out = io.StringIO()

    call_command(
        "issue_signing_credential", doctor.username, "--pin-stdin", "--algorithm",
        "ecdsa-p256-sha256", stdout=out,
    )  # fmt: skip

    credential = SigningCredential.objects.get()
    assert (credential.user, credential.algorithm) == (doctor, "ecdsa-p256-sha256")
    assert out.getvalue().startswith(
        f"Issued ecdsa-p256-sha256 credential to {doctor.username}: serial "
        f"{credential.certificate_serial}"
    )
    assert AuditEvent.objects.get(detail__event="issued").actor_role == "system"


def test_the_enrolment_command_refuses_a_weak_pin(doctor: User, monkeypatch: Any):
    import io

    from django.core.management import CommandError, call_command

    monkeypatch.setattr("sys.stdin", io.StringIO("123456\n"))

    with pytest.raises(CommandError, match="signing_pin_weak"):
        call_command("issue_signing_credential", doctor.username, "--pin-stdin")
    assert not SigningCredential.objects.exists()
