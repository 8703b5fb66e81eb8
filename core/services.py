"""Shared write services: the audit log."""

from collections.abc import Iterable
from typing import Any

from core.actors import Actor
from core.models import AuditAction, AuditEvent


def audit_record(
    *,
    actor: Actor,
    action: AuditAction,
    object_type: str,
    object_ids: Iterable[Any],
    detail: dict[str, Any] | None = None,
) -> list[AuditEvent]:
    """Append one audit row per object (one INSERT whatever the count)."""
    rows = [
        AuditEvent(
            actor=actor.user,
            actor_role=actor.role,
            terminal_id=actor.terminal_id,
            facility_id=actor.facility_id,
            ip_address=actor.ip_address,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            detail=detail or {},
        )
        for object_id in object_ids
    ]
    return AuditEvent.objects.bulk_create(rows) if rows else []
