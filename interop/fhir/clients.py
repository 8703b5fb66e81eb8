"""System clients of the FHIR facade: credentials issued and revoked by operations, exchanged for
short-lived bearer tokens (the SMART Backend Services flow with a client secret), and those
tokens checked on every request.

Scopes are SMART v1 system scopes: `system/<ResourceType>.read` or `system/*.read`. A token
carries the scopes granted when it was issued; each request intersects them with what the client
holds now, so withdrawing a scope or revoking the client takes effect at once, not at expiry.
"""

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role
from core.actors import SYSTEM_ROLE, Actor
from core.exceptions import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from interop.models import SystemClient

AUDIT_OBJECT_TYPE = "system_client"
# Bearer tokens of system clients start with this, so the facade tells them from users' JWTs
# before trying to verify either.
TOKEN_PREFIX = "fhirsys."  # noqa: S105 - a marker, not a secret
_TOKEN_SALT = "interop.fhir.system-token"  # noqa: S105 - django.core.signing namespace
SCOPE_PATTERN = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.read$")
CLIENT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def scope_type(scope: str) -> str:
    """The resource type a scope grants reading ("*": every type)."""
    match = SCOPE_PATTERN.match(scope)
    if match is None:
        raise ValueError(f"not a system read scope: {scope!r}")
    return match.group(1)


def scopes_allow(scopes: Iterable[str], resource_type: str) -> bool:
    return any(scope_type(scope) in ("*", resource_type) for scope in scopes)


def _clean_scopes(scopes: Iterable[str], known_types: Iterable[str]) -> list[str]:
    known = set(known_types) | {"*"}
    cleaned = sorted({scope.strip() for scope in scopes if scope.strip()})
    bad = [scope for scope in cleaned if not SCOPE_PATTERN.match(scope)]
    bad += [s for s in cleaned if SCOPE_PATTERN.match(s) and scope_type(s) not in known]
    if not cleaned or bad:
        message = f"Unknown scopes: {', '.join(bad)}." if bad else "Give at least one scope."
        raise DomainError(message, code="scope_invalid", fields={"scopes": [message]})
    return cleaned


def _require_operations(actor: Actor) -> None:
    if not actor.has_role(Role.OPERATIONS, SYSTEM_ROLE):
        raise PermissionDeniedError("Only operations manage FHIR system clients.")


@dataclass(frozen=True)
class IssuedClient:
    client: SystemClient
    secret: str  # shown once


def system_client_create(
    *,
    actor: Actor,
    client_id: str,
    name: str,
    scopes: Iterable[str],
    known_types: Iterable[str],
    sees_full_identifiers: bool = False,
) -> IssuedClient:
    _require_operations(actor)
    if not CLIENT_ID_PATTERN.match(client_id):
        message = "3 to 64 lower-case letters, digits and hyphens."
        raise DomainError(message, code="client_id_invalid", fields={"client_id": [message]})
    if not name.strip():
        raise DomainError(
            "Name the client.", code="validation_error", fields={"name": ["Required."]}
        )
    secret = secrets.token_urlsafe(32)
    client = SystemClient(
        client_id=client_id,
        name=name.strip()[:150],
        secret_hash=secret_digest(secret),
        scopes=_clean_scopes(scopes, known_types),
        sees_full_identifiers=sees_full_identifiers,
    )
    try:
        with transaction.atomic(durable=True):
            client.save()
            audit_record(
                actor=actor,
                action=AuditAction.CREATE,
                object_type=AUDIT_OBJECT_TYPE,
                object_ids=[client.public_id],
                detail={"client_id": client_id, "scopes": client.scopes},
            )
    except IntegrityError as error:
        raise ConflictError(
            "A client with this id exists.",
            code="client_id_taken",
            fields={"client_id": ["Already in use."]},
        ) from error
    return IssuedClient(client=client, secret=secret)


def _locked_client(client_id: str) -> SystemClient:
    client = SystemClient.objects.select_for_update().filter(client_id=client_id).first()
    if client is None:
        raise NotFoundError("No such client.")
    return client


def system_client_rotate_secret(*, actor: Actor, client_id: str) -> IssuedClient:
    """A new secret; the old one stops working at once (tokens already issued run out)."""
    _require_operations(actor)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic(durable=True):
        client = _locked_client(client_id)
        if not client.is_active:
            raise ConflictError("The client is revoked.", code="client_revoked")
        client.secret_hash = secret_digest(secret)
        client.save(update_fields=["secret_hash"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[client.public_id],
            detail={"fields": ["secret"]},
        )
    return IssuedClient(client=client, secret=secret)


def system_client_revoke(*, actor: Actor, client_id: str) -> SystemClient:
    """Refuse the client from now on, its live tokens included. Revoking twice is a no-op."""
    _require_operations(actor)
    with transaction.atomic(durable=True):
        client = _locked_client(client_id)
        if client.is_active:
            client.is_active = False
            client.revoked_at = timezone.now()
            client.save(update_fields=["is_active", "revoked_at"])
            audit_record(
                actor=actor,
                action=AuditAction.UPDATE,
                object_type=AUDIT_OBJECT_TYPE,
                object_ids=[client.public_id],
                detail={"fields": ["is_active"]},
            )
    return client


class TokenRequestError(Exception):
    """An OAuth 2.0 token error (RFC 6749 §5.2): `error` is the standard code."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scopes: tuple[str, ...]


def system_token_issue(
    *, client_id: str, client_secret: str, requested_scope: str | None
) -> IssuedToken:
    """Client credentials for a bearer token with the requested scopes (all the client holds
    when none are requested). A requested scope the client does not hold is refused whole."""
    client = SystemClient.objects.filter(client_id=client_id).first()
    presented = secret_digest(client_secret)
    if client is None:
        # Compare anyway so an unknown id costs the same time as a wrong secret.
        hmac.compare_digest(presented, "0" * 64)
        raise TokenRequestError("invalid_client", "Unknown client or wrong secret.", 401)
    if not hmac.compare_digest(presented, client.secret_hash) or not client.is_active:
        raise TokenRequestError("invalid_client", "Unknown client or wrong secret.", 401)
    held = set(client.scopes)
    if requested_scope is None or not requested_scope.strip():
        granted = held
    else:
        granted = set(requested_scope.split())
        if not granted <= held:
            raise TokenRequestError(
                "invalid_scope",
                f"Not granted to this client: {' '.join(sorted(granted - held))}.",
            )
    scopes = tuple(sorted(granted))
    lifetime = settings.FHIR_SYSTEM_TOKEN_SECONDS
    token = TOKEN_PREFIX + signing.dumps(
        {"c": str(client.public_id), "s": list(scopes), "n": secrets.token_hex(8)},
        salt=_TOKEN_SALT,
    )
    SystemClient.objects.filter(pk=client.pk).update(last_token_at=timezone.now())
    return IssuedToken(access_token=token, expires_in=lifetime, scopes=scopes)


class TokenInvalid(Exception):
    pass


def system_token_authenticate(*, token: str) -> tuple[SystemClient, frozenset[str]]:
    """The client behind a live token and the scopes it may use now. One query."""
    try:
        claims = signing.loads(
            token.removeprefix(TOKEN_PREFIX),
            salt=_TOKEN_SALT,
            max_age=settings.FHIR_SYSTEM_TOKEN_SECONDS,
        )
    except signing.SignatureExpired as error:
        raise TokenInvalid("The token has expired.") from error
    except signing.BadSignature as error:
        raise TokenInvalid("The token is not valid.") from error
    client = SystemClient.objects.filter(public_id=claims["c"], is_active=True).first()
    if client is None:
        raise TokenInvalid("The client has been revoked.")
    return client, frozenset(claims["s"]) & frozenset(client.scopes)
