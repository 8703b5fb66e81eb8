"""Who reads through the facade: a signed-in user or terminal (the REST API's authentication and
access rules, unchanged), or a system client with scopes.

A system client sees what operations see through the same selectors, limited to the resource
types its scopes name; the audit log names the client, not operations.
"""

from dataclasses import dataclass
from typing import Any

from rest_framework import authentication, exceptions

from accounts.models import Role
from core.actors import Actor, actor_from_request, client_ip
from interop.fhir.clients import TOKEN_PREFIX, TokenInvalid, scopes_allow, system_token_authenticate
from interop.models import SystemClient

SYSTEM_CLIENT_ROLE = "system_client"


@dataclass(frozen=True)
class SystemClientPrincipal:
    """What `request.user` is when a system client, not a person, made the request."""

    client: SystemClient
    scopes: frozenset[str]
    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    role = SYSTEM_CLIENT_ROLE
    pk = None

    def __str__(self) -> str:
        return f"system client {self.client.client_id}"


class SystemClientAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer fhirsys.…`; other bearer tokens are left to the JWT class."""

    def authenticate(self, request: Any) -> tuple[SystemClientPrincipal, None] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace")
        keyword, _, token = header.partition(" ")
        token = token.strip()
        if keyword != "Bearer" or not token.startswith(TOKEN_PREFIX):
            return None
        try:
            client, scopes = system_token_authenticate(token=token)
        except TokenInvalid as error:
            raise exceptions.AuthenticationFailed(str(error), code="invalid_token") from error
        return SystemClientPrincipal(client=client, scopes=scopes), None

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="fhir"'


@dataclass(frozen=True)
class FhirCaller:
    """`actor` decides what is visible (the selectors' rules); `audit_actor` and `audit_detail`
    are what the audit log records; `scopes` is None for users (no scope applies to them)."""

    actor: Actor
    audit_actor: Actor
    audit_detail: dict[str, str]
    scopes: frozenset[str] | None
    sees_full_identifiers: bool

    @property
    def is_system(self) -> bool:
        return self.scopes is not None

    def may_read(self, resource_type: str) -> bool:
        return self.scopes is None or scopes_allow(self.scopes, resource_type)


def caller_for_actor(actor: Actor) -> FhirCaller:
    """A user or terminal: their own rules. Identity numbers in full only for operations and
    clinic staff (who see only the patients served at their facility)."""
    return FhirCaller(
        actor=actor,
        audit_actor=actor,
        audit_detail={"via": "fhir"},
        scopes=None,
        sees_full_identifiers=actor.has_role(Role.OPERATIONS, Role.CLINIC_STAFF),
    )


def caller_for_client(
    client: SystemClient, scopes: frozenset[str], *, ip_address: str | None = None
) -> FhirCaller:
    return FhirCaller(
        actor=Actor(role=Role.OPERATIONS, ip_address=ip_address),
        audit_actor=Actor(role=SYSTEM_CLIENT_ROLE, ip_address=ip_address),
        audit_detail={"via": "fhir", "client": client.client_id},
        scopes=scopes,
        sees_full_identifiers=client.sees_full_identifiers,
    )


def caller_from_request(request: Any) -> FhirCaller:
    principal = request.user
    if isinstance(principal, SystemClientPrincipal):
        return caller_for_client(principal.client, principal.scopes, ip_address=client_ip(request))
    return caller_for_actor(actor_from_request(request))
