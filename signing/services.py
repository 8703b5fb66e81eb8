"""Signing credentials and signatures.

- `credential_issue`: a doctor or pharmacist gets a key pair and a certificate from the active
  CA of the algorithm; the private key is sealed under their PIN (never stored). A new
  credential revokes the previous one, which stays on file to verify older signatures.
- `sign_payload`: unlocks the key with the PIN on every call. Wrong PINs are counted on the
  locked credential row and committed even though the call fails; SIGNING_PIN_MAX_ATTEMPTS in
  a row lock the credential for SIGNING_PIN_LOCK_MINUTES. The row stays locked while the PIN is
  checked, so concurrent guesses queue up and can never exceed the limit.

Every issue, revocation, wrong PIN and signature writes an audit row.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from core.actors import Actor
from core.exceptions import ConflictError, DomainError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from signing import keystore
from signing.algorithms import get_algorithm
from signing.certificates import ROLE_POLICY_OIDS, CertificateRequest, issue_certificate
from signing.models import CertificateAuthority, CredentialStatus, SigningCredential
from signing.pki import (
    BACKDATE,
    SIGNER_VALIDITY_YEARS,
    add_years,
    ca_active,
    ca_private_key,
    new_serial,
    resolve_algorithm,
)

AUDIT_OBJECT_TYPE = "signing_credential"
SIGNER_ROLES = (Role.DOCTOR, Role.PHARMACIST)
PIN_PATTERN = re.compile(r"[0-9]{6,12}")
SUPERSEDED = "superseded by a new credential"


@dataclass(frozen=True)
class SignatureRecord:
    algorithm: str
    signature: str  # base64 of the DER signature
    certificate_pem: str
    certificate_serial: str  # hex
    signer_role: str
    signed_at: datetime.datetime


def _user_actor(user: User) -> Actor:
    return Actor(role=user.role, user=user)


def pin_is_weak(pin: str) -> bool:
    """6 to 12 digits, not all the same digit and not a run like 123456 or 987654."""
    if not isinstance(pin, str) or not PIN_PATTERN.fullmatch(pin):
        return True
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    return steps in ({0}, {1}, {9})


def _check_pin_policy(pin: str) -> None:
    if pin_is_weak(pin):
        raise DomainError(
            "The signing PIN must be 6 to 12 digits, not one repeated digit or a run like 123456.",
            code="signing_pin_weak",
            fields={"pin": ["6 to 12 digits; not 111111, 123456 or 654321."]},
        )


def _check_signer(user: User) -> None:
    if user.role not in SIGNER_ROLES:
        raise DomainError(
            "Only doctors and pharmacists hold signing credentials.",
            code="signing_role_not_allowed",
        )
    if not user.is_active:
        raise DomainError("The account is deactivated.", code="signing_user_inactive")


def _scrypt_cost() -> keystore.ScryptCost:
    return keystore.ScryptCost(
        n=settings.SIGNING_PIN_SCRYPT_N,
        r=settings.SIGNING_PIN_SCRYPT_R,
        p=settings.SIGNING_PIN_SCRYPT_P,
    )


def credential_key_context(serial: str) -> str:
    return f"signing-credential:{serial}"


def _prepare(
    *,
    user: User,
    authority: CertificateAuthority,
    authority_key: bytes,
    pin_key: keystore.PinKey,
    now: datetime.datetime,
) -> SigningCredential:
    """A new credential row (unsaved): the key pair, its certificate and the sealed key."""
    algorithm = get_algorithm(authority.algorithm)
    private_key = algorithm.generate_private_key()
    not_before = now.replace(microsecond=0) - BACKDATE
    not_after = min(
        add_years(now.replace(microsecond=0), SIGNER_VALIDITY_YEARS), authority.not_after
    )
    serial = new_serial()
    certificate_pem = issue_certificate(
        request=CertificateRequest(
            subject=[
                ("country_name", "CN"),
                ("organization_name", settings.SIGNING_CA_ORGANIZATION),
                ("organizational_unit_name", user.role),
                ("common_name", user.full_name or user.username),
                ("user_id", str(user.public_id)),
            ],
            serial=serial,
            not_before=not_before,
            not_after=not_after,
            public_key=algorithm.public_key(private_key),
            is_ca=False,
            policy_oids=(ROLE_POLICY_OIDS[user.role],),
        ),
        algorithm=algorithm,
        issuer_private_key=authority_key,
        issuer_certificate_pem=authority.certificate_pem,
    )
    serial_text = f"{serial:x}"
    return SigningCredential(
        user=user,
        role=user.role,
        algorithm=algorithm.name,
        issuer=authority,
        certificate_serial=serial_text,
        certificate_pem=certificate_pem,
        private_key_sealed=keystore.seal_with_pin_key(
            private_key, pin_key, context=credential_key_context(serial_text)
        ),
        not_before=not_before,
        not_after=not_after,
    )


def _store(
    credentials: Sequence[SigningCredential], *, actor: Actor | None, now: datetime.datetime
) -> None:
    """Save new credentials, revoking each user's previous one, in one durable transaction."""
    with transaction.atomic(durable=True):
        user_ids = sorted(credential.user_id for credential in credentials)
        # Lock the users in a fixed order: concurrent issues for one user queue here.
        list(User.objects.select_for_update().filter(pk__in=user_ids).order_by("pk"))
        previous = {
            credential.user_id: credential
            for credential in SigningCredential.objects.select_for_update().filter(
                user_id__in=user_ids, status=CredentialStatus.ACTIVE
            )
        }
        for credential in credentials:
            old = previous.get(credential.user_id)
            if old is not None:
                _revoke(
                    old, actor=actor or _user_actor(credential.user), reason=SUPERSEDED, now=now
                )
        SigningCredential.objects.bulk_create(credentials)
        for credential in credentials:
            old = previous.get(credential.user_id)
            audit_record(
                actor=actor or _user_actor(credential.user),
                action=AuditAction.CREATE,
                object_type=AUDIT_OBJECT_TYPE,
                object_ids=[credential.public_id],
                detail={
                    "event": "issued",
                    "user": str(credential.user.public_id),
                    "algorithm": credential.algorithm,
                    "certificate_serial": credential.certificate_serial,
                    "superseded": old.certificate_serial if old else None,
                },
            )


def credential_issue(
    *,
    user: User,
    pin: str,
    algorithm: str | None = None,
    actor: Actor | None = None,
    now: datetime.datetime | None = None,
) -> SigningCredential:
    """A new credential for a doctor or pharmacist under `pin` (6-12 digits); the previous
    active one is revoked. `algorithm` defaults to SIGNING_DEFAULT_ALGORITHM."""
    return credential_issue_many(users=[user], pin=pin, algorithm=algorithm, actor=actor, now=now)[
        0
    ]


def credential_issue_many(
    *,
    users: Sequence[User],
    pin: str,
    algorithm: str | None = None,
    actor: Actor | None = None,
    now: datetime.datetime | None = None,
) -> list[SigningCredential]:
    """`credential_issue` for several users who share one PIN (the demo's printed PIN): scrypt
    runs once and the salt is shared, which weakens nothing when the PIN is shared anyway. Each
    private key still has its own nonce and is bound to its own certificate serial."""
    _check_pin_policy(pin)
    for user in users:
        _check_signer(user)
    if not users:
        return []
    if len({user.pk for user in users}) != len(users):
        raise DomainError("Each user gets one credential.", code="signing_duplicate_user")
    now = now or timezone.now()
    authority = ca_active(algorithm=resolve_algorithm(algorithm))
    authority_key = ca_private_key(authority)
    pin_key = keystore.derive_pin_key(pin, _scrypt_cost())
    credentials = [
        _prepare(
            user=user, authority=authority, authority_key=authority_key, pin_key=pin_key, now=now
        )
        for user in users
    ]
    _store(credentials, actor=actor, now=now)
    return credentials


def _revoke(
    credential: SigningCredential, *, actor: Actor, reason: str, now: datetime.datetime
) -> None:
    credential.status = CredentialStatus.REVOKED
    credential.revoked_at = now
    credential.revocation_reason = reason[:200]
    credential.save(update_fields=["status", "revoked_at", "revocation_reason"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[credential.public_id],
        detail={
            "event": "revoked",
            "certificate_serial": credential.certificate_serial,
            "reason": credential.revocation_reason,
        },
    )


def credential_revoke(
    *,
    credential: SigningCredential,
    actor: Actor,
    reason: str = "",
    now: datetime.datetime | None = None,
) -> SigningCredential:
    """Stop a credential from signing. Its certificate still verifies earlier signatures."""
    with transaction.atomic(durable=True):
        locked = SigningCredential.objects.select_for_update().get(pk=credential.pk)
        if locked.status != CredentialStatus.ACTIVE:
            raise ConflictError(
                "The credential is already revoked.", code="signing_credential_revoked"
            )
        _revoke(locked, actor=actor, reason=reason or "revoked", now=now or timezone.now())
    return locked


def _pin_failure(
    credential: SigningCredential, *, actor: Actor, now: datetime.datetime
) -> PermissionDeniedError:
    """Count a wrong PIN on the locked row (locking the credential at the limit)."""
    credential.failed_pin_attempts += 1
    remaining = settings.SIGNING_PIN_MAX_ATTEMPTS - credential.failed_pin_attempts
    locked_until: str | None = None
    if remaining <= 0:
        lock_end = now + datetime.timedelta(minutes=settings.SIGNING_PIN_LOCK_MINUTES)
        credential.locked_until = lock_end
        credential.failed_pin_attempts = 0  # a fresh count once the lock has passed
        locked_until = lock_end.isoformat()
    credential.save(update_fields=["failed_pin_attempts", "locked_until"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[credential.public_id],
        detail={
            "event": "pin_failed",
            "attempts_remaining": max(remaining, 0),
            "locked_until": locked_until,
        },
    )
    message = (
        "Wrong signing PIN; the credential is now locked."
        if remaining <= 0
        else f"Wrong signing PIN; {remaining} attempt(s) left."
    )
    return PermissionDeniedError(
        message,
        code="signing_pin_invalid",
        extra={"attempts_remaining": max(remaining, 0), "locked_until": locked_until},
    )


def _locked_refusal(credential: SigningCredential, *, actor: Actor) -> PermissionDeniedError:
    assert credential.locked_until is not None
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[credential.public_id],
        detail={"event": "pin_refused_locked", "locked_until": credential.locked_until.isoformat()},
    )
    return PermissionDeniedError(
        "Too many wrong signing PINs; signing is locked for a while.",
        code="signing_pin_locked",
        extra={"locked_until": credential.locked_until.isoformat()},
    )


def sign_payload(
    *,
    user: User,
    pin: str,
    payload: bytes,
    actor: Actor | None = None,
) -> SignatureRecord:
    """Sign `payload` with the user's active credential, unlocked by `pin`."""
    actor = actor or _user_actor(user)
    refusal: PermissionDeniedError | None = None
    with transaction.atomic(durable=True):
        credential = (
            SigningCredential.objects.select_for_update()
            .filter(user=user, status=CredentialStatus.ACTIVE)
            .first()
        )
        # Read the clock after the lock: a queued guess must see a lock set while it waited.
        now = timezone.now()
        if credential is None or not user.is_active:
            raise PermissionDeniedError(
                "You hold no active signing credential.", code="signing_credential_missing"
            )
        if credential.not_after <= now:
            raise PermissionDeniedError(
                "Your signing certificate has expired; ask for a new credential.",
                code="signing_credential_expired",
            )
        if credential.locked_until is not None and credential.locked_until > now:
            refusal = _locked_refusal(credential, actor=actor)
        else:
            try:
                private_key = keystore.open_with_pin(
                    credential.private_key_sealed,
                    pin,
                    context=credential_key_context(credential.certificate_serial),
                )
            except keystore.UnsealError:
                refusal = _pin_failure(credential, actor=actor, now=now)
            else:
                signature = get_algorithm(credential.algorithm).sign(private_key, payload)
                credential.failed_pin_attempts = 0
                credential.locked_until = None
                credential.last_signed_at = now
                credential.save(
                    update_fields=["failed_pin_attempts", "locked_until", "last_signed_at"]
                )
                audit_record(
                    actor=actor,
                    action=AuditAction.CREATE,
                    object_type=AUDIT_OBJECT_TYPE,
                    object_ids=[credential.public_id],
                    detail={
                        "event": "signed",
                        "certificate_serial": credential.certificate_serial,
                        "payload_sha256": hashlib.sha256(payload).hexdigest(),
                    },
                )
    # Raised after the commit, so the counted failure (and its audit row) is kept.
    if refusal is not None:
        raise refusal
    return SignatureRecord(
        algorithm=credential.algorithm,
        signature=base64.b64encode(signature).decode("ascii"),
        certificate_pem=credential.certificate_pem,
        certificate_serial=credential.certificate_serial,
        signer_role=credential.role,
        signed_at=now,
    )
