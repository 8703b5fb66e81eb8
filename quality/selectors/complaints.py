"""Reads of complaints, scoped to the actor. A complaint names a patient and their care: reading
one is audited.

Operations see every complaint; a patient or a clinic's staff member the complaints they filed.
Anyone else sees none, and a complaint they may not see is "not found".
"""

from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import Role, User
from core.actors import Actor
from core.exceptions import NotFoundError
from core.models import AuditAction
from core.services import audit_record
from quality.models import (
    OPEN_COMPLAINT_STATUSES,
    Complaint,
    ComplaintEvent,
    ComplaintReply,
)

AUDIT_OBJECT_TYPE = "complaint"


def complaints_visible_to(*, actor: Actor) -> QuerySet[Complaint]:
    complaints = Complaint.objects.select_related(
        "consultation",
        "prescription",
        "order",
        "fulfilment",
        "facility",
        "patient",
        "complainant",
        "assignee",
    )
    if actor.has_role(Role.OPERATIONS):
        return complaints
    if actor.has_role(Role.PATIENT, Role.CLINIC_STAFF) and actor.user is not None:
        return complaints.filter(complainant=actor.user)
    return complaints.none()


def complaints_filter(
    complaints: QuerySet[Complaint], *, status: str = "", overdue: bool = False
) -> QuerySet[Complaint]:
    """`status` one of the statuses or "open"; `overdue`: open and past the deadline."""
    if status == "open":
        complaints = complaints.filter(status__in=OPEN_COMPLAINT_STATUSES)
    elif status:
        complaints = complaints.filter(status=status)
    if overdue:
        complaints = complaints.filter(
            Q(escalated_at__isnull=False) | Q(due_at__lt=timezone.now()),
            status__in=OPEN_COMPLAINT_STATUSES,
        )
    return complaints


def complaint_get_for_actor(*, actor: Actor, public_id: Any) -> Complaint:
    complaint = (
        complaints_visible_to(actor=actor)
        .prefetch_related(
            Prefetch("events", ComplaintEvent.objects.select_related("actor")),
            Prefetch("replies", ComplaintReply.objects.select_related("author")),
        )
        .filter(public_id=public_id)
        .first()
    )
    if complaint is None:
        raise NotFoundError("Complaint not found.")
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[complaint.public_id],
    )
    return complaint


def complaints_record_list_read(*, actor: Actor, complaints: list[Complaint]) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[complaint.public_id for complaint in complaints],
        detail={"via": "list"},
    )


def complaint_assignees() -> QuerySet[User]:
    """Who a complaint may be assigned to: active operations colleagues."""
    return User.objects.filter(role=Role.OPERATIONS, is_active=True).order_by(
        "full_name", "username"
    )


def complaint_assignee_get(*, public_id: Any) -> User:
    assignee = complaint_assignees().filter(public_id=public_id).first()
    if assignee is None:
        raise NotFoundError(
            "No active operations colleague by that id.",
            code="assignee_not_found",
            fields={"assignee": ["Assign an active operations colleague."]},
        )
    return assignee
