"""Doctor schedules and the slots made from them.

Slots are never entered by hand: `slots_generate` derives them from the weekly pattern and the
exceptions, for [today, today + SLOT_HORIZON_DAYS), and every schedule change regenerates them.
A slot the schedule no longer covers is withdrawn (never deleted); a booked slot is never
withdrawn, only counted, so someone can rebook the patient.

Generation locks the doctor's row, which is the lock booking takes first: a slot cannot be
withdrawn while it is being booked.
"""

import datetime
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import DoctorProfile, Role
from consultations.models import (
    ScheduleException,
    ScheduleExceptionKind,
    Slot,
    WeeklyAvailability,
)
from consultations.selectors.slots import slot_is_booked
from core.actors import Actor
from core.dates import local_day_start
from core.exceptions import DomainError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record

SCHEDULE_AUDIT_TYPE = "doctor_schedule"
EXCEPTION_AUDIT_TYPE = "schedule_exception"
INSERT_BATCH_SIZE = 500
# Minutes after local midnight: [start, end).
Interval = tuple[int, int]
# A slot's local period as aware datetimes.
Period = tuple[datetime.datetime, datetime.datetime]


@dataclass(frozen=True)
class WindowInput:
    weekday: int
    starts_at: datetime.time
    ends_at: datetime.time


@dataclass(frozen=True)
class SlotGeneration:
    """What one generation run did. `kept_booked`: booked slots the schedule no longer covers
    (left in place, never withdrawn: the booking has to be moved or cancelled by people)."""

    created: int = 0
    withdrawn: int = 0
    restored: int = 0
    resized: int = 0
    kept_booked: int = 0

    def __add__(self, other: "SlotGeneration") -> "SlotGeneration":
        return SlotGeneration(
            *(a + b for a, b in zip(asdict(self).values(), asdict(other).values(), strict=True))
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _require_operations(actor: Actor) -> None:
    if not actor.has_role(Role.OPERATIONS):
        raise PermissionDeniedError("Only operations manage doctors' schedules.")


def _minutes(value: datetime.time) -> int:
    return value.hour * 60 + value.minute


def _invalid(code: str, message: str, field: str) -> DomainError:
    return DomainError(message, code=code, fields={field: [message]})


# --- Interval arithmetic on one local day -----------------------------------------------------


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(intervals: Iterable[Interval], cut: Interval) -> list[Interval]:
    kept: list[Interval] = []
    for start, end in intervals:
        if end <= cut[0] or start >= cut[1]:
            kept.append((start, end))
            continue
        if start < cut[0]:
            kept.append((start, cut[0]))
        if end > cut[1]:
            kept.append((cut[1], end))
    return kept


def _pieces(windows: Iterable[Interval], length: int) -> list[Interval]:
    """Cut each window into `length`-minute slots; a shorter remainder is dropped."""
    pieces = []
    for start, end in windows:
        for piece_start in range(start, end - length + 1, length):
            pieces.append((piece_start, piece_start + length))
    return pieces


def _exception_interval(exception: ScheduleException) -> Interval | None:
    """None: the whole day."""
    if exception.starts_at is None or exception.ends_at is None:
        return None
    return (_minutes(exception.starts_at), _minutes(exception.ends_at))


def _day_windows(
    weekly: Sequence[Interval], exceptions: Sequence[ScheduleException]
) -> list[Interval]:
    """The weekly windows minus leave and holidays, plus extra hours."""
    windows = list(weekly)
    for exception in exceptions:
        if exception.kind == ScheduleExceptionKind.EXTRA_HOURS:
            continue
        cut = _exception_interval(exception)
        windows = [] if cut is None else _subtract(windows, cut)
    extras = [
        interval
        for exception in exceptions
        if exception.kind == ScheduleExceptionKind.EXTRA_HOURS
        and (interval := _exception_interval(exception)) is not None
    ]
    return _union(windows + extras)


# --- Generation -------------------------------------------------------------------------------


def _planned_periods(doctor: DoctorProfile, days: Sequence[datetime.date]) -> list[Period]:
    """Every slot period the schedule asks for over `days` (each day counted if the doctor may
    be scheduled on it)."""
    if not doctor.user.is_active:
        return []
    weekly: dict[int, list[Interval]] = {}
    for window in WeeklyAvailability.objects.filter(doctor=doctor):
        weekly.setdefault(window.weekday, []).append(
            (_minutes(window.starts_at), _minutes(window.ends_at))
        )
    exceptions: dict[datetime.date, list[ScheduleException]] = {}
    for exception in ScheduleException.objects.filter(date__gte=days[0], date__lte=days[-1]).filter(
        Q(doctor=doctor) | Q(doctor__isnull=True, kind=ScheduleExceptionKind.HOLIDAY)
    ):
        exceptions.setdefault(exception.date, []).append(exception)
    length = doctor.department.slot_minutes
    periods = []
    for day in days:
        if not doctor.can_be_scheduled(day):
            continue
        midnight = local_day_start(day)
        windows = _day_windows(weekly.get(day.weekday(), []), exceptions.get(day, []))
        for start, end in _pieces(windows, length):
            periods.append(
                (
                    midnight + datetime.timedelta(minutes=start),
                    midnight + datetime.timedelta(minutes=end),
                )
            )
    return periods


def _overlaps(period: Period, other: Period) -> bool:
    return period[0] < other[1] and other[0] < period[1]


def _regenerate_locked(*, doctor: DoctorProfile, today: datetime.date) -> SlotGeneration:
    """Bring one doctor's slots over the horizon in line with the schedule. The caller holds
    the doctor's row lock inside a transaction."""
    days = [today + datetime.timedelta(days=n) for n in range(settings.SLOT_HORIZON_DAYS)]
    if not days:
        return SlotGeneration()
    horizon_start = local_day_start(days[0])
    horizon_end = local_day_start(days[-1] + datetime.timedelta(days=1))
    # Plain tuples, not model instances: a doctor has hundreds of slots over the horizon.
    existing = list(
        Slot.objects.filter(doctor=doctor, starts_at__gte=horizon_start, starts_at__lt=horizon_end)
        .annotate(is_booked=slot_is_booked())
        .values_list("pk", "starts_at", "ends_at", "is_withdrawn", "is_booked")
    )
    booked_periods = {(start, end) for _, start, end, _, is_booked in existing if is_booked}
    # A planned slot that would overlap a booking at another time (the slot length changed)
    # is left out: the doctor cannot be in two consultations at once.
    wanted: dict[datetime.datetime, datetime.datetime] = {
        start: end
        for start, end in _planned_periods(doctor, days)
        if (start, end) in booked_periods
        or not any(_overlaps((start, end), other) for other in booked_periods)
    }

    now = timezone.now()
    withdraw: list[int] = []
    restore: list[int] = []
    resize: list[Slot] = []
    kept_booked = 0
    for pk, starts_at, ends_at, is_withdrawn, is_booked in existing:
        end = wanted.get(starts_at)
        if is_booked:
            if end is None and starts_at > now:  # earlier today's bookings need nobody
                kept_booked += 1
        elif end is None:
            if not is_withdrawn:
                withdraw.append(pk)
        elif end != ends_at:
            resize.append(Slot(pk=pk, ends_at=end, is_withdrawn=False))
        elif is_withdrawn:
            restore.append(pk)
    stored = {starts_at for _, starts_at, _, _, _ in existing}
    new = [
        Slot(doctor=doctor, department_id=doctor.department_id, starts_at=start, ends_at=end)
        for start, end in wanted.items()
        if start not in stored
    ]
    Slot.objects.bulk_create(new, batch_size=INSERT_BATCH_SIZE, ignore_conflicts=True)
    if withdraw:
        Slot.objects.filter(pk__in=withdraw).update(is_withdrawn=True)
    if restore:
        Slot.objects.filter(pk__in=restore).update(is_withdrawn=False)
    if resize:
        Slot.objects.bulk_update(resize, ["ends_at", "is_withdrawn"])
    return SlotGeneration(
        created=len(new),
        withdrawn=len(withdraw),
        restored=len(restore),
        resized=len(resize),
        kept_booked=kept_booked,
    )


def lock_doctor(pk: int) -> DoctorProfile:
    """The doctor's row, locked: the first lock of every write to their slots or bookings."""
    return (
        DoctorProfile.objects.select_for_update(of=("self",))
        .select_related("user", "department")
        .get(pk=pk)
    )


def slots_generate(
    *, doctor: DoctorProfile | None = None, today: datetime.date | None = None
) -> SlotGeneration:
    """Produce, withdraw and restore slots for [today, today + SLOT_HORIZON_DAYS).

    Every doctor (or the one given), each in its own short transaction. Idempotent: a second
    run changes nothing. Doctors who may not be scheduled (under three years of independent
    practice, or deactivated) get no new slots, and their free ones are withdrawn.
    """
    today = today or timezone.localdate()
    doctor_pks = (
        [doctor.pk]
        if doctor is not None
        else list(DoctorProfile.objects.order_by("pk").values_list("pk", flat=True))
    )
    total = SlotGeneration()
    for pk in doctor_pks:
        with transaction.atomic(durable=True):
            total += _regenerate_locked(doctor=lock_doctor(pk), today=today)
    return total


# --- Schedule changes -------------------------------------------------------------------------


def _clean_windows(windows: Sequence[WindowInput]) -> list[WindowInput]:
    by_day: dict[int, list[WindowInput]] = {}
    for index, window in enumerate(windows):
        field = f"windows[{index}]"
        if not 0 <= window.weekday <= 6:
            raise _invalid("schedule_window_invalid", "The weekday is 0 (Monday) to 6.", field)
        if window.ends_at <= window.starts_at:
            raise _invalid("schedule_window_invalid", "A window ends after it starts.", field)
        by_day.setdefault(window.weekday, []).append(window)
    for day_windows in by_day.values():
        ordered = sorted(day_windows, key=lambda w: w.starts_at)
        for before, after in itertools.pairwise(ordered):
            if after.starts_at < before.ends_at:
                raise _invalid(
                    "schedule_windows_overlap",
                    "Two windows of the same day overlap.",
                    "windows",
                )
    return sorted(windows, key=lambda w: (w.weekday, w.starts_at))


def doctor_schedule_set(
    *,
    actor: Actor,
    doctor: DoctorProfile,
    windows: Sequence[WindowInput],
    today: datetime.date | None = None,
) -> SlotGeneration:
    """Replace the doctor's weekly pattern and regenerate their slots, in one transaction."""
    _require_operations(actor)
    cleaned = _clean_windows(windows)
    with transaction.atomic(durable=True):
        locked = lock_doctor(doctor.pk)
        WeeklyAvailability.objects.filter(doctor=locked).delete()
        WeeklyAvailability.objects.bulk_create(
            WeeklyAvailability(
                doctor=locked, weekday=w.weekday, starts_at=w.starts_at, ends_at=w.ends_at
            )
            for w in cleaned
        )
        result = _regenerate_locked(doctor=locked, today=today or timezone.localdate())
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=SCHEDULE_AUDIT_TYPE,
            object_ids=[locked.user.public_id],
            detail={"windows": len(cleaned)},
        )
    return result


def _validate_exception(exception: ScheduleException) -> None:
    if exception.kind not in ScheduleExceptionKind.values:
        raise _invalid("schedule_exception_invalid", "Unknown kind.", "kind")
    if exception.doctor_id is None and exception.kind != ScheduleExceptionKind.HOLIDAY:
        raise _invalid(
            "schedule_exception_invalid", "Only a holiday may apply to every doctor.", "doctor"
        )
    if (exception.starts_at is None) != (exception.ends_at is None):
        raise _invalid(
            "schedule_exception_invalid", "Give both times, or neither for a whole day.", "ends_at"
        )
    if exception.kind == ScheduleExceptionKind.EXTRA_HOURS and exception.starts_at is None:
        raise _invalid("schedule_exception_invalid", "Extra hours need a window.", "starts_at")
    if (
        exception.starts_at is not None
        and exception.ends_at is not None
        and exception.ends_at <= exception.starts_at
    ):
        raise _invalid("schedule_exception_invalid", "The window ends after it starts.", "ends_at")


def _change_exception(
    *,
    actor: Actor,
    exception: ScheduleException,
    action: AuditAction,
    remove: bool,
    today: datetime.date,
) -> SlotGeneration:
    """Write (or remove) the exception and regenerate: a doctor's in the same transaction; a
    holiday for everyone, doctor by doctor afterwards."""
    with transaction.atomic(durable=True):
        doctor = lock_doctor(exception.doctor_id) if exception.doctor_id is not None else None
        audited_id = exception.pk
        if remove:
            exception.delete()
        else:
            exception.save()
            audited_id = exception.pk
        audit_record(
            actor=actor,
            action=action,
            object_type=EXCEPTION_AUDIT_TYPE,
            object_ids=[audited_id],
            detail={"kind": exception.kind, "removed": remove},
        )
        if doctor is not None:
            return _regenerate_locked(doctor=doctor, today=today)
    return slots_generate(today=today)


def schedule_exception_add(
    *,
    actor: Actor,
    doctor: DoctorProfile | None,
    kind: str,
    date: datetime.date,
    starts_at: datetime.time | None = None,
    ends_at: datetime.time | None = None,
    reason: str = "",
    today: datetime.date | None = None,
) -> tuple[ScheduleException, SlotGeneration]:
    """Leave or a holiday (a whole day without times, part of one with), or extra hours.
    A holiday without a doctor applies to every doctor."""
    _require_operations(actor)
    exception = ScheduleException(
        doctor=doctor,
        kind=kind,
        date=date,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason.strip(),
    )
    _validate_exception(exception)
    result = _change_exception(
        actor=actor,
        exception=exception,
        action=AuditAction.CREATE,
        remove=False,
        today=today or timezone.localdate(),
    )
    return exception, result


def schedule_exception_remove(
    *, actor: Actor, exception: ScheduleException, today: datetime.date | None = None
) -> SlotGeneration:
    _require_operations(actor)
    return _change_exception(
        actor=actor,
        exception=exception,
        action=AuditAction.UPDATE,
        remove=True,
        today=today or timezone.localdate(),
    )
