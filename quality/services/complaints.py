"""Complaints: filed by a patient (about their own care) or a facility's staff (about their
facility's), triaged, answered and closed by operations, escalated when overdue.

Every step goes through one gate (`_step`): lock the complaint, look the step up in
COMPLAINT_STEPS (which status it may start from and where it leads, checked against
COMPLAINT_TRANSITIONS), apply it, record a ComplaintEvent and an audit row, and write the
notifications in the same transaction.
"""

import copy
import datetime
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from consultations.models import Consultation
from consultations.selectors.consultations import consultations_visible_to
from core.actors import SYSTEM_ACTOR, Actor
from core.exceptions import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from notifications.services import notify
from payments.selectors import orders_visible_to
from pharmacy.selectors import fulfilments_visible_to
from prescriptions.selectors import prescriptions_visible_to
from quality.models import (
    COMPLAINT_TRANSITIONS,
    OPEN_COMPLAINT_STATUSES,
    Complaint,
    ComplaintAction,
    ComplaintCategory,
    ComplaintEvent,
    ComplaintReply,
    ComplaintSeverity,
    ComplaintStatus,
    ComplaintSubject,
)

AUDIT_OBJECT_TYPE = "complaint"
DESCRIPTION_MAX_CHARS = 4000
REPLY_MAX_CHARS = 4000

CS = ComplaintStatus
A = ComplaintAction
# Each step: the statuses it may start from and the status it leads to (the same one when the
# step leaves the status as it is). Status changes must be in COMPLAINT_TRANSITIONS.
COMPLAINT_STEPS: dict[str, dict[str, str]] = {
    A.TRIAGED: {CS.SUBMITTED: CS.TRIAGED},
    A.RETRIAGED: {CS.TRIAGED: CS.TRIAGED, CS.RESPONDED: CS.RESPONDED},
    A.REPLIED: {CS.TRIAGED: CS.RESPONDED, CS.RESPONDED: CS.RESPONDED},
    A.CLOSED: {CS.TRIAGED: CS.CLOSED, CS.RESPONDED: CS.CLOSED},
    A.WITHDRAWN: dict.fromkeys(OPEN_COMPLAINT_STATUSES, CS.WITHDRAWN),
    A.ESCALATED: {status: status for status in OPEN_COMPLAINT_STATUSES},
}
for _step_name, _moves in COMPLAINT_STEPS.items():
    for _from, _to in _moves.items():
        assert _from == _to or _to in COMPLAINT_TRANSITIONS[_from], (_step_name, _from, _to)

Check = Callable[[Complaint], dict[str, Any]]
# Writes that go with the step (a reply row, notifications), given the complaint after the step
# and as it was before.
Then = Callable[[Complaint, Complaint], None]


def require_operations(actor: Actor) -> None:
    if not actor.has_role(Role.OPERATIONS):
        raise PermissionDeniedError("Only operations handle complaints.", code="not_operations")


def _step(
    *,
    complaint: Complaint,
    actor: Actor,
    actions: tuple[str, ...],
    check: Check,
    now: datetime.datetime,
    detail: dict[str, Any] | None = None,
    then: Then | None = None,
) -> Complaint:
    """Lock, find the first of `actions` the locked status allows, run `check` (it returns the
    fields to write), write, record the event and the audit row, then `then`."""
    with transaction.atomic(durable=True):
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        action = next((name for name in actions if locked.status in COMPLAINT_STEPS[name]), None)
        if action is None:
            raise ConflictError(
                f"A {locked.status} complaint cannot be {actions[0]}.",
                code="invalid_transition",
                extra={"status": locked.status},
            )
        before = copy.copy(locked)
        from_status = locked.status
        to_status = COMPLAINT_STEPS[action][from_status]
        changes = check(locked)
        locked.status = to_status
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=["status", "updated_at", *changes])
        ComplaintEvent.objects.create(
            complaint=locked,
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor=actor.user,
            actor_role=actor.role,
            detail=detail or {},
            occurred_at=now,
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"step": action, "status": [from_status, to_status], **(detail or {})},
        )
        if then is not None:
            then(locked, before)
    return locked


# --- Filing ------------------------------------------------------------------------------------


def _subject(actor: Actor, subject_kind: str, subject_id: uuid.UUID) -> dict[str, Any]:
    """The complained-about object as the actor may see it (patients: their own; staff: their
    facility's), with the consultation it belongs to. Anything else is not found."""
    related: dict[str, Any]
    if subject_kind == ComplaintSubject.CONSULTATION:
        consultation = consultations_visible_to(actor=actor).filter(public_id=subject_id).first()
        related = {"consultation": consultation}
    elif subject_kind == ComplaintSubject.PRESCRIPTION:
        prescription = prescriptions_visible_to(actor=actor).filter(public_id=subject_id).first()
        related = {
            "prescription": prescription,
            "consultation": prescription.consultation if prescription else None,
        }
    elif subject_kind == ComplaintSubject.PAYMENT:
        order = orders_visible_to(actor=actor).filter(public_id=subject_id).first()
        related = {
            "order": order,
            "prescription": order.prescription if order else None,
            "consultation": order.consultation if order else None,
        }
    elif subject_kind == ComplaintSubject.DELIVERY:
        fulfilment = (
            fulfilments_visible_to(actor=actor)
            .select_related("order__consultation", "prescription")
            .filter(public_id=subject_id)
            .first()
        )
        related = {
            "fulfilment": fulfilment,
            "order": fulfilment.order if fulfilment else None,
            "prescription": fulfilment.prescription if fulfilment else None,
            "consultation": fulfilment.order.consultation if fulfilment else None,
        }
    else:
        raise DomainError(
            "Say what the complaint is about: a consultation, prescription, payment or delivery.",
            code="complaint_subject_invalid",
            fields={"subject_kind": [f"One of {', '.join(ComplaintSubject.values)}."]},
        )
    if related["consultation"] is None:
        raise NotFoundError("Nothing of yours by that id.", code="complaint_subject_not_found")
    return related


def complaint_file(
    *,
    actor: Actor,
    subject_kind: str,
    subject_id: uuid.UUID,
    description: str,
    now: datetime.datetime | None = None,
) -> Complaint:
    """A patient complains about their own consultation, prescription, payment or delivery; a
    clinic's staff about one of their facility's. The complaint is due for triage within
    QUALITY_COMPLAINT_TRIAGE_HOURS; the complainant is told it was received."""
    if not actor.has_role(Role.PATIENT, Role.CLINIC_STAFF) or actor.user is None:
        raise PermissionDeniedError(
            "Patients and clinic staff file complaints.", code="complaint_not_allowed"
        )
    text = description.strip()
    if not text:
        raise DomainError(
            "Describe what went wrong.",
            code="complaint_description_required",
            fields={"description": ["Required."]},
        )
    if len(text) > DESCRIPTION_MAX_CHARS:
        raise DomainError(
            "The description is too long.",
            code="complaint_description_too_long",
            fields={"description": [f"At most {DESCRIPTION_MAX_CHARS} characters."]},
        )
    related = _subject(actor, subject_kind, subject_id)
    consultation: Consultation = related["consultation"]
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        complaint = Complaint.objects.create(
            subject_kind=subject_kind,
            consultation=consultation,
            prescription=related.get("prescription"),
            order=related.get("order"),
            fulfilment=related.get("fulfilment"),
            facility_id=consultation.facility_id,
            patient_id=consultation.patient_id,
            complainant=actor.user,
            complainant_role=actor.role,
            description=text,
            due_at=now + datetime.timedelta(hours=settings.QUALITY_COMPLAINT_TRIAGE_HOURS),
            created_at=now,
        )
        ComplaintEvent.objects.create(
            complaint=complaint,
            action=A.SUBMITTED,
            to_status=complaint.status,
            actor=actor.user,
            actor_role=actor.role,
            detail={"subject_kind": subject_kind},
            occurred_at=now,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[complaint.public_id],
            detail={"subject_kind": subject_kind, "subject": str(subject_id)},
        )
        notify(
            event="complaint_received",
            recipient=actor.user,
            objects={"complaint": complaint.pk},
            dedupe_key=f"complaint:{complaint.pk}:received",
            now=now,
        )
    return complaint


# --- Operations' steps ---------------------------------------------------------------------------


def complaint_due_at(*, created_at: datetime.datetime, severity: str) -> datetime.datetime:
    return created_at + datetime.timedelta(hours=settings.QUALITY_COMPLAINT_SLA_HOURS[severity])


def complaint_triage(
    *,
    actor: Actor,
    complaint: Complaint,
    category: str,
    severity: str,
    assignee: User,
    now: datetime.datetime | None = None,
) -> Complaint:
    """Operations set the category, severity and assignee; the deadline follows the severity
    (QUALITY_COMPLAINT_SLA_HOURS from submission). Again later: re-triage, same status; a new
    deadline still ahead clears the overdue flag."""
    require_operations(actor)
    fields: dict[str, list[str]] = {}
    if category not in ComplaintCategory.values:
        fields["category"] = [f"One of {', '.join(ComplaintCategory.values)}."]
    if severity not in ComplaintSeverity.values:
        fields["severity"] = [f"One of {', '.join(ComplaintSeverity.values)}."]
    if assignee.role != Role.OPERATIONS or not assignee.is_active:
        fields["assignee"] = ["Assign an active operations colleague."]
    if fields:
        raise DomainError(
            "The triage is incomplete.", code="complaint_triage_invalid", fields=fields
        )
    now = now or timezone.now()

    def check(locked: Complaint) -> dict[str, Any]:
        due_at = complaint_due_at(created_at=locked.created_at, severity=severity)
        changes: dict[str, Any] = {
            "category": category,
            "severity": severity,
            "assignee": assignee,
            "due_at": due_at,
        }
        if locked.triaged_at is None:
            changes["triaged_at"] = now
        if due_at != locked.due_at and due_at > now:
            changes["escalated_at"] = None
        return changes

    def then(locked: Complaint, before: Complaint) -> None:
        if before.assignee_id != assignee.pk and assignee.pk != actor.user_id:
            notify(
                event="complaint_assigned",
                recipient=assignee,
                objects={"complaint": locked.pk},
                dedupe_key=f"complaint:{locked.pk}:assigned:{assignee.pk}:{now.timestamp()}",
                now=now,
            )

    return _step(
        complaint=complaint,
        actor=actor,
        actions=(A.TRIAGED, A.RETRIAGED),
        check=check,
        now=now,
        detail={"category": category, "severity": severity, "assignee": str(assignee.public_id)},
        then=then,
    )


def complaint_reply(
    *, actor: Actor, complaint: Complaint, body: str, now: datetime.datetime | None = None
) -> Complaint:
    """Operations answer the complainant (the first answer makes the complaint responded); the
    complainant is notified of each answer."""
    require_operations(actor)
    text = body.strip()
    if not text or len(text) > REPLY_MAX_CHARS:
        raise DomainError(
            "Write the answer.",
            code="complaint_reply_invalid",
            fields={
                "body": ["Required."] if not text else [f"At most {REPLY_MAX_CHARS} characters."]
            },
        )
    now = now or timezone.now()

    def check(locked: Complaint) -> dict[str, Any]:
        return {} if locked.responded_at else {"responded_at": now}

    def then(locked: Complaint, before: Complaint) -> None:
        assert actor.user is not None
        reply = ComplaintReply.objects.create(
            complaint=locked, author=actor.user, body=text, created_at=now
        )
        notify(
            event="complaint_update",
            recipient=locked.complainant,
            objects={"complaint": locked.pk, "reply": reply.pk},
            dedupe_key=f"complaint:{locked.pk}:reply:{reply.pk}",
            now=now,
        )

    return _step(
        complaint=complaint,
        actor=actor,
        actions=(A.REPLIED,),
        check=check,
        now=now,
        then=then,
    )


def complaint_close(
    *, actor: Actor, complaint: Complaint, resolution: str, now: datetime.datetime | None = None
) -> Complaint:
    """Operations close a triaged complaint with its resolution; the complainant is told."""
    require_operations(actor)
    text = resolution.strip()
    if not text or len(text) > REPLY_MAX_CHARS:
        raise DomainError(
            "Say how the complaint was resolved.",
            code="complaint_resolution_required",
            fields={
                "resolution": ["Required."]
                if not text
                else [f"At most {REPLY_MAX_CHARS} characters."]
            },
        )
    now = now or timezone.now()

    def then(locked: Complaint, before: Complaint) -> None:
        notify(
            event="complaint_closed",
            recipient=locked.complainant,
            objects={"complaint": locked.pk},
            dedupe_key=f"complaint:{locked.pk}:closed",
            now=now,
        )

    return _step(
        complaint=complaint,
        actor=actor,
        actions=(A.CLOSED,),
        check=lambda locked: {"closed_at": now, "resolution": text},
        now=now,
        then=then,
    )


def complaint_withdraw(
    *, actor: Actor, complaint: Complaint, reason: str = "", now: datetime.datetime | None = None
) -> Complaint:
    """The complainant takes the complaint back while it is open."""
    if actor.user is None or complaint.complainant_id != actor.user_id:
        raise PermissionDeniedError(
            "Only the complainant withdraws a complaint.", code="not_complainant"
        )
    now = now or timezone.now()
    return _step(
        complaint=complaint,
        actor=actor,
        actions=(A.WITHDRAWN,),
        check=lambda locked: {"withdrawn_at": now},
        now=now,
        detail={"reason": reason.strip()[:500]} if reason.strip() else None,
    )


# --- Escalation ------------------------------------------------------------------------------


def complaints_escalate_overdue(*, now: datetime.datetime | None = None) -> int:
    """Flag open complaints past their deadline (triage or severity) that are not flagged yet,
    and tell every operations colleague in-app; returns how many were flagged.

    Each complaint is locked and checked again, so a twin run flags and notifies once. A new
    deadline set by re-triage clears the flag, and the complaint escalates again if that one
    passes too (the dedupe key names the deadline).
    """
    now = now or timezone.now()
    overdue = list(
        Complaint.objects.filter(
            status__in=OPEN_COMPLAINT_STATUSES, due_at__lt=now, escalated_at__isnull=True
        )
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)
    )
    operators = list(User.objects.filter(role=Role.OPERATIONS, is_active=True).order_by("pk"))
    return sum(_escalate(pk=pk, operators=operators, now=now) for pk in overdue)


class _NotDue(Exception):
    """The complaint changed between the query and the lock: nothing to escalate."""


def _escalate(*, pk: int, operators: list[User], now: datetime.datetime) -> bool:
    def check(locked: Complaint) -> dict[str, Any]:
        if locked.escalated_at is not None or locked.due_at >= now:
            raise _NotDue
        return {"escalated_at": now}

    def then(locked: Complaint, before: Complaint) -> None:
        for operator in operators:
            notify(
                event="complaint_overdue",
                recipient=operator,
                objects={"complaint": locked.pk},
                dedupe_key=f"complaint:{locked.pk}:overdue:{locked.due_at.timestamp()}",
                now=now,
            )

    try:
        _step(
            complaint=Complaint(pk=pk),
            actor=SYSTEM_ACTOR,
            actions=(A.ESCALATED,),
            check=check,
            now=now,
            then=then,
        )
    except (_NotDue, ConflictError):
        return False  # handled, closed or re-triaged meanwhile
    return True
