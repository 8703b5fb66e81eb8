"""Reads of consultations, scoped to the actor. Reading one consultation is audited."""

import datetime
from typing import Any

from django.db.models import Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import DoctorProfile, Role
from consultations.models import Consultation, ConsultationKind, ConsultationStatus
from core.actors import TERMINAL_ROLE, Actor
from core.dates import local_day_bounds
from core.exceptions import NotFoundError
from core.models import AuditAction
from core.services import audit_record

AUDIT_OBJECT_TYPE = "consultation"


def _with_related(consultations: QuerySet[Consultation]) -> QuerySet[Consultation]:
    return consultations.select_related(
        "patient", "doctor__user", "department", "facility", "checked_in_terminal"
    )


def consultations_visible_to(*, actor: Actor) -> QuerySet[Consultation]:
    """Operations see all; staff and terminals their facility's; a doctor their own and the
    walk-in tokens waiting in their department; a patient their own."""
    consultations = _with_related(Consultation.objects.all())
    if actor.has_role(Role.OPERATIONS):
        return consultations
    if actor.has_role(Role.CLINIC_STAFF, TERMINAL_ROLE) and actor.facility_id is not None:
        return consultations.filter(facility_id=actor.facility_id)
    if actor.has_role(Role.DOCTOR) and actor.user is not None:
        return consultations.filter(
            Q(doctor__user=actor.user)
            | Q(
                kind=ConsultationKind.WALK_IN,
                doctor__isnull=True,
                department__doctors__user=actor.user,
            )
        )
    if actor.has_role(Role.PATIENT) and actor.user is not None:
        return consultations.filter(patient__user=actor.user)
    return consultations.none()


def consultation_get_for_actor(*, actor: Actor, public_id: Any) -> Consultation:
    consultation = consultations_visible_to(actor=actor).filter(public_id=public_id).first()
    if consultation is None:
        raise NotFoundError("Consultation not found.")
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[consultation.public_id],
    )
    return consultation


def doctor_queue(*, actor: Actor, day: datetime.date | None = None) -> list[Consultation]:
    """The doctor's day: the consultation in progress, then checked-in patients in slot order,
    then the department's walk-in tokens in token order. Constant queries (one)."""
    day = day or timezone.localdate()
    start, end = local_day_bounds(day)
    waiting = [ConsultationStatus.CHECKED_IN, ConsultationStatus.IN_PROGRESS]
    # The doctor's profile and department as scalar subqueries (not joins), so that each branch
    # of the OR is an index condition on the consultation table itself: (doctor, status,
    # scheduled_start) for the booked, (department, walk_in_date, status) for the walk-ins.
    profile = DoctorProfile.objects.filter(user=actor.user)
    doctor_id = Subquery(profile.values("pk")[:1])
    department_id = Subquery(profile.values("department_id")[:1])
    mine = Q(
        kind=ConsultationKind.SCHEDULED,
        doctor_id=doctor_id,
        scheduled_start__gte=start,
        scheduled_start__lt=end,
    )
    walk_ins = Q(kind=ConsultationKind.WALK_IN, walk_in_date=day, department_id=department_id) & (
        Q(doctor__isnull=True) | Q(doctor_id=doctor_id)
    )
    rows = list(
        _with_related(Consultation.objects.filter(status__in=waiting)).filter(mine | walk_ins)
    )

    def order(consultation: Consultation) -> tuple[int, int, Any, int]:
        in_progress = 0 if consultation.status == ConsultationStatus.IN_PROGRESS else 1
        is_walk_in = 1 if consultation.kind == ConsultationKind.WALK_IN else 0
        return (
            in_progress,
            is_walk_in,
            consultation.scheduled_start,
            consultation.walk_in_token or 0,
        )

    return sorted(rows, key=order)


def facility_day_list(*, facility_id: int, day: datetime.date) -> QuerySet[Consultation]:
    """Every consultation booked at the facility for the day, in time then token order."""
    start, end = local_day_bounds(day)
    return _with_related(
        Consultation.objects.filter(facility_id=facility_id).filter(
            Q(kind=ConsultationKind.SCHEDULED, scheduled_start__gte=start, scheduled_start__lt=end)
            | Q(kind=ConsultationKind.WALK_IN, walk_in_date=day)
        )
    ).order_by("kind", "scheduled_start", "walk_in_token", "pk")


def consultations_record_list_read(*, actor: Actor, consultations: list[Consultation]) -> None:
    """A list showing patients' consultations was read: one audit row each, one INSERT."""
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[consultation.public_id for consultation in consultations],
        detail={"via": "list"},
    )
