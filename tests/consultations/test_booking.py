"""Booking: by slot, by doctor and by department (first available), walk-in tokens; every rule's
code, each refusal leaving nothing behind."""

import datetime
from dataclasses import dataclass

import psycopg.errors
import pytest
from django.db import OperationalError
from django.utils import timezone

from accounts.models import DoctorProfile, Role, User
from clinics.models import Facility
from consultations.models import Consultation, ConsultationEvent, Slot
from consultations.services import booking
from consultations.services.booking import consultation_book, retention_until
from core.actors import Actor, actor_for_user
from core.exceptions import ConflictError, PermissionDeniedError
from core.models import AuditEvent
from patients.models import Patient
from tests.factories import (
    api_client,
    make_department,
    make_doctor,
    make_facility,
    make_patient,
    make_slot,
    make_staff,
    make_terminal,
    make_user,
    resident_id,
    terminal_client,
)

pytestmark = pytest.mark.django_db

BOOK = "/api/v1/consultations/"
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


@dataclass
class Desk:
    """A facility's booking desk: the staff member, their facility and a registered patient."""

    facility: Facility
    staff: User
    patient: Patient

    def new_patient(self) -> Patient:
        return make_patient(self.staff, id_number=resident_id())

    def book(self, **payload: object):
        body = {"patient": str(self.patient.public_id)} | {
            key: str(value) for key, value in payload.items()
        }
        return api_client(self.staff).post(BOOK, body, format="json")


@pytest.fixture
def desk() -> Desk:
    facility = make_facility()
    staff = make_staff(facility=facility)
    return Desk(facility=facility, staff=staff, patient=make_patient(staff))


def assert_refused(response, status: int, code: str, *, bookings: int = 0) -> None:
    """The request got its code and wrote no booking, event or audit `create` row."""
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert Consultation.objects.count() == bookings
    assert ConsultationEvent.objects.count() == bookings
    assert AuditEvent.objects.filter(action="create", object_type="consultation").count() == (
        bookings
    )


def same_department(*doctors: User) -> None:
    department = doctors[0].doctor_profile.department
    for doctor in doctors[1:]:
        doctor.doctor_profile.department = department
        doctor.doctor_profile.save()


# --- Booking modes ------------------------------------------------------------------------------


def test_staff_book_a_slot_with_the_department_fee(desk):
    doctor = make_doctor()
    department = doctor.doctor_profile.department
    department.consultation_fee_fen = 4500
    department.save()
    slot = make_slot(doctor, starts_in=2 * DAY)

    response = desk.book(slot=slot.public_id)

    assert response.status_code == 201
    body = response.json()
    consultation = Consultation.objects.get()
    assert body["id"] == str(consultation.public_id)
    assert (body["status"], body["kind"], body["fee_fen"], body["walk_in_token"]) == (
        "booked",
        "scheduled",
        4500,
        None,
    )
    assert body["doctor"]["id"] == str(doctor.public_id)
    assert consultation.slot == slot
    assert consultation.doctor == doctor.doctor_profile
    assert consultation.department == department
    assert consultation.facility == desk.facility
    assert consultation.patient == desk.patient
    assert consultation.booked_by == desk.staff
    assert (consultation.scheduled_start, consultation.scheduled_end) == (
        slot.starts_at,
        slot.ends_at,
    )
    assert consultation.retention_until == retention_until(timezone.localdate())
    event = ConsultationEvent.objects.get()
    assert (event.consultation, event.from_status, event.to_status) == (consultation, "", "booked")
    assert (event.actor, event.actor_role) == (desk.staff, Role.CLINIC_STAFF)
    audit = AuditEvent.objects.get(action="create", object_type="consultation")
    assert (audit.object_type, audit.object_id, audit.actor) == (
        "consultation",
        str(consultation.public_id),
        desk.staff,
    )
    assert audit.facility_id == desk.facility.pk
    # A later fee change does not touch the booking.
    department.consultation_fee_fen = 6000
    department.save()
    consultation.refresh_from_db()
    assert consultation.fee_fen == 4500


def test_booking_by_doctor_takes_their_first_free_future_slot(desk):
    doctor = make_doctor()
    make_slot(doctor, starts_in=-HOUR)  # past
    make_slot(doctor, starts_in=DAY, is_withdrawn=True)
    taken = make_slot(doctor, starts_in=2 * DAY)
    consultation_book(actor=actor_for_user(desk.staff), patient=desk.new_patient(), slot=taken)
    expected = make_slot(doctor, starts_in=3 * DAY)
    make_slot(doctor, starts_in=4 * DAY)
    make_slot(make_doctor(), starts_in=DAY + HOUR)  # someone else's

    response = desk.book(doctor=doctor.public_id)

    assert response.status_code == 201
    assert Consultation.objects.get(public_id=response.json()["id"]).slot == expected


def test_booking_by_doctor_skips_slots_the_patient_is_already_booked_at(desk):
    doctor, other = make_doctor(), make_doctor()
    start = timezone.now().replace(microsecond=0) + DAY
    consultation_book(
        actor=actor_for_user(desk.staff),
        patient=desk.patient,
        slot=make_slot(other, starts_at=start),
    )
    make_slot(doctor, starts_at=start + datetime.timedelta(minutes=10))  # overlaps
    expected = make_slot(doctor, starts_at=start + HOUR)

    response = desk.book(doctor=doctor.public_id)

    assert response.status_code == 201
    assert Consultation.objects.get(public_id=response.json()["id"]).slot == expected


def test_booking_by_department_takes_the_earliest_slot_across_its_doctors(desk):
    first, second, unqualified = (
        make_doctor(),
        make_doctor(),
        make_doctor(practice_since=timezone.localdate() - datetime.timedelta(days=400)),
    )
    same_department(first, second, unqualified)
    department = first.doctor_profile.department
    make_slot(unqualified, starts_in=HOUR)  # not schedulable: skipped
    make_slot(first, starts_in=3 * HOUR)
    expected = make_slot(second, starts_in=2 * HOUR)
    make_slot(make_doctor(), starts_in=HOUR / 2)  # another department

    response = desk.book(department=department.public_id)

    assert response.status_code == 201
    consultation = Consultation.objects.get(public_id=response.json()["id"])
    assert (consultation.slot, consultation.doctor) == (expected, second.doctor_profile)
    assert consultation.department == department


def test_first_available_in_a_department_moves_on_when_a_competitor_wins_the_candidate(
    desk, monkeypatch
):
    first, second = make_doctor(), make_doctor()
    same_department(first, second)
    candidate = make_slot(first, starts_in=HOUR)
    expected = make_slot(second, starts_in=2 * HOUR)
    competitor = desk.new_patient()
    book_under_lock = booking._book_scheduled
    raced: list[Consultation] = []

    def competitor_wins_first(**kwargs):
        if not raced:  # between the pick and the lock, another desk books the candidate
            raced.append(
                book_under_lock(
                    booker=kwargs["booker"],
                    patient=competitor,
                    doctor_pk=candidate.doctor_id,
                    choose=booking._the_slot(candidate),
                )
            )
        return book_under_lock(**kwargs)

    monkeypatch.setattr(booking, "_book_scheduled", competitor_wins_first)

    consultation = consultation_book(
        actor=actor_for_user(desk.staff),
        patient=desk.patient,
        department=first.doctor_profile.department,
    )

    assert consultation.slot == expected
    assert raced[0].slot == candidate
    assert Consultation.objects.count() == 2


def test_walk_ins_get_the_next_token_of_the_day_per_department(desk):
    department, other_department = make_department(consultation_fee_fen=2500), make_department()
    today = timezone.localdate()

    tokens = [
        desk.book(department=department.public_id, walk_in=True).json(),
        Desk.book(
            Desk(desk.facility, desk.staff, desk.new_patient()),
            department=department.public_id,
            walk_in=True,
        ).json(),
        Desk.book(
            Desk(desk.facility, desk.staff, desk.new_patient()),
            department=other_department.public_id,
            walk_in=True,
        ).json(),
    ]

    assert [t["walk_in_token"] for t in tokens] == [1, 2, 1]
    assert [t["status"] for t in tokens] == ["booked"] * 3
    assert [t["fee_fen"] for t in tokens] == [2500, 2500, 3000]
    walk_in = Consultation.objects.get(public_id=tokens[0]["id"])
    midnight = datetime.datetime.combine(
        today, datetime.time.min, tzinfo=timezone.get_default_timezone()
    )
    assert (walk_in.kind, walk_in.doctor, walk_in.slot, walk_in.walk_in_date) == (
        "walk_in",
        None,
        None,
        today,
    )
    assert (walk_in.scheduled_start, walk_in.scheduled_end) == (midnight, midnight + DAY)
    assert ConsultationEvent.objects.filter(to_status="booked").count() == 3


def test_a_walk_in_and_a_scheduled_booking_the_same_day_do_not_overlap(desk):
    slot = make_slot(make_doctor(), starts_in=HOUR)

    assert desk.book(department=make_department().public_id, walk_in=True).status_code == 201
    assert desk.book(slot=slot.public_id).status_code == 201


def test_a_cancelled_booking_frees_its_slot(desk):
    slot = make_slot(make_doctor())
    first = consultation_book(
        actor=actor_for_user(desk.staff), patient=desk.new_patient(), slot=slot
    )
    Consultation.objects.filter(pk=first.pk).update(status="cancelled")

    assert desk.book(slot=slot.public_id).status_code == 201


def test_retention_is_fifteen_years_and_29_february_becomes_28_february():
    assert retention_until(datetime.date(2026, 11, 26)) == datetime.date(2041, 11, 26)
    assert retention_until(datetime.date(2028, 2, 29)) == datetime.date(2043, 2, 28)


def test_three_years_from_29_february_agree_with_the_doctor_rule():
    doctor = DoctorProfile(independent_practice_since=datetime.date(2020, 2, 29))
    first_day = booking._first_schedulable_day(doctor)

    assert first_day == datetime.date(2023, 3, 1)
    assert doctor.can_be_scheduled(first_day)
    assert not doctor.can_be_scheduled(first_day - DAY)
    # On 29 February, doctors since 28 February three years before qualify.
    cutoff = booking._practice_cutoff(datetime.date(2024, 2, 29))
    assert cutoff == datetime.date(2021, 2, 28)
    assert DoctorProfile(independent_practice_since=cutoff).can_be_scheduled(
        datetime.date(2024, 2, 29)
    )
    assert not DoctorProfile(independent_practice_since=cutoff + DAY).can_be_scheduled(
        datetime.date(2024, 2, 29)
    )


# --- Rules --------------------------------------------------------------------------------------


def test_an_unqualified_doctor_cannot_be_booked(desk):
    doctor = make_doctor(practice_since=timezone.localdate() - datetime.timedelta(days=2 * 365))
    slot = make_slot(doctor)

    assert_refused(desk.book(slot=slot.public_id), 409, "doctor_not_schedulable")
    assert_refused(desk.book(doctor=doctor.public_id), 409, "doctor_not_schedulable")


def test_the_three_year_rule_applies_on_the_consultation_day(desk):
    """A doctor reaching three years in three days can be booked from that day on."""
    today = timezone.localdate()
    doctor = make_doctor(practice_since=today.replace(year=today.year - 3) + 3 * DAY)
    same_department(doctor, make_doctor())
    local_noon = datetime.time(12, 0, tzinfo=timezone.get_default_timezone())
    too_early = make_slot(doctor, starts_at=datetime.datetime.combine(today + DAY, local_noon))
    qualified = make_slot(doctor, starts_at=datetime.datetime.combine(today + 4 * DAY, local_noon))

    assert_refused(desk.book(slot=too_early.public_id), 409, "doctor_not_schedulable")
    # First available, by doctor or by department, passes over the early slot.
    by_doctor = desk.book(doctor=doctor.public_id)
    assert by_doctor.status_code == 201
    assert Consultation.objects.get(public_id=by_doctor.json()["id"]).slot == qualified
    Consultation.objects.filter(public_id=by_doctor.json()["id"]).update(status="cancelled")
    other_desk = Desk(desk.facility, desk.staff, desk.new_patient())
    by_department = other_desk.book(department=doctor.doctor_profile.department.public_id)
    assert by_department.status_code == 201
    assert Consultation.objects.get(public_id=by_department.json()["id"]).slot == qualified


def test_a_withdrawn_or_past_slot_is_unavailable(desk):
    doctor = make_doctor()
    withdrawn = make_slot(doctor, is_withdrawn=True)
    past = make_slot(doctor, starts_in=-HOUR)

    assert_refused(desk.book(slot=withdrawn.public_id), 409, "slot_unavailable")
    assert_refused(desk.book(slot=past.public_id), 409, "slot_unavailable")


def test_a_booked_slot_is_taken(desk):
    slot = make_slot(make_doctor())
    consultation_book(actor=actor_for_user(desk.staff), patient=desk.new_patient(), slot=slot)

    assert_refused(desk.book(slot=slot.public_id), 409, "slot_taken", bookings=1)


def test_a_patient_cannot_hold_overlapping_bookings(desk):
    start = timezone.now().replace(microsecond=0) + DAY
    first = make_slot(make_doctor(), starts_at=start)
    overlapping = make_slot(make_doctor(), starts_at=start + datetime.timedelta(minutes=10))
    adjacent = make_slot(make_doctor(), starts_at=start + datetime.timedelta(minutes=15))
    assert desk.book(slot=first.public_id).status_code == 201

    assert_refused(
        desk.book(slot=overlapping.public_id), 409, "patient_overlapping_booking", bookings=1
    )
    assert desk.book(slot=adjacent.public_id).status_code == 201  # touching is not overlapping


def test_a_second_walk_in_the_same_day_overlaps(desk):
    assert desk.book(department=make_department().public_id, walk_in=True).status_code == 201

    assert_refused(
        desk.book(department=make_department().public_id, walk_in=True),
        409,
        "patient_overlapping_booking",
        bookings=1,
    )


def test_a_patient_holds_at_most_the_configured_future_bookings(desk, settings):
    settings.MAX_FUTURE_BOOKINGS_PER_PATIENT = 2
    doctor = make_doctor()
    slots = [make_slot(doctor, starts_in=n * DAY) for n in (1, 2, 3, 4)]
    for slot in slots[:2]:
        assert desk.book(slot=slot.public_id).status_code == 201

    refused = desk.book(slot=slots[2].public_id)
    assert_refused(refused, 409, "patient_booking_limit", bookings=2)
    assert refused.json()["limit"] == 2
    assert_refused(
        desk.book(department=make_department().public_id, walk_in=True),
        409,
        "patient_booking_limit",
        bookings=2,
    )

    # Bookings no longer active do not count.
    Consultation.objects.filter(slot=slots[0]).update(status="cancelled")
    assert desk.book(slot=slots[3].public_id).status_code == 201


def test_first_available_finds_nothing(desk):
    doctor = make_doctor()
    make_slot(doctor, is_withdrawn=True)

    assert_refused(desk.book(doctor=doctor.public_id), 409, "no_slot_available")
    assert_refused(
        desk.book(department=doctor.doctor_profile.department.public_id), 409, "no_slot_available"
    )


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"slot": "slot", "doctor": "doctor"},
        {"doctor": "doctor", "walk_in": True},
        {"slot": "not-a-uuid"},
    ],
)
def test_exactly_one_booking_mode_is_required(desk, payload):
    doctor = make_doctor()
    values = {"slot": make_slot(doctor).public_id, "doctor": doctor.public_id}
    body = {key: values.get(value, value) for key, value in payload.items()}

    assert_refused(desk.book(**body), 400, "validation_error")


def test_the_patient_is_required(desk):
    response = api_client(desk.staff).post(
        BOOK, {"slot": str(make_slot(make_doctor()).public_id)}, format="json"
    )
    assert_refused(response, 400, "validation_error")
    assert list(response.json()["fields"]) == ["patient"]


def test_patients_slots_doctors_and_departments_must_be_found(desk):
    stranger = make_patient(make_staff())  # registered at another facility
    slot = make_slot(make_doctor())
    inactive = make_department(is_active=False)
    unknown = "00000000-0000-4000-8000-000000000000"

    for response in (
        Desk(desk.facility, desk.staff, stranger).book(slot=slot.public_id),
        desk.book(slot=unknown),
        desk.book(doctor=unknown),
        desk.book(department=unknown),
        desk.book(department=inactive.public_id, walk_in=True),
        api_client(desk.staff).post(
            BOOK, {"patient": unknown, "slot": str(slot.public_id)}, format="json"
        ),
    ):
        assert_refused(response, 404, "not_found")


def test_only_clinic_staff_at_a_facility_book(desk):
    slot = make_slot(make_doctor())
    body = {"patient": str(desk.patient.public_id), "slot": str(slot.public_id)}
    for user in (
        make_user(role=Role.OPERATIONS),
        make_doctor(),
        make_user(role=Role.PHARMACIST),
        make_user(role=Role.PATIENT),
        make_user(role=Role.CLINIC_STAFF),  # no facility
    ):
        assert_refused(api_client(user).post(BOOK, body, format="json"), 403, "permission_denied")
    terminal = make_terminal(desk.facility)
    assert_refused(
        terminal_client(terminal.credential).post(BOOK, body, format="json"),
        403,
        "permission_denied",
    )
    assert_refused(api_client().post(BOOK, body, format="json"), 401, "not_authenticated")


# --- Database guarantees ------------------------------------------------------------------------


def test_the_unique_index_refusal_becomes_slot_taken(desk, monkeypatch):
    """A writer that skipped the check still cannot double-book: the index refuses."""
    slot = make_slot(make_doctor())
    consultation_book(actor=actor_for_user(desk.staff), patient=desk.new_patient(), slot=slot)

    def without_check(slot: Slot):
        return lambda doctor, patient, now: Slot.objects.select_related("department").get(
            pk=slot.pk
        )

    monkeypatch.setattr(booking, "_the_slot", without_check)

    with pytest.raises(ConflictError) as refused:
        consultation_book(actor=actor_for_user(desk.staff), patient=desk.patient, slot=slot)

    assert (refused.value.status_code, refused.value.code) == (409, "slot_taken")
    assert Consultation.objects.count() == 1
    assert ConsultationEvent.objects.count() == 1


def test_a_deadlock_becomes_slot_taken(desk, monkeypatch):
    slot = make_slot(make_doctor())

    def deadlock(patient: Patient) -> Patient:
        try:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        except psycopg.errors.DeadlockDetected as cause:
            raise OperationalError("deadlock detected") from cause

    monkeypatch.setattr(booking, "_lock_patient", deadlock)

    response = desk.book(slot=slot.public_id)

    assert_refused(response, 409, "slot_taken")


def test_other_database_errors_are_not_disguised(desk, monkeypatch):
    slot = make_slot(make_doctor())

    def broken(patient: Patient) -> Patient:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(booking, "_lock_patient", broken)

    with pytest.raises(OperationalError):
        consultation_book(actor=actor_for_user(desk.staff), patient=desk.patient, slot=slot)
    assert not Consultation.objects.exists()


def test_the_service_refuses_actors_who_are_not_staff(desk):
    slot = make_slot(make_doctor())
    for actor in (
        Actor(role=Role.OPERATIONS),
        Actor(role="terminal", facility_id=desk.facility.pk),
    ):
        with pytest.raises(PermissionDeniedError) as refused:
            consultation_book(actor=actor, patient=desk.patient, slot=slot)
        assert refused.value.code == "permission_denied"
    assert not Consultation.objects.exists()
