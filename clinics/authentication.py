"""Terminal device credentials: `Authorization: Terminal <serial>:<secret>`."""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from clinics.models import Terminal

KEYWORD = "Terminal"


def credential_digest(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough; no password stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class TerminalPrincipal:
    """What `request.user` is when a terminal, not a person, made the request."""

    terminal: Terminal
    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    role = "terminal"
    pk = None

    def __str__(self) -> str:
        return f"terminal {self.terminal.serial}"


class TerminalCredentialAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[TerminalPrincipal, Terminal] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace")
        keyword, _, credential = header.partition(" ")
        if keyword != KEYWORD:
            return None
        serial, sep, secret = credential.strip().partition(":")
        if not sep or not serial or not secret:
            raise exceptions.AuthenticationFailed(
                "Expected 'Terminal <serial>:<secret>'.", code="terminal_credential_malformed"
            )
        terminal = Terminal.objects.select_related("facility").filter(serial=serial).first()
        presented = credential_digest(secret)
        if terminal is None or not terminal.credential_hash:
            # Compare anyway so a wrong serial costs the same time as a wrong secret.
            hmac.compare_digest(presented, "0" * 64)
            raise exceptions.AuthenticationFailed(
                "Invalid terminal credential.", code="terminal_credential_invalid"
            )
        if not hmac.compare_digest(presented, terminal.credential_hash):
            raise exceptions.AuthenticationFailed(
                "Invalid terminal credential.", code="terminal_credential_invalid"
            )
        if terminal.credential_revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                "This terminal credential has been revoked.", code="terminal_credential_revoked"
            )
        if not terminal.facility.is_active:
            raise exceptions.AuthenticationFailed(
                "The terminal's facility is inactive.", code="facility_inactive"
            )
        return TerminalPrincipal(terminal=terminal), terminal

    def authenticate_header(self, request: Any) -> str:
        return KEYWORD


class TerminalCredentialScheme(OpenApiAuthenticationExtension):
    target_class = "clinics.authentication.TerminalCredentialAuthentication"
    name = "terminalCredential"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Terminal <serial>:<secret>`: the device credential of a terminal.",
        }
