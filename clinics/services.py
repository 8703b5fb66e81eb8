"""Writes over the clinic network: facilities, terminals and their credentials, staff."""

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from accounts.models import Role
from clinics.authentication import credential_digest
from clinics.models import Facility, Terminal, TerminalStatus
from core.actors import Actor
from core.exceptions import ConflictError, DomainError, PermissionDeniedError

FACILITY_EDITABLE_FIELDS = {
    "name",
    "facility_type",
    "province",
    "city",
    "district",
    "address_detail",
    "operator",
    "is_licensed_medical_institution",
    "is_active",
}


@dataclass(frozen=True)
class IssuedCredential:
    terminal: Terminal
    credential: str  # "<serial>:<secret>", shown once


def _require_operations(actor: Actor) -> None:
    if not actor.has_role(Role.OPERATIONS):
        raise PermissionDeniedError("Only operations staff manage the clinic network.")


def facility_create(*, actor: Actor, code: str, **fields: Any) -> Facility:
    _require_operations(actor)
    unknown = set(fields) - FACILITY_EDITABLE_FIELDS
    if unknown:
        raise DomainError(f"Unknown facility fields: {sorted(unknown)}", code="invalid_fields")
    facility = Facility(code=code, **fields)
    facility.full_clean(validate_unique=False)  # the unique index decides, race-free
    try:
        with transaction.atomic(durable=True):
            facility.save()
    except IntegrityError as error:
        raise ConflictError(
            "A facility with this code exists.",
            code="facility_code_taken",
            fields={"code": ["Already in use."]},
        ) from error
    return facility


def facility_update(*, actor: Actor, facility: Facility, **fields: Any) -> Facility:
    _require_operations(actor)
    unknown = set(fields) - FACILITY_EDITABLE_FIELDS
    if unknown:
        raise DomainError(f"Unknown facility fields: {sorted(unknown)}", code="invalid_fields")
    with transaction.atomic(durable=True):
        locked = Facility.objects.select_for_update().get(pk=facility.pk)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.full_clean()
        locked.save()
    return locked


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def terminal_register(*, actor: Actor, facility: Facility, serial: str) -> IssuedCredential:
    """Register a terminal at a facility and issue its first device credential."""
    _require_operations(actor)
    secret = _new_secret()
    now = timezone.now()
    try:
        with transaction.atomic(durable=True):
            terminal = Terminal.objects.create(
                serial=serial,
                facility=facility,
                credential_hash=credential_digest(secret),
                credential_issued_at=now,
            )
    except IntegrityError as error:  # the unique index on serial, race-free
        raise ConflictError(
            "A terminal with this serial exists.",
            code="terminal_serial_taken",
            fields={"serial": ["Already registered."]},
        ) from error
    return IssuedCredential(terminal=terminal, credential=f"{serial}:{secret}")


def terminal_rotate_credential(*, actor: Actor, terminal: Terminal) -> IssuedCredential:
    """Issue a new credential; the old one stops working at once."""
    _require_operations(actor)
    secret = _new_secret()
    with transaction.atomic(durable=True):
        locked = Terminal.objects.select_for_update().get(pk=terminal.pk)
        locked.credential_hash = credential_digest(secret)
        locked.credential_issued_at = timezone.now()
        locked.credential_revoked_at = None
        locked.save(
            update_fields=["credential_hash", "credential_issued_at", "credential_revoked_at"]
        )
    return IssuedCredential(terminal=locked, credential=f"{locked.serial}:{secret}")


def terminal_revoke_credential(*, actor: Actor, terminal: Terminal) -> Terminal:
    _require_operations(actor)
    with transaction.atomic(durable=True):
        locked = Terminal.objects.select_for_update().get(pk=terminal.pk)
        if locked.credential_revoked_at is None:
            locked.credential_revoked_at = timezone.now()
            locked.status = TerminalStatus.OFFLINE
            locked.save(update_fields=["credential_revoked_at", "status"])
    return locked


def terminal_record_heartbeat(*, terminal: Terminal) -> Terminal:
    """A terminal reports it is alive; a terminal in maintenance stays in maintenance."""
    Terminal.objects.filter(pk=terminal.pk).update(
        last_heartbeat_at=timezone.now(),
        status=Case(
            When(status=TerminalStatus.MAINTENANCE, then=Value(TerminalStatus.MAINTENANCE)),
            default=Value(TerminalStatus.ONLINE),
        ),
    )
    terminal.refresh_from_db(fields=["status", "last_heartbeat_at"])
    return terminal


def terminals_mark_stale_offline(*, now: Any = None) -> int:
    """Mark online terminals whose last heartbeat is too old as offline; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.TERMINAL_OFFLINE_AFTER_SECONDS)
    return Terminal.objects.filter(
        status=TerminalStatus.ONLINE, last_heartbeat_at__lt=cutoff
    ).update(status=TerminalStatus.OFFLINE)
