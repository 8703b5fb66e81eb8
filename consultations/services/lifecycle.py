"""Consultation transitions: one service per transition, all through one gate.

The gate locks the row, checks TRANSITIONS, runs the transition's own rules, writes the new
status with an event row and an audit row, all in one durable transaction.
"""

import datetime
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import DoctorProfile, Role
from clinics.models import StaffMembership, Terminal
from consultations.models import (
    TRANSITIONS,
    Consultation,
    ConsultationEvent,
    ConsultationKind,
    ConsultationStatus,
    TerminationReason,
)
from core.actors import SYSTEM_ACTOR, Actor
from core.exceptions import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from notifications.services import notify
from patients.consents import patient_has_consent
from patients.evidence import patient_has_verified_evidence
from payments.services import refund_for_terminated_consultation
from video.services import call_room_close, call_room_open

AUDIT_OBJECT_TYPE = "consultation"
Check = Callable[[Consultation], dict[str, Any]]
Announce = Callable[[Consultation], None]


def _transition(
    *,
    consultation: Consultation,
    to_status: str,
    actor: Actor,
    check: Check,
    reason: str = "",
    terminal: Terminal | None = None,
    now: datetime.datetime | None = None,
    announce: Announce | None = None,
) -> Consultation:
    """Lock, check the table, run `check` (which returns the fields to write), write, record;
    `announce` writes the transition's notifications in the same transaction."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        locked = Consultation.objects.select_for_update().get(pk=consultation.pk)
        if to_status not in TRANSITIONS[locked.status]:
            raise ConflictError(
                f"A {locked.status} consultation cannot become {to_status}.",
                code="invalid_transition",
                extra={"status": locked.status},
            )
        changes = check(locked)
        from_status = locked.status
        locked.status = to_status
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=["status", "updated_at", *changes])
        ConsultationEvent.objects.create(
            consultation=locked,
            from_status=from_status,
            to_status=to_status,
            actor=actor.user,
            actor_role=actor.role,
            terminal=terminal,
            reason=reason,
            occurred_at=now,
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"status": [from_status, to_status]},
        )
        if announce is not None:
            announce(locked)
    return locked


def _announce_checked_in(consultation: Consultation) -> None:
    """The treating doctor learns the patient is in the queue (walk-ins have none yet)."""
    if consultation.doctor is not None:
        notify(
            event="patient_checked_in",
            recipient=consultation.doctor.user,
            objects={"consultation": consultation.pk},
            dedupe_key=f"consultation:{consultation.pk}:checked_in",
        )


def _announce_doctor_ready(consultation: Consultation) -> None:
    """The facility's staff bring the terminal into the video consultation."""
    for membership in StaffMembership.objects.filter(
        facility_id=consultation.facility_id, is_active=True, user__is_active=True
    ).select_related("user"):
        notify(
            event="doctor_ready",
            recipient=membership.user,
            objects={"consultation": consultation.pk},
            dedupe_key=f"consultation:{consultation.pk}:doctor_ready",
        )


def _announce_terminated(consultation: Consultation) -> None:
    notify(
        event="consultation_terminated",
        recipient=consultation.patient,
        objects={"consultation": consultation.pk},
        dedupe_key=f"consultation:{consultation.pk}:terminated",
    )
    # Fees go back with the termination (reserved in this transaction, sent to the provider
    # after commit); unpaid orders of the consultation close.
    refund_for_terminated_consultation(consultation=consultation)


def _require_staff_of(actor: Actor, consultation: Consultation, *, allow_operations: bool) -> None:
    if allow_operations and actor.has_role(Role.OPERATIONS):
        return
    if not actor.has_role(Role.CLINIC_STAFF):
        raise PermissionDeniedError("Only clinic staff do this.")
    if actor.facility_id != consultation.facility_id:
        raise PermissionDeniedError(
            "The consultation is booked at another facility.", code="wrong_facility"
        )


def require_treating_doctor(actor: Actor, consultation: Consultation) -> None:
    if not actor.has_role(Role.DOCTOR) or consultation.doctor is None:
        raise PermissionDeniedError(
            "Only the treating doctor does this.", code="not_treating_doctor"
        )
    if consultation.doctor.user_id != actor.user_id:
        raise PermissionDeniedError(
            "Only the treating doctor does this.", code="not_treating_doctor"
        )


def consultation_check_in(
    *,
    actor: Actor,
    consultation: Consultation,
    terminal: Terminal | None = None,
    now: datetime.datetime | None = None,
) -> Consultation:
    """Staff check the patient in at the booked facility, from 30 minutes before the slot."""
    now = now or timezone.now()
    _require_staff_of(actor, consultation, allow_operations=False)
    if terminal is not None and terminal.facility_id != consultation.facility_id:
        raise NotFoundError("Terminal not found.", code="terminal_not_found")

    def check(locked: Consultation) -> dict[str, Any]:
        opens = locked.scheduled_start - datetime.timedelta(
            minutes=settings.CHECK_IN_OPENS_MINUTES_BEFORE
        )
        if locked.kind == ConsultationKind.SCHEDULED and now < opens:
            raise ConflictError(
                "Check-in opens 30 minutes before the appointment.",
                code="check_in_too_early",
                extra={"opens_at": opens.isoformat()},
            )
        if now >= locked.scheduled_end:
            raise ConflictError("The appointment has passed.", code="check_in_too_late")
        return {"checked_in_at": now, "checked_in_terminal": terminal}

    return _transition(
        consultation=consultation,
        to_status=ConsultationStatus.CHECKED_IN,
        actor=actor,
        check=check,
        terminal=terminal,
        now=now,
        announce=_announce_checked_in,
    )


def consultation_start(
    *, actor: Actor, consultation: Consultation, now: datetime.datetime | None = None
) -> Consultation:
    """The doctor starts the video consultation: consent and verified evidence must exist.

    A walk-in token is taken by the first doctor of its department who starts it.
    """
    now = now or timezone.now()
    doctor_profile = (
        DoctorProfile.objects.filter(user=actor.user).first()
        if actor.has_role(Role.DOCTOR) and actor.user is not None
        else None
    )
    if doctor_profile is None:  # not a doctor, or a doctor account without a profile yet
        raise PermissionDeniedError("Only doctors start consultations.", code="not_treating_doctor")

    def check(locked: Consultation) -> dict[str, Any]:
        changes: dict[str, Any] = {"started_at": now}
        if locked.doctor_id is None:
            if doctor_profile.department_id != locked.department_id:
                raise PermissionDeniedError(
                    "The walk-in is for another department.", code="not_treating_doctor"
                )
            changes["doctor"] = doctor_profile
        elif locked.doctor_id != doctor_profile.pk:
            raise PermissionDeniedError(
                "Only the treating doctor does this.", code="not_treating_doctor"
            )
        if not patient_has_consent(patient=locked.patient):
            raise ConflictError(
                "The patient has not consented to remote care.", code="consent_required"
            )
        if not patient_has_verified_evidence(patient=locked.patient):
            raise ConflictError(
                "Online care is for follow-up visits: verified prior-diagnosis evidence is needed.",
                code="followup_evidence_required",
            )
        return changes

    started = _transition(
        consultation=consultation,
        to_status=ConsultationStatus.IN_PROGRESS,
        actor=actor,
        check=check,
        now=now,
        announce=_announce_doctor_ready,
    )
    call_room_open(consultation=started, now=now)  # committed: the video room opens
    return started


def consultation_complete(
    *, actor: Actor, consultation: Consultation, now: datetime.datetime | None = None
) -> Consultation:
    """The doctor closes the visit; the record needs an assessment and a primary diagnosis."""
    now = now or timezone.now()
    require_treating_doctor(actor, consultation)

    def check(locked: Consultation) -> dict[str, Any]:
        note = getattr(locked, "note", None)
        if note is None or not note.assessment.strip():
            raise ConflictError("Write the note's assessment first.", code="note_required")
        if not locked.diagnoses.filter(is_primary=True).exists():
            raise ConflictError("Record the primary diagnosis first.", code="diagnosis_required")
        return {"ended_at": now}

    completed = _transition(
        consultation=consultation,
        to_status=ConsultationStatus.COMPLETED,
        actor=actor,
        check=check,
        now=now,
    )
    call_room_close(consultation=completed, actor=actor, now=now)  # sockets told, disconnected
    return completed


def consultation_cancel(
    *, actor: Actor, consultation: Consultation, reason: str, now: datetime.datetime | None = None
) -> Consultation:
    """Staff of the facility or operations cancel before the start; the slot becomes free."""
    reason = reason.strip()
    if not reason:
        raise DomainError(
            "Give the reason for cancelling.",
            code="reason_required",
            fields={"reason": ["Required."]},
        )
    _require_staff_of(actor, consultation, allow_operations=True)
    return _transition(
        consultation=consultation,
        to_status=ConsultationStatus.CANCELLED,
        actor=actor,
        check=lambda locked: {"cancel_reason": reason},
        reason=reason,
        now=now,
    )


def consultation_terminate(
    *,
    actor: Actor,
    consultation: Consultation,
    reason_code: str,
    referral_note: str,
    now: datetime.datetime | None = None,
) -> Consultation:
    """The doctor ends an unsuitable consultation and refers the patient to in-person care."""
    now = now or timezone.now()
    if reason_code not in TerminationReason.values:
        raise DomainError(
            "Choose a termination reason.",
            code="termination_reason_invalid",
            fields={"reason_code": [f"One of {', '.join(TerminationReason.values)}."]},
        )
    referral_note = referral_note.strip()
    if not referral_note:
        raise DomainError(
            "Write the referral note.",
            code="referral_note_required",
            fields={"referral_note": ["Required."]},
        )
    require_treating_doctor(actor, consultation)
    terminated = _transition(
        consultation=consultation,
        to_status=ConsultationStatus.TERMINATED,
        actor=actor,
        check=lambda locked: {
            "ended_at": now,
            "termination_reason": reason_code,
            "referral_note": referral_note,
        },
        reason=reason_code,
        now=now,
        announce=_announce_terminated,
    )
    call_room_close(consultation=terminated, actor=actor, now=now)  # sockets told, disconnected
    return terminated


def consultations_mark_no_show(*, now: datetime.datetime | None = None) -> int:
    """Booked consultations nobody checked in by slot end + grace become no-shows."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(minutes=settings.NO_SHOW_GRACE_MINUTES)
    overdue = list(
        Consultation.objects.filter(
            status=ConsultationStatus.BOOKED, scheduled_end__lte=cutoff
        ).only("pk")
    )
    marked = 0
    for consultation in overdue:
        try:
            _transition(
                consultation=consultation,
                to_status=ConsultationStatus.NO_SHOW,
                actor=SYSTEM_ACTOR,
                check=lambda locked: {},
                reason="not checked in",
                now=now,
            )
        except ConflictError:
            continue  # checked in or cancelled since the query: nothing to do
        marked += 1
    return marked
