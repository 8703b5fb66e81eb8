"""Booking consultations: clinic staff book a patient into a slot, a doctor's or a department's
first available slot, or a department's same-day walk-in queue.

A slot is never booked twice. The database enforces it (`consultation_one_booking_per_slot`,
a unique index over non-cancelled bookings); the service locks the doctor's row first (then the
patient's), so concurrent bookings of one doctor wait for each other and the loser sees the slot
taken. Should the database still refuse (a writer that skipped the lock) or detect a deadlock,
the caller gets `409 slot_taken`, never a 500.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from accounts.models import MIN_YEARS_OF_INDEPENDENT_PRACTICE, DoctorProfile, Role, User
from clinics.models import Department
from consultations.models import (
    ACTIVE_STATUSES,
    RECORD_RETENTION_YEARS,
    Consultation,
    ConsultationEvent,
    ConsultationKind,
    ConsultationStatus,
    Slot,
    WalkInCounter,
)
from consultations.selectors.slots import slot_is_booked
from consultations.services.schedules import lock_doctor
from core.actors import Actor
from core.dates import local_day_start, years_after
from core.exceptions import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from notifications.services import notify
from patients.models import Patient
from patients.selectors import patients_visible_to

AUDIT_OBJECT_TYPE = "consultation"
SLOT_CONSTRAINT = "consultation_one_booking_per_slot"
DEADLOCK_SQLSTATE = "40P01"
# First available in a department: how many candidates to try when others keep winning them.
FIRST_AVAILABLE_ATTEMPTS = 10

# (doctor locked, patient locked, now) -> the slot to book, or raise.
ChooseSlot = Callable[[DoctorProfile, Patient, datetime.datetime], Slot]


class _CandidateGone(Exception):
    """The first-available candidate was booked (or its doctor turned out not schedulable)
    before its doctor's lock was ours."""


@dataclass(frozen=True)
class _Booker:
    actor: Actor
    user: User
    facility_id: int


def _booker(actor: Actor) -> _Booker:
    if not actor.has_role(Role.CLINIC_STAFF) or actor.facility_id is None or actor.user is None:
        raise PermissionDeniedError("Only clinic staff at a facility book consultations.")
    return _Booker(actor=actor, user=actor.user, facility_id=actor.facility_id)


def booking_facility_id(*, actor: Actor) -> int:
    """The facility the actor books at: clinic staff only, at their own facility."""
    return _booker(actor).facility_id


def retention_until(booked_on: datetime.date) -> datetime.date:
    """RECORD_RETENTION_YEARS after the booking date."""
    return years_after(booked_on, RECORD_RETENTION_YEARS)


def _practice_cutoff(day: datetime.date) -> datetime.date:
    """Doctors in independent practice since this date or earlier may be scheduled on `day`."""
    return years_after(day, -MIN_YEARS_OF_INDEPENDENT_PRACTICE)


def _first_schedulable_day(doctor: DoctorProfile) -> datetime.date:
    """The day the doctor completes three years (29 February: 1 March in a common year)."""
    since = doctor.independent_practice_since
    year = since.year + MIN_YEARS_OF_INDEPENDENT_PRACTICE
    try:
        return since.replace(year=year)
    except ValueError:
        return datetime.date(year, 3, 1)


def _schedulable_on(doctor: DoctorProfile, moment: datetime.datetime) -> bool:
    """The three-year rule holds on the consultation's (local) day, not the booking's."""
    return doctor.user.is_active and doctor.can_be_scheduled(timezone.localdate(moment))


def _not_schedulable() -> ConflictError:
    return ConflictError(
        "This doctor cannot be scheduled for online consultations (fewer than "
        f"{MIN_YEARS_OF_INDEPENDENT_PRACTICE} years of independent practice).",
        code="doctor_not_schedulable",
    )


def _slot_taken() -> ConflictError:
    return ConflictError("The slot has just been booked; choose another.", code="slot_taken")


def _is_slot_conflict(error: IntegrityError) -> bool:
    diag = getattr(error.__cause__, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    if constraint:
        return constraint == SLOT_CONSTRAINT
    return "slot_id" in str(error)  # SQLite names the column, not the index


def _is_deadlock(error: OperationalError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == DEADLOCK_SQLSTATE


def _free_slots(*, patient: Patient, now: datetime.datetime) -> QuerySet[Slot]:
    """Bookable slots that do not overlap the patient's own active bookings, earliest first."""
    patient_busy = Consultation.objects.filter(
        patient=patient,
        kind=ConsultationKind.SCHEDULED,
        status__in=ACTIVE_STATUSES,
        scheduled_start__lt=OuterRef("ends_at"),
        scheduled_end__gt=OuterRef("starts_at"),
    )
    return (
        Slot.objects.filter(is_withdrawn=False, starts_at__gt=now, department__is_active=True)
        .exclude(slot_is_booked())
        .exclude(Exists(patient_busy))
        .select_related("department")
        .order_by("starts_at", "doctor_id")
    )


def _check_patient_rules(
    *,
    patient: Patient,
    now: datetime.datetime,
    period: tuple[datetime.datetime, datetime.datetime] | None = None,
    walk_in_date: datetime.date | None = None,
) -> None:
    """No overlapping active bookings (a walk-in overlaps only the same day's walk-ins), and
    at most MAX_FUTURE_BOOKINGS_PER_PATIENT active bookings not yet over."""
    active = Consultation.objects.filter(patient=patient, status__in=ACTIVE_STATUSES)
    if period is not None:
        overlapping = active.filter(
            kind=ConsultationKind.SCHEDULED,
            scheduled_start__lt=period[1],
            scheduled_end__gt=period[0],
        )
    else:
        overlapping = active.filter(kind=ConsultationKind.WALK_IN, walk_in_date=walk_in_date)
    if overlapping.exists():
        raise ConflictError(
            "The patient already has a booking at that time.", code="patient_overlapping_booking"
        )
    limit = settings.MAX_FUTURE_BOOKINGS_PER_PATIENT
    if active.filter(scheduled_end__gt=now).count() >= limit:
        raise ConflictError(
            f"The patient already holds {limit} upcoming bookings.",
            code="patient_booking_limit",
            extra={"limit": limit},
        )


def _record_booking(*, actor: Actor, consultation: Consultation, now: datetime.datetime) -> None:
    ConsultationEvent.objects.create(
        consultation=consultation,
        from_status="",
        to_status=ConsultationStatus.BOOKED,
        actor=actor.user,
        actor_role=actor.role,
        terminal_id=actor.terminal_id,
        occurred_at=now,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[consultation.public_id],
        detail={"kind": consultation.kind},
    )
    notify(
        event="booking_confirmed",
        recipient=consultation.patient,
        objects={"consultation": consultation.pk},
        dedupe_key=f"consultation:{consultation.pk}:booked",
    )


def _lock_patient(patient: Patient) -> Patient:
    return Patient.objects.select_for_update().get(pk=patient.pk)


def _book_scheduled(
    *,
    booker: _Booker,
    patient: Patient,
    doctor_pk: int,
    choose: ChooseSlot,
) -> Consultation:
    """Lock the doctor then the patient, let `choose` pick the slot under the lock, check the
    patient's rules, insert. Nothing is written when anything refuses."""
    now = timezone.now()
    try:
        with transaction.atomic(durable=True):
            doctor = lock_doctor(doctor_pk)
            locked_patient = _lock_patient(patient)
            slot = choose(doctor, locked_patient, now)
            if not _schedulable_on(doctor, slot.starts_at):
                raise _not_schedulable()
            _check_patient_rules(
                patient=locked_patient, now=now, period=(slot.starts_at, slot.ends_at)
            )
            consultation = Consultation.objects.create(
                patient=locked_patient,
                department=slot.department,
                doctor=doctor,
                facility_id=booker.facility_id,
                kind=ConsultationKind.SCHEDULED,
                slot=slot,
                scheduled_start=slot.starts_at,
                scheduled_end=slot.ends_at,
                status=ConsultationStatus.BOOKED,
                fee_fen=slot.department.consultation_fee_fen,
                booked_by=booker.user,
                retention_until=retention_until(timezone.localdate(now)),
            )
            _record_booking(actor=booker.actor, consultation=consultation, now=now)
    except IntegrityError as error:
        if _is_slot_conflict(error):
            raise _slot_taken() from error
        raise
    except OperationalError as error:
        if _is_deadlock(error):
            raise _slot_taken() from error
        raise
    return consultation


def _the_slot(slot: Slot) -> ChooseSlot:
    def choose(doctor: DoctorProfile, patient: Patient, now: datetime.datetime) -> Slot:
        fresh = Slot.objects.select_related("department").get(pk=slot.pk)
        if fresh.is_withdrawn or fresh.starts_at <= now or not fresh.department.is_active:
            raise ConflictError(
                "This slot can no longer be booked (withdrawn or past).", code="slot_unavailable"
            )
        if (
            Consultation.objects.filter(slot=fresh)
            .exclude(status=ConsultationStatus.CANCELLED)
            .exists()
        ):
            raise _slot_taken()
        return fresh

    return choose


def _no_slot_available() -> ConflictError:
    return ConflictError("No free slot is available.", code="no_slot_available")


def _doctors_first(doctor: DoctorProfile, patient: Patient, now: datetime.datetime) -> Slot:
    slot = (
        _free_slots(patient=patient, now=now)
        .filter(doctor=doctor, starts_at__gte=local_day_start(_first_schedulable_day(doctor)))
        .first()
    )
    if slot is None:
        raise _no_slot_available() if _schedulable_on(doctor, now) else _not_schedulable()
    return slot


def _candidate(slot_pk: int) -> ChooseSlot:
    def choose(doctor: DoctorProfile, patient: Patient, now: datetime.datetime) -> Slot:
        slot = _free_slots(patient=patient, now=now).filter(pk=slot_pk).first()
        if slot is None or not _schedulable_on(doctor, slot.starts_at):
            raise _CandidateGone
        return slot

    return choose


def _book_department_first(
    *, booker: _Booker, patient: Patient, department: Department
) -> Consultation:
    """The earliest free slot across the department's schedulable doctors. The candidate is
    picked without a lock, then re-checked under its doctor's lock; if someone else took it
    meanwhile, the next candidate is tried in a fresh transaction (never holding two doctors'
    locks, which could deadlock against another booking)."""
    tried: list[int] = []
    for _ in range(FIRST_AVAILABLE_ATTEMPTS):
        now = timezone.now()
        # Doctors who reach three years within the horizon stay candidates: the rule is
        # checked against each slot's own day under the lock.
        horizon_end = timezone.localdate(now) + datetime.timedelta(days=settings.SLOT_HORIZON_DAYS)
        candidate = (
            _free_slots(patient=patient, now=now)
            .filter(
                department=department,
                doctor__user__is_active=True,
                doctor__independent_practice_since__lte=_practice_cutoff(horizon_end),
            )
            .exclude(pk__in=tried)
            .first()
        )
        if candidate is None:
            raise _no_slot_available()
        try:
            return _book_scheduled(
                booker=booker,
                patient=patient,
                doctor_pk=candidate.doctor_id,
                choose=_candidate(candidate.pk),
            )
        except _CandidateGone:
            tried.append(candidate.pk)
    raise _slot_taken()


def _book_walk_in(*, booker: _Booker, patient: Patient, department: Department) -> Consultation:
    """Today's next token in the department's queue; the counter row is locked while it counts."""
    if not department.is_active:
        raise NotFoundError("Department not found.")
    now = timezone.now()
    today = timezone.localdate(now)
    try:
        with transaction.atomic(durable=True):
            locked_patient = _lock_patient(patient)
            _check_patient_rules(patient=locked_patient, now=now, walk_in_date=today)
            counter, _ = WalkInCounter.objects.select_for_update().get_or_create(
                department=department, date=today
            )
            WalkInCounter.objects.filter(pk=counter.pk).update(last_token=F("last_token") + 1)
            counter.refresh_from_db(fields=["last_token"])
            midnight = local_day_start(today)
            consultation = Consultation.objects.create(
                patient=locked_patient,
                department=department,
                doctor=None,
                facility_id=booker.facility_id,
                kind=ConsultationKind.WALK_IN,
                slot=None,
                scheduled_start=midnight,
                scheduled_end=midnight + datetime.timedelta(days=1),
                walk_in_date=today,
                walk_in_token=counter.last_token,
                status=ConsultationStatus.BOOKED,
                fee_fen=department.consultation_fee_fen,
                booked_by=booker.user,
                retention_until=retention_until(today),
            )
            _record_booking(actor=booker.actor, consultation=consultation, now=now)
    except OperationalError as error:
        if _is_deadlock(error):
            raise ConflictError("A concurrent booking won; retry.") from error
        raise
    return consultation


def consultation_book(
    *,
    actor: Actor,
    patient: Patient,
    slot: Slot | None = None,
    doctor: DoctorProfile | None = None,
    department: Department | None = None,
    walk_in: bool = False,
) -> Consultation:
    """Book the patient at the staff member's facility: into `slot`; into `doctor`'s first
    available slot; into `department`'s first available slot (earliest across its doctors);
    or, with `walk_in`, into `department`'s walk-in queue for today (a token number).

    The fee is the department's at booking. Refusals (4xx, nothing written):
    `permission_denied`, `not_found` (patient not visible), `validation_error` (not exactly one
    mode), `doctor_not_schedulable`, `slot_unavailable`, `slot_taken`, `no_slot_available`,
    `patient_overlapping_booking`, `patient_booking_limit`.
    """
    booker = _booker(actor)
    chosen = [target for target in (slot, doctor, department) if target is not None]
    if len(chosen) != 1 or (walk_in and department is None):
        message = "Book by exactly one of slot, doctor or department (walk-ins by department)."
        raise DomainError(message, code="validation_error", fields={"non_field_errors": [message]})
    if not patients_visible_to(actor=actor).filter(pk=patient.pk).exists():
        raise NotFoundError("Patient not found.")

    if slot is not None:
        return _book_scheduled(
            booker=booker,
            patient=patient,
            doctor_pk=slot.doctor_id,
            choose=_the_slot(slot),
        )
    if doctor is not None:
        return _book_scheduled(
            booker=booker,
            patient=patient,
            doctor_pk=doctor.pk,
            choose=_doctors_first,
        )
    assert department is not None
    if walk_in:
        return _book_walk_in(booker=booker, patient=patient, department=department)
    return _book_department_first(booker=booker, patient=patient, department=department)
