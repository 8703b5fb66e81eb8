"""Reads of slots and schedules, scoped to the actor.

Slots are seen by the people who book or work them: clinic staff, doctors and operations.
Schedules (weekly windows and exceptions) are managed by operations.
"""

import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import DoctorProfile, Role
from accounts.selectors import doctors_visible_to
from clinics.models import Department
from clinics.selectors import departments_active
from consultations.models import (
    Consultation,
    ConsultationStatus,
    ScheduleException,
    ScheduleExceptionKind,
    Slot,
    WeeklyAvailability,
)
from core.actors import Actor
from core.dates import local_day_bounds
from core.exceptions import NotFoundError


def slot_is_booked() -> Exists:
    """A booking holds the outer query's slot: any not cancelled, as the unique index counts."""
    return Exists(
        Consultation.objects.filter(slot=OuterRef("pk")).exclude(
            status=ConsultationStatus.CANCELLED
        )
    )


def slots_visible_to(*, actor: Actor) -> QuerySet[Slot]:
    """Every slot (withdrawn and past ones too) with `is_booked` annotated in the same query."""
    if not actor.has_role(Role.CLINIC_STAFF, Role.DOCTOR, Role.OPERATIONS):
        return Slot.objects.none()
    return (
        Slot.objects.select_related("doctor__user", "department")
        .annotate(is_booked=slot_is_booked())
        .order_by("starts_at", "doctor_id")
    )


def slots_by_availability(slots: QuerySet[Slot], *, available: bool) -> QuerySet[Slot]:
    return slots.exclude(slot_is_booked()) if available else slots.filter(slot_is_booked())


def slots_upcoming(*, actor: Actor, now: datetime.datetime | None = None) -> QuerySet[Slot]:
    """The slot list: future slots, not withdrawn, of active doctors. Two queries per page
    (the count and the rows) whatever the page size."""
    return slots_visible_to(actor=actor).filter(
        starts_at__gt=now or timezone.now(), is_withdrawn=False, doctor__user__is_active=True
    )


def slots_on_day(slots: QuerySet[Slot], day: datetime.date) -> QuerySet[Slot]:
    """Slots starting on the local (Asia/Shanghai) calendar day."""
    start, end = local_day_bounds(day)
    return slots.filter(starts_at__gte=start, starts_at__lt=end)


def slot_get_for_actor(*, actor: Actor, public_id: Any) -> Slot:
    slot = slots_visible_to(actor=actor).filter(public_id=public_id).first()
    if slot is None:
        raise NotFoundError("Slot not found.")
    return slot


def doctor_get_for_actor(*, actor: Actor, public_id: Any) -> DoctorProfile:
    """A doctor by their user's public id, if the actor may see the directory."""
    doctor = doctors_visible_to(actor=actor).filter(user__public_id=public_id).first()
    if doctor is None:
        raise NotFoundError("Doctor not found.")
    return doctor


def department_get(*, public_id: Any) -> Department:
    department = departments_active().filter(public_id=public_id).first()
    if department is None:
        raise NotFoundError("Department not found.")
    return department


def doctor_weekly_windows(*, doctor: DoctorProfile) -> QuerySet[WeeklyAvailability]:
    return WeeklyAvailability.objects.filter(doctor=doctor).order_by("weekday", "starts_at")


def schedule_exceptions_visible_to(*, actor: Actor) -> QuerySet[ScheduleException]:
    if not actor.has_role(Role.OPERATIONS):
        return ScheduleException.objects.none()
    return ScheduleException.objects.select_related("doctor__user").order_by(
        "date", "starts_at", "pk"
    )


def schedule_exceptions_applying_to(
    exceptions: QuerySet[ScheduleException], *, doctor_public_id: Any
) -> QuerySet[ScheduleException]:
    """The doctor's own exceptions and the holidays that apply to everyone."""
    return exceptions.filter(
        Q(doctor__user__public_id=doctor_public_id)
        | Q(doctor__isnull=True, kind=ScheduleExceptionKind.HOLIDAY)
    )


def schedule_exception_get_for_actor(*, actor: Actor, pk: int) -> ScheduleException:
    exception = schedule_exceptions_visible_to(actor=actor).filter(pk=pk).first()
    if exception is None:
        raise NotFoundError("Schedule exception not found.")
    return exception
