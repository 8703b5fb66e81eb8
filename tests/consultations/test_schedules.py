"""Slot generation from weekly windows and exceptions; schedule-changing services."""

import datetime

import pytest
from django.utils import timezone
from pytest_django import Settings

from accounts.models import Role
from consultations.models import Consultation, ScheduleException, Slot, WeeklyAvailability
from consultations.services.booking import consultation_book
from consultations.services.schedules import (
    SlotGeneration,
    WindowInput,
    doctor_schedule_set,
    schedule_exception_add,
    schedule_exception_remove,
    slots_generate,
)
from consultations.tasks import slots_generate as slots_generate_task
from core.actors import Actor, actor_for_user
from core.exceptions import DomainError, PermissionDeniedError
from core.models import AuditEvent
from tests.factories import make_doctor, make_patient, make_schedule, make_slot, make_staff

pytestmark = pytest.mark.django_db

MONDAY = datetime.date(2027, 3, 1)  # in the future, so generated slots are bookable
OPERATIONS = Actor(role=Role.OPERATIONS)
SHANGHAI = timezone.get_default_timezone()


@pytest.fixture(autouse=True)
def _one_week(settings: Settings) -> None:
    settings.SLOT_HORIZON_DAYS = 7


def local(day: datetime.date, hhmm: str) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.fromisoformat(hhmm), tzinfo=SHANGHAI)


def day(n: int) -> datetime.date:
    return MONDAY + datetime.timedelta(days=n)


def starts(doctor, on: datetime.date | None = None) -> list[str]:
    """The doctor's non-withdrawn slot starts, as local "YYYY-MM-DD HH:MM" (or "HH:MM" on a day)."""
    slots = Slot.objects.filter(doctor=doctor.doctor_profile, is_withdrawn=False)
    result = []
    for slot in slots.order_by("starts_at"):
        moment = slot.starts_at.astimezone(SHANGHAI)
        if on is None:
            result.append(f"{moment:%Y-%m-%d %H:%M}")
        elif moment.date() == on:
            result.append(f"{moment:%H:%M}")
    return result


def quarter_hours(first: str, count: int) -> list[str]:
    start = datetime.datetime.combine(MONDAY, datetime.time.fromisoformat(first))
    return [f"{start + datetime.timedelta(minutes=15 * n):%H:%M}" for n in range(count)]


MORNING = quarter_hours("08:30", 14)  # 08:30 .. 11:45
AFTERNOON = quarter_hours("14:00", 14)  # 14:00 .. 17:15
WORKDAY = MORNING + AFTERNOON


def test_the_weekly_pattern_becomes_slots_with_the_break_left_out():
    doctor = make_doctor()
    make_schedule(doctor)

    result = slots_generate(doctor=doctor.doctor_profile, today=MONDAY)

    assert result == SlotGeneration(created=5 * 28)
    for weekday in range(5):
        assert starts(doctor, day(weekday)) == WORKDAY
    assert starts(doctor, day(5)) == []
    assert starts(doctor, day(6)) == []
    first = Slot.objects.filter(doctor=doctor.doctor_profile).earliest("starts_at")
    assert first.starts_at == local(MONDAY, "08:30")
    assert first.ends_at == local(MONDAY, "08:45")
    assert first.starts_at.utcoffset() is not None
    assert first.department == doctor.doctor_profile.department
    assert first.is_withdrawn is False


def test_the_horizon_starts_today_and_spans_the_configured_days(settings):
    settings.SLOT_HORIZON_DAYS = 3
    doctor = make_doctor()
    make_schedule(doctor, ((0, "09:00", "10:00"), (2, "09:00", "10:00"), (3, "09:00", "10:00")))

    slots_generate(doctor=doctor.doctor_profile, today=MONDAY)

    # Monday and Wednesday are inside [Monday, Thursday); Thursday is not.
    assert starts(doctor) == [
        f"{day(0)} 09:00",
        f"{day(0)} 09:15",
        f"{day(0)} 09:30",
        f"{day(0)} 09:45",
        f"{day(2)} 09:00",
        f"{day(2)} 09:15",
        f"{day(2)} 09:30",
        f"{day(2)} 09:45",
    ]


def test_the_department_sets_the_slot_length_and_a_short_remainder_is_dropped():
    doctor = make_doctor()
    department = doctor.doctor_profile.department
    department.slot_minutes = 20
    department.save()
    make_schedule(doctor, ((0, "08:30", "12:00"),))

    result = slots_generate(doctor=doctor.doctor_profile, today=MONDAY)

    # 210 minutes: ten 20-minute slots, the last ten minutes dropped.
    assert result.created == 10
    assert starts(doctor, MONDAY) == [
        "08:30",
        "08:50",
        "09:10",
        "09:30",
        "09:50",
        "10:10",
        "10:30",
        "10:50",
        "11:10",
        "11:30",
    ]
    last = Slot.objects.filter(doctor=doctor.doctor_profile).latest("starts_at")
    assert last.ends_at == local(MONDAY, "11:50")


def test_whole_day_leave_removes_the_day():
    doctor = make_doctor()
    make_schedule(doctor)
    ScheduleException.objects.create(doctor=doctor.doctor_profile, kind="leave", date=day(2))

    result = slots_generate(doctor=doctor.doctor_profile, today=MONDAY)

    assert result.created == 4 * 28
    assert starts(doctor, day(2)) == []
    assert starts(doctor, day(3)) == WORKDAY


def test_partial_leave_removes_its_hours_and_the_rest_is_cut_from_the_window_edges():
    doctor = make_doctor()
    make_schedule(doctor)
    ScheduleException.objects.create(
        doctor=doctor.doctor_profile,
        kind="leave",
        date=day(1),
        starts_at=datetime.time(10, 5),
        ends_at=datetime.time(10, 50),
    )

    slots_generate(doctor=doctor.doctor_profile, today=MONDAY)

    # 08:30-10:05 gives six slots (the last ends 10:00); 10:50-12:00 gives four.
    assert starts(doctor, day(1)) == [
        *quarter_hours("08:30", 6),
        "10:50",
        "11:05",
        "11:20",
        "11:35",
        *AFTERNOON,
    ]
    assert starts(doctor, day(0)) == WORKDAY


def test_a_holiday_without_a_doctor_applies_to_every_doctor():
    doctors = [make_doctor(), make_doctor()]
    for doctor in doctors:
        make_schedule(doctor)
    ScheduleException.objects.create(kind="holiday", date=day(3), reason="清明节")
    other = make_doctor()
    make_schedule(other)
    ScheduleException.objects.create(doctor=other.doctor_profile, kind="holiday", date=day(4))

    slots_generate(today=MONDAY)

    for doctor in doctors:
        assert starts(doctor, day(3)) == []
        assert starts(doctor, day(4)) == WORKDAY
    assert starts(other, day(3)) == []
    assert starts(other, day(4)) == []  # a doctor's own holiday is theirs only


def test_extra_hours_add_a_window_even_on_a_free_day_or_a_holiday():
    doctor = make_doctor()
    make_schedule(doctor)
    profile = doctor.doctor_profile
    ScheduleException.objects.create(
        doctor=profile,
        kind="extra_hours",
        date=day(5),
        starts_at=datetime.time(9, 0),
        ends_at=datetime.time(10, 0),
    )
    ScheduleException.objects.create(kind="holiday", date=day(0))
    ScheduleException.objects.create(
        doctor=profile,
        kind="extra_hours",
        date=day(0),
        starts_at=datetime.time(19, 0),
        ends_at=datetime.time(19, 30),
    )
    # Extra hours that touch a weekly window extend it: 12:00-12:30 after the morning.
    ScheduleException.objects.create(
        doctor=profile,
        kind="extra_hours",
        date=day(1),
        starts_at=datetime.time(12, 0),
        ends_at=datetime.time(12, 30),
    )

    slots_generate(doctor=profile, today=MONDAY)

    assert starts(doctor, day(5)) == ["09:00", "09:15", "09:30", "09:45"]
    assert starts(doctor, day(0)) == ["19:00", "19:15"]
    assert starts(doctor, day(1)) == [*MORNING, "12:00", "12:15", *AFTERNOON]


def test_generation_is_idempotent():
    doctor = make_doctor()
    make_schedule(doctor)
    slots_generate(today=MONDAY)
    before = list(Slot.objects.order_by("pk").values_list("pk", "starts_at", "is_withdrawn"))

    again = slots_generate(today=MONDAY)

    assert again == SlotGeneration()
    assert list(Slot.objects.order_by("pk").values_list("pk", "starts_at", "is_withdrawn")) == (
        before
    )


def test_the_next_day_extends_the_horizon_by_one_day():
    doctor = make_doctor()
    make_schedule(doctor)
    slots_generate(today=MONDAY)  # Monday..Sunday

    result = slots_generate(today=day(1))  # Tuesday..Monday: the next Monday is new

    assert result == SlotGeneration(created=28)
    assert starts(doctor, day(7)) == WORKDAY
    assert starts(doctor, day(0)) == WORKDAY  # days behind the horizon are left alone


def test_uncovered_slots_are_withdrawn_and_restored_when_covered_again():
    doctor = make_doctor()
    make_schedule(doctor)
    profile = doctor.doctor_profile
    slots_generate(doctor=profile, today=MONDAY)

    exception, withdrawn = schedule_exception_add(
        actor=OPERATIONS, doctor=profile, kind="leave", date=day(0), today=MONDAY
    )

    assert withdrawn == SlotGeneration(withdrawn=28)
    assert Slot.objects.filter(doctor=profile).count() == 5 * 28  # withdrawn, not deleted
    assert Slot.objects.filter(doctor=profile, is_withdrawn=True).count() == 28
    assert starts(doctor, day(0)) == []

    restored = schedule_exception_remove(actor=OPERATIONS, exception=exception, today=MONDAY)

    assert restored == SlotGeneration(restored=28)
    assert starts(doctor, day(0)) == WORKDAY
    assert not ScheduleException.objects.exists()
    assert Slot.objects.filter(doctor=profile).count() == 5 * 28


def test_a_booked_slot_is_never_withdrawn_but_reported():
    doctor = make_doctor()
    make_schedule(doctor)
    profile = doctor.doctor_profile
    slots_generate(doctor=profile, today=MONDAY)
    staff = make_staff()
    booked_slot = Slot.objects.get(doctor=profile, starts_at=local(MONDAY, "09:00"))
    consultation_book(actor=actor_for_user(staff), patient=make_patient(staff), slot=booked_slot)
    cancelled_slot = Slot.objects.get(doctor=profile, starts_at=local(MONDAY, "09:15"))
    cancelled = consultation_book(
        actor=actor_for_user(staff), patient=make_patient(staff), slot=cancelled_slot
    )
    Consultation.objects.filter(pk=cancelled.pk).update(status="cancelled")

    _, result = schedule_exception_add(
        actor=OPERATIONS, doctor=profile, kind="leave", date=MONDAY, today=MONDAY
    )

    assert result == SlotGeneration(withdrawn=27, kept_booked=1)
    booked_slot.refresh_from_db()
    cancelled_slot.refresh_from_db()
    assert booked_slot.is_withdrawn is False
    assert cancelled_slot.is_withdrawn is True  # a cancelled booking holds nothing
    assert starts(doctor, MONDAY) == ["09:00"]


def test_a_changed_slot_length_resizes_free_slots_and_works_around_bookings():
    doctor = make_doctor()
    profile = doctor.doctor_profile
    make_schedule(doctor, ((0, "09:00", "10:00"),))
    slots_generate(doctor=profile, today=MONDAY)  # 09:00 09:15 09:30 09:45
    staff = make_staff()
    consultation_book(
        actor=actor_for_user(staff),
        patient=make_patient(staff),
        slot=Slot.objects.get(doctor=profile, starts_at=local(MONDAY, "09:15")),
    )
    profile.department.slot_minutes = 30
    profile.department.save()

    result = slots_generate(doctor=profile, today=MONDAY)

    # Planned 09:00-09:30 would overlap the booked 09:15 slot, so it is not offered; 09:30
    # becomes 09:30-10:00; the 09:00 and 09:45 quarter-hours go.
    assert result == SlotGeneration(withdrawn=2, resized=1, kept_booked=1)
    assert [
        (f"{s.starts_at.astimezone(SHANGHAI):%H:%M}", f"{s.ends_at.astimezone(SHANGHAI):%H:%M}")
        for s in Slot.objects.filter(doctor=profile, is_withdrawn=False).order_by("starts_at")
    ] == [("09:15", "09:30"), ("09:30", "10:00")]


def test_an_unqualified_doctor_gets_no_slots_and_loses_free_ones():
    doctor = make_doctor(practice_since=MONDAY - datetime.timedelta(days=2 * 365))
    make_schedule(doctor)
    stray = make_slot(doctor, starts_at=local(day(1), "09:00"))

    result = slots_generate(today=MONDAY)

    assert result == SlotGeneration(withdrawn=1)
    assert starts(doctor) == []
    stray.refresh_from_db()
    assert stray.is_withdrawn is True


def test_a_doctor_reaching_three_years_mid_horizon_gets_slots_from_that_day():
    doctor = make_doctor(practice_since=datetime.date(2024, 3, 4))  # three years on Thursday
    make_schedule(doctor)

    result = slots_generate(today=MONDAY)

    assert result.created == 2 * 28
    assert starts(doctor, day(2)) == []
    assert starts(doctor, day(3)) == WORKDAY


def test_a_deactivated_doctor_gets_no_slots():
    doctor = make_doctor(is_active=False)
    make_schedule(doctor)

    assert slots_generate(today=MONDAY) == SlotGeneration()
    assert not Slot.objects.exists()


def test_setting_the_weekly_pattern_replaces_it_and_regenerates():
    doctor = make_doctor()
    profile = doctor.doctor_profile
    make_schedule(doctor)
    slots_generate(doctor=profile, today=MONDAY)

    result = doctor_schedule_set(
        actor=OPERATIONS,
        doctor=profile,
        windows=[
            WindowInput(weekday=0, starts_at=datetime.time(8, 30), ends_at=datetime.time(9, 0)),
            WindowInput(weekday=5, starts_at=datetime.time(9, 0), ends_at=datetime.time(9, 30)),
        ],
        today=MONDAY,
    )

    assert result == SlotGeneration(created=2, withdrawn=5 * 28 - 2)
    assert starts(doctor) == [
        f"{day(0)} 08:30",
        f"{day(0)} 08:45",
        f"{day(5)} 09:00",
        f"{day(5)} 09:15",
    ]
    assert list(
        WeeklyAvailability.objects.filter(doctor=profile).values_list("weekday", "starts_at")
    ) == [(0, datetime.time(8, 30)), (5, datetime.time(9, 0))]
    audit = AuditEvent.objects.get(object_type="doctor_schedule")
    assert (audit.action, audit.object_id) == ("update", str(doctor.public_id))


@pytest.mark.parametrize(
    ("windows", "code"),
    [
        ([(0, "09:00", "12:00"), (0, "11:30", "13:00")], "schedule_windows_overlap"),
        ([(1, "12:00", "09:00")], "schedule_window_invalid"),
        ([(7, "09:00", "10:00")], "schedule_window_invalid"),
    ],
)
def test_invalid_windows_are_refused_and_change_nothing(windows, code):
    doctor = make_doctor()
    make_schedule(doctor, ((2, "08:00", "09:00"),))

    with pytest.raises(DomainError) as refused:
        doctor_schedule_set(
            actor=OPERATIONS,
            doctor=doctor.doctor_profile,
            windows=[
                WindowInput(w, datetime.time.fromisoformat(s), datetime.time.fromisoformat(e))
                for w, s, e in windows
            ],
            today=MONDAY,
        )

    assert (refused.value.status_code, refused.value.code) == (400, code)
    assert list(WeeklyAvailability.objects.values_list("weekday", flat=True)) == [2]
    assert not Slot.objects.exists()
    assert not AuditEvent.objects.exists()


def test_windows_that_touch_are_accepted():
    doctor = make_doctor()
    doctor_schedule_set(
        actor=OPERATIONS,
        doctor=doctor.doctor_profile,
        windows=[
            WindowInput(0, datetime.time(9, 0), datetime.time(9, 30)),
            WindowInput(0, datetime.time(9, 30), datetime.time(10, 0)),
        ],
        today=MONDAY,
    )
    assert starts(doctor, MONDAY) == ["09:00", "09:15", "09:30", "09:45"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "leave", "doctor": None}, "doctor"),
        ({"kind": "extra_hours"}, "starts_at"),
        ({"kind": "leave", "starts_at": datetime.time(9, 0)}, "ends_at"),
        (
            {"kind": "leave", "starts_at": datetime.time(10, 0), "ends_at": datetime.time(9, 0)},
            "ends_at",
        ),
        ({"kind": "sabbatical"}, "kind"),
    ],
)
def test_invalid_exceptions_are_refused_and_change_nothing(fields, field):
    doctor = make_doctor()
    values = {"doctor": doctor.doctor_profile, "date": MONDAY} | fields

    with pytest.raises(DomainError) as refused:
        schedule_exception_add(actor=OPERATIONS, today=MONDAY, **values)

    assert refused.value.code == "schedule_exception_invalid"
    assert list(refused.value.fields) == [field]
    assert not ScheduleException.objects.exists()
    assert not AuditEvent.objects.exists()


def test_only_operations_change_schedules():
    doctor = make_doctor()
    profile = doctor.doctor_profile
    exception = ScheduleException.objects.create(doctor=profile, kind="leave", date=MONDAY)
    for actor in (actor_for_user(make_staff()), actor_for_user(doctor)):
        with pytest.raises(PermissionDeniedError):
            doctor_schedule_set(actor=actor, doctor=profile, windows=[])
        with pytest.raises(PermissionDeniedError):
            schedule_exception_add(actor=actor, doctor=profile, kind="leave", date=MONDAY)
        with pytest.raises(PermissionDeniedError):
            schedule_exception_remove(actor=actor, exception=exception)
    assert ScheduleException.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_the_periodic_task_generates_for_every_doctor_from_today(settings):
    first, second = make_doctor(), make_doctor()
    make_schedule(first, tuple((weekday, "09:00", "10:00") for weekday in range(7)))
    make_schedule(second, tuple((weekday, "14:00", "14:30") for weekday in range(7)))

    outcome = slots_generate_task.apply().get()

    assert slots_generate_task.name == "consultations.slots_generate"
    assert outcome == {
        "created": 7 * 6,
        "withdrawn": 0,
        "restored": 0,
        "resized": 0,
        "kept_booked": 0,
    }
    today = timezone.localdate()
    assert starts(first, today) == ["09:00", "09:15", "09:30", "09:45"]
    sixth_day = today + datetime.timedelta(days=6)
    assert starts(second, sixth_day) == ["14:00", "14:15"]
    assert slots_generate_task.apply().get()["created"] == 0
