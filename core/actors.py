"""Who is acting: a signed-in user or an authenticated terminal, with where they act from.

Services and selectors take an `Actor`; views build one from the request. It carries what the
audit log records (user, role, terminal, facility, address) and what access rules need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.models import User


TERMINAL_ROLE = "terminal"
SYSTEM_ROLE = "system"
ANONYMOUS_ROLE = "anonymous"


@dataclass(frozen=True)
class Actor:
    role: str
    user: User | None = None
    terminal_id: int | None = None
    facility_id: int | None = None
    ip_address: str | None = None

    @property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


SYSTEM_ACTOR = Actor(role=SYSTEM_ROLE)


def client_ip(request: Any) -> str | None:
    """The client address as the server saw it.

    REMOTE_ADDR only: behind a proxy, the proxy (uvicorn --proxy-headers, or the web server) is
    what rewrites it from X-Forwarded-For, so a client cannot forge it here.
    """
    return request.META.get("REMOTE_ADDR") or None


def actor_for_user(user: User, *, ip_address: str | None = None) -> Actor:
    from clinics.selectors import staff_facility_id

    return Actor(
        role=user.role,
        user=user,
        facility_id=staff_facility_id(user=user),
        ip_address=ip_address,
    )


def actor_from_request(request: Any) -> Actor:
    from clinics.authentication import TerminalPrincipal

    cached = getattr(request, "_telehealth_actor", None)
    if cached is not None:
        return cached
    principal = request.user
    ip = client_ip(request)
    if isinstance(principal, TerminalPrincipal):
        actor = Actor(
            role=TERMINAL_ROLE,
            terminal_id=principal.terminal.pk,
            facility_id=principal.terminal.facility_id,
            ip_address=ip,
        )
    elif not principal.is_authenticated:
        actor = Actor(role=ANONYMOUS_ROLE, ip_address=ip)
    else:
        actor = actor_for_user(principal, ip_address=ip)
    request._telehealth_actor = actor
    return actor
