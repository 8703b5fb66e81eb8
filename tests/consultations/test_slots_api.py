"""The slot list (filters, availability, constant queries, who sees it) and the schedule
management API (operations only)."""

import datetime

import pytest
from django.utils import timezone

from accounts.models import Role
from consultations.models import Consultation, ScheduleException, Slot, WeeklyAvailability
from consultations.services.booking import consultation_book
from core.actors import actor_for_user
from core.models import AuditEvent
from tests.factories import (
    api_client,
    make_doctor,
    make_patient,
    make_slot,
    make_staff,
    make_terminal,
    make_user,
    resident_id,
    terminal_client,
)

pytestmark = pytest.mark.django_db

SLOTS = "/api/v1/slots/"
EXCEPTIONS = "/api/v1/schedule-exceptions/"
SHANGHAI = timezone.get_default_timezone()
DAY = datetime.timedelta(days=1)
DAILY_NINE_TO_TEN = [
    {"weekday": weekday, "starts_at": "09:00", "ends_at": "10:00"} for weekday in range(7)
]


def schedule_url(doctor) -> str:
    return f"/api/v1/doctors/{doctor.public_id}/schedule/"


def ids(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def local(day: datetime.date, hhmm: str) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.fromisoformat(hhmm), tzinfo=SHANGHAI)


# --- Slot list ----------------------------------------------------------------------------------


def test_staff_see_future_slots_with_doctor_department_fee_and_availability():
    doctor = make_doctor(full_name="王建国")
    department = doctor.doctor_profile.department
    free = make_slot(doctor, starts_in=2 * DAY)
    booked = make_slot(doctor, starts_in=DAY)
    make_slot(doctor, starts_in=-datetime.timedelta(hours=1))  # past
    make_slot(doctor, starts_in=3 * DAY, is_withdrawn=True)
    make_slot(make_doctor(is_active=False), starts_in=DAY)  # deactivated doctor
    staff = make_staff()
    consultation_book(actor=actor_for_user(staff), patient=make_patient(staff), slot=booked)
    client = api_client(staff)

    response = client.get(SLOTS)

    assert ids(response) == [str(booked.public_id), str(free.public_id)]
    row = response.json()["results"][1]
    assert row == {
        "id": str(free.public_id),
        "starts_at": free.starts_at.astimezone(SHANGHAI).isoformat(),
        "ends_at": free.ends_at.astimezone(SHANGHAI).isoformat(),
        "doctor": str(doctor.public_id),
        "doctor_name": "王建国",
        "doctor_title": "attending",
        "department": str(department.public_id),
        "department_name": department.name,
        "fee_fen": 3000,
        "available": True,
    }
    assert response.json()["results"][0]["available"] is False
    assert ids(client.get(SLOTS, {"available": "true"})) == [str(free.public_id)]
    assert ids(client.get(SLOTS, {"available": "false"})) == [str(booked.public_id)]


def test_the_list_filters_by_department_doctor_and_local_date():
    first, second = make_doctor(), make_doctor()
    tomorrow = timezone.localdate() + DAY
    late = make_slot(first, starts_at=local(tomorrow, "23:30"))
    early_next_day = make_slot(first, starts_at=local(tomorrow + DAY, "00:15"))
    other = make_slot(second, starts_at=local(tomorrow, "10:00"))
    client = api_client(make_staff())

    assert ids(client.get(SLOTS, {"doctor": str(first.public_id)})) == [
        str(late.public_id),
        str(early_next_day.public_id),
    ]
    assert ids(
        client.get(SLOTS, {"department": str(second.doctor_profile.department.public_id)})
    ) == [str(other.public_id)]
    assert ids(client.get(SLOTS, {"date": tomorrow.isoformat()})) == [
        str(other.public_id),
        str(late.public_id),
    ]
    assert ids(
        client.get(SLOTS, {"date": (tomorrow + DAY).isoformat(), "doctor": str(first.public_id)})
    ) == [str(early_next_day.public_id)]


@pytest.mark.parametrize(
    "query", [{"date": "2027-13-01"}, {"doctor": "someone"}, {"department": "12"}]
)
def test_malformed_filters_are_refused(query):
    response = api_client(make_staff()).get(SLOTS, query)
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")


def test_the_list_runs_the_same_queries_whatever_the_page_size(django_assert_num_queries):
    doctors = [make_doctor() for _ in range(4)]
    staff = make_staff()
    for n in range(60):
        slot = make_slot(doctors[n % 4], starts_in=DAY + datetime.timedelta(minutes=15 * n))
        if n % 3 == 0:
            consultation_book(
                actor=actor_for_user(staff),
                patient=make_patient(staff, id_number=resident_id()),
                slot=slot,
            )
    client = api_client(staff)

    # user (token), staff membership (actor), count, page
    with django_assert_num_queries(4):
        small = client.get(SLOTS, {"page_size": 5})
    with django_assert_num_queries(4):
        large = client.get(SLOTS, {"page_size": 50})

    assert (len(small.json()["results"]), len(large.json()["results"])) == (5, 50)
    assert large.json()["count"] == 60
    assert sum(not row["available"] for row in large.json()["results"]) == 17
    with django_assert_num_queries(4):
        filtered = client.get(
            SLOTS, {"page_size": "50", "available": "true", "doctor": str(doctors[1].public_id)}
        )
    assert filtered.json()["count"] == 10


def test_doctors_and_operations_see_slots_and_others_none():
    slot = make_slot(make_doctor())
    for user in (make_doctor(), make_user(role=Role.OPERATIONS)):
        assert ids(api_client(user).get(SLOTS)) == [str(slot.public_id)]
    for client in (
        api_client(make_user(role=Role.PATIENT)),
        api_client(make_user(role=Role.PHARMACIST)),
        terminal_client(make_terminal().credential),
    ):
        assert ids(client.get(SLOTS)) == []
        response = client.get(f"{SLOTS}{slot.public_id}/")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    anonymous = api_client().get(SLOTS)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")


def test_one_slot_shows_whether_it_can_be_booked():
    doctor = make_doctor()
    free = make_slot(doctor)
    withdrawn = make_slot(doctor, starts_in=2 * DAY, is_withdrawn=True)
    client = api_client(make_staff())

    assert client.get(f"{SLOTS}{free.public_id}/").json()["available"] is True
    assert client.get(f"{SLOTS}{withdrawn.public_id}/").json()["available"] is False
    assert client.get(f"{SLOTS}not-a-uuid/").status_code == 404


# --- Schedule management ------------------------------------------------------------------------


def test_operations_set_and_read_a_weekly_schedule():
    doctor = make_doctor()
    client = api_client(make_user(role=Role.OPERATIONS))

    response = client.put(schedule_url(doctor), {"windows": DAILY_NINE_TO_TEN}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["slots"] == {
        "created": 14 * 4,
        "withdrawn": 0,
        "restored": 0,
        "resized": 0,
        "kept_booked": 0,
    }
    assert body["windows"] == DAILY_NINE_TO_TEN
    assert (body["doctor"], body["slot_minutes"], body["can_be_scheduled"]) == (
        str(doctor.public_id),
        15,
        True,
    )
    assert Slot.objects.filter(doctor=doctor.doctor_profile).count() == 56

    replaced = client.put(
        schedule_url(doctor),
        {"windows": [{"weekday": 0, "starts_at": "09:00", "ends_at": "09:30"}]},
        format="json",
    ).json()
    assert replaced["windows"] == [{"weekday": 0, "starts_at": "09:00", "ends_at": "09:30"}]
    assert replaced["slots"]["withdrawn"] == 56 - 4
    assert WeeklyAvailability.objects.filter(doctor=doctor.doctor_profile).count() == 1

    read = client.get(schedule_url(doctor)).json()
    assert read["windows"] == replaced["windows"]
    assert "slots" not in read


def test_a_refused_schedule_changes_nothing():
    doctor = make_doctor()
    client = api_client(make_user(role=Role.OPERATIONS))
    overlapping = [
        {"weekday": 1, "starts_at": "09:00", "ends_at": "11:00"},
        {"weekday": 1, "starts_at": "10:00", "ends_at": "12:00"},
    ]

    refused = client.put(schedule_url(doctor), {"windows": overlapping}, format="json")
    malformed = client.put(
        schedule_url(doctor),
        {"windows": [{"weekday": 9, "starts_at": "25:00", "ends_at": "10:00"}]},
        format="json",
    )

    assert (refused.status_code, refused.json()["code"]) == (400, "schedule_windows_overlap")
    assert (malformed.status_code, malformed.json()["code"]) == (400, "validation_error")
    assert not WeeklyAvailability.objects.exists()
    assert not Slot.objects.exists()


def test_operations_add_list_and_remove_exceptions():
    doctor, other = make_doctor(), make_doctor()
    client = api_client(make_user(role=Role.OPERATIONS))
    client.put(schedule_url(doctor), {"windows": DAILY_NINE_TO_TEN}, format="json")
    in_two_days = timezone.localdate() + 2 * DAY

    leave = client.post(
        EXCEPTIONS,
        {"doctor": str(doctor.public_id), "kind": "leave", "date": in_two_days.isoformat()},
        format="json",
    )
    holiday = client.post(
        EXCEPTIONS,
        {"kind": "holiday", "date": (in_two_days + DAY).isoformat(), "reason": "国庆节"},
        format="json",
    )
    other_leave = client.post(
        EXCEPTIONS,
        {
            "doctor": str(other.public_id),
            "kind": "leave",
            "date": in_two_days.isoformat(),
            "starts_at": "09:00",
            "ends_at": "09:30",
        },
        format="json",
    )

    assert leave.status_code == 201, leave.json()
    assert leave.json()["slots"]["withdrawn"] == 4
    assert (leave.json()["doctor"], leave.json()["kind"], leave.json()["starts_at"]) == (
        str(doctor.public_id),
        "leave",
        None,
    )
    assert holiday.status_code == 201
    assert (holiday.json()["doctor"], holiday.json()["doctor_name"]) == (None, "")
    assert holiday.json()["slots"]["withdrawn"] == 4
    assert other_leave.json()["starts_at"] == "09:00"
    listed = client.get(EXCEPTIONS, {"doctor": str(doctor.public_id)}).json()["results"]
    assert [row["id"] for row in listed] == [leave.json()["id"], holiday.json()["id"]]
    assert [
        row["kind"] for row in client.get(EXCEPTIONS, {"kind": "holiday"}).json()["results"]
    ] == ["holiday"]
    assert (
        client.get(EXCEPTIONS, {"date_from": (in_two_days + DAY).isoformat()}).json()["count"] == 1
    )
    schedule = client.get(schedule_url(doctor)).json()
    assert [row["id"] for row in schedule["exceptions"]] == [
        leave.json()["id"],
        holiday.json()["id"],
    ]

    removed = client.delete(f"{EXCEPTIONS}{leave.json()['id']}/")

    assert removed.status_code == 200
    assert removed.json()["restored"] == 4
    assert ScheduleException.objects.count() == 2
    assert AuditEvent.objects.filter(object_type="schedule_exception").count() == 4
    assert client.delete(f"{EXCEPTIONS}{leave.json()['id']}/").status_code == 404


def test_a_refused_exception_changes_nothing():
    client = api_client(make_user(role=Role.OPERATIONS))
    date = (timezone.localdate() + DAY).isoformat()

    leave_for_all = client.post(EXCEPTIONS, {"kind": "leave", "date": date}, format="json")
    extra_without_window = client.post(
        EXCEPTIONS,
        {"doctor": str(make_doctor().public_id), "kind": "extra_hours", "date": date},
        format="json",
    )
    unknown_doctor = client.post(
        EXCEPTIONS,
        {"doctor": "00000000-0000-4000-8000-000000000000", "kind": "leave", "date": date},
        format="json",
    )

    assert (leave_for_all.status_code, leave_for_all.json()["code"]) == (
        400,
        "schedule_exception_invalid",
    )
    assert extra_without_window.json()["code"] == "schedule_exception_invalid"
    assert (unknown_doctor.status_code, unknown_doctor.json()["code"]) == (404, "not_found")
    assert not ScheduleException.objects.exists()


def test_only_operations_manage_schedules():
    doctor = make_doctor()
    exception = ScheduleException.objects.create(
        doctor=doctor.doctor_profile, kind="leave", date=timezone.localdate() + DAY
    )
    clients = [
        api_client(make_staff()),
        api_client(doctor),
        api_client(make_user(role=Role.PHARMACIST)),
        api_client(make_user(role=Role.PATIENT)),
        terminal_client(make_terminal().credential),
    ]
    for client in clients:
        for response in (
            client.get(schedule_url(doctor)),
            client.put(schedule_url(doctor), {"windows": DAILY_NINE_TO_TEN}, format="json"),
            client.get(EXCEPTIONS),
            client.post(
                EXCEPTIONS,
                {"kind": "holiday", "date": timezone.localdate().isoformat()},
                format="json",
            ),
            client.delete(f"{EXCEPTIONS}{exception.pk}/"),
        ):
            assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    anonymous = api_client().get(schedule_url(doctor))
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    assert ScheduleException.objects.count() == 1
    assert not WeeklyAvailability.objects.exists()
    assert not Consultation.objects.exists()


def test_an_unknown_doctor_has_no_schedule():
    client = api_client(make_user(role=Role.OPERATIONS))
    unknown = client.get("/api/v1/doctors/00000000-0000-4000-8000-000000000000/schedule/")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert client.get("/api/v1/doctors/12/schedule/").status_code == 404
    assert client.delete(f"{EXCEPTIONS}abc/").status_code == 404
