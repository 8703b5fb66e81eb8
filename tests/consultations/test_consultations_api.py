"""Consultation API: the rules that guard the lifecycle, the clinical record, vitals from the
terminal, the doctor's queue and the facility's day, and who may see what."""

import datetime

import pytest

from consultations.models import ConsultationEvent, VitalSign
from tests.consultations.builders import icd10, make_visit
from tests.factories import (
    api_client,
    make_doctor,
    make_staff,
    make_terminal,
    make_user,
    terminal_client,
)

pytestmark = pytest.mark.django_db


def url(visit, action=""):
    base = f"/api/v1/consultations/{visit.consultation.public_id}/"
    return f"{base}{action}/" if action else base


def assert_refused(response, status_code, code, visit, status):
    assert response.status_code == status_code, response.json()
    assert response.json()["code"] == code
    assert visit.refresh().status == status


# --- rules: each attempt gets its code and changes nothing -------------------------------------


def test_start_without_consent_is_refused():
    visit = make_visit("checked_in", consent=False)
    response = api_client(visit.doctor).post(url(visit, "start"))
    assert_refused(response, 409, "consent_required", visit, "checked_in")
    assert not ConsultationEvent.objects.filter(consultation=visit.consultation).exists()


def test_start_without_verified_evidence_is_refused():
    visit = make_visit("checked_in", evidence=False)
    response = api_client(visit.doctor).post(url(visit, "start"))
    assert_refused(response, 409, "followup_evidence_required", visit, "checked_in")


def test_start_with_unverified_evidence_is_refused():
    from tests.consultations.builders import give_evidence

    visit = make_visit("checked_in", evidence=False)
    give_evidence(visit.patient, visit.staff, verified_by=None)
    response = api_client(visit.doctor).post(url(visit, "start"))
    assert_refused(response, 409, "followup_evidence_required", visit, "checked_in")


def test_start_by_another_doctor_is_not_found():
    visit = make_visit("checked_in")
    response = api_client(make_doctor()).post(url(visit, "start"))
    assert_refused(response, 404, "not_found", visit, "checked_in")


def test_check_in_at_another_facility_is_refused():
    visit = make_visit("booked")
    response = api_client(make_staff()).post(url(visit, "check-in"))
    assert_refused(response, 404, "not_found", visit, "booked")


def test_check_in_with_a_terminal_of_another_facility_is_refused():
    visit = make_visit("booked")
    elsewhere = make_terminal().terminal
    response = api_client(visit.staff).post(
        url(visit, "check-in"), {"terminal": str(elsewhere.public_id)}
    )
    assert_refused(response, 404, "not_found", visit, "booked")


def test_cancelling_a_started_consultation_is_refused():
    visit = make_visit("in_progress")
    response = api_client(visit.staff).post(url(visit, "cancel"), {"reason": "患者离开"})
    assert_refused(response, 409, "invalid_transition", visit, "in_progress")


def test_cancel_needs_a_reason():
    visit = make_visit("booked")
    response = api_client(visit.staff).post(url(visit, "cancel"), {"reason": "  "})
    assert_refused(response, 400, "validation_error", visit, "booked")
    assert "reason" in response.json()["fields"]


def test_complete_needs_assessment_and_primary_diagnosis():
    visit = make_visit("in_progress", record=False)
    response = api_client(visit.doctor).post(url(visit, "complete"))
    assert_refused(response, 409, "note_required", visit, "in_progress")


def test_terminate_needs_a_known_reason_and_a_referral_note():
    visit = make_visit("in_progress")
    client = api_client(visit.doctor)
    bad_reason = client.post(
        url(visit, "terminate"), {"reason_code": "bored", "referral_note": "x"}
    )
    assert_refused(bad_reason, 400, "validation_error", visit, "in_progress")
    no_note = client.post(
        url(visit, "terminate"), {"reason_code": "first_visit", "referral_note": " "}
    )
    assert no_note.status_code == 400
    assert visit.refresh().status == "in_progress"


# --- the whole visit through the API ----------------------------------------------------------


def test_a_visit_from_check_in_to_completion():
    visit = make_visit("booked", record=False)
    issued = make_terminal(visit.facility)
    staff, doctor = api_client(visit.staff), api_client(visit.doctor)

    checked_in = staff.post(url(visit, "check-in"), {"terminal": str(issued.terminal.public_id)})
    assert checked_in.status_code == 200
    assert checked_in.json()["status"] == "checked_in"
    assert checked_in.json()["waiting_minutes"] == 0

    vitals = terminal_client(issued.credential).post(
        "/api/v1/terminals/vitals/",
        {"kind": "blood_pressure", "value": "152", "value_secondary": "96"},
    )
    assert vitals.status_code == 201
    assert (vitals.json()["unit"], vitals.json()["is_abnormal"]) == ("mmHg", True)

    assert doctor.post(url(visit, "start")).json()["status"] == "in_progress"
    note = doctor.put(
        url(visit, "note"),
        {
            "subjective": "头晕一周",
            "objective": "BP 152/96",
            "assessment": "高血压控制欠佳",
            "plan": "调整用药",
        },
        format="json",
    )
    assert note.status_code == 200
    icd10("E11.9", "2型糖尿病不伴有并发症", "Type 2 diabetes mellitus without complications")
    diagnoses = doctor.put(
        url(visit, "diagnoses"), {"primary": "I10", "secondary": ["E11.9"]}, format="json"
    )
    assert [(row["code"], row["is_primary"]) for row in diagnoses.json()] == [
        ("I10", True),
        ("E11.9", False),
    ]
    unknown = doctor.put(url(visit, "diagnoses"), {"primary": "Z99.99"}, format="json")
    assert (unknown.status_code, unknown.json()["code"]) == (400, "diagnosis_code_unknown")

    completed = doctor.post(url(visit, "complete"))
    assert completed.json()["status"] == "completed"

    detail = staff.get(url(visit)).json()
    assert [(e["from_status"], e["to_status"]) for e in detail["events"]] == [
        ("booked", "checked_in"),
        ("checked_in", "in_progress"),
        ("in_progress", "completed"),
    ]
    assert detail["note"]["assessment"] == "高血压控制欠佳"
    assert [v["kind"] for v in detail["vitals"]] == ["blood_pressure"]
    late_note = doctor.put(url(visit, "note"), {"assessment": "改写"}, format="json")
    assert (late_note.status_code, late_note.json()["code"]) == (
        409,
        "consultation_not_in_progress",
    )


# --- vitals from the terminal -----------------------------------------------------------------


@pytest.fixture
def checked_in_at_terminal():
    visit = make_visit("booked")
    issued = make_terminal(visit.facility)
    api_client(visit.staff).post(
        url(visit, "check-in"), {"terminal": str(issued.terminal.public_id)}
    )
    return visit, issued


@pytest.mark.parametrize(
    ("reading", "field"),
    [
        ({"kind": "temperature", "value": "47.5"}, "value"),
        ({"kind": "spo2", "value": "30"}, "value"),
        ({"kind": "heart_rate", "value": "400"}, "value"),
        ({"kind": "blood_pressure", "value": "120", "value_secondary": "130"}, "value_secondary"),
        ({"kind": "blood_pressure", "value": "120"}, "value_secondary"),
    ],
)
def test_implausible_vitals_are_refused(checked_in_at_terminal, reading, field):
    _visit, issued = checked_in_at_terminal
    response = terminal_client(issued.credential).post("/api/v1/terminals/vitals/", reading)
    assert response.status_code == 400
    assert response.json()["code"] == "vital_implausible"
    assert field in response.json()["fields"]
    assert not VitalSign.objects.exists()


def test_plausible_but_abnormal_vitals_are_kept_and_flagged(checked_in_at_terminal):
    visit, issued = checked_in_at_terminal
    client = terminal_client(issued.credential)
    low = client.post("/api/v1/terminals/vitals/", {"kind": "spo2", "value": "91"})
    normal = client.post("/api/v1/terminals/vitals/", {"kind": "temperature", "value": "36.6"})
    assert (low.json()["is_abnormal"], normal.json()["is_abnormal"]) == (True, False)
    assert VitalSign.objects.filter(consultation=visit.consultation).count() == 2


def test_vitals_from_a_terminal_of_another_facility_are_refused(checked_in_at_terminal):
    visit, _ = checked_in_at_terminal
    elsewhere = make_terminal()
    response = terminal_client(elsewhere.credential).post(
        "/api/v1/terminals/vitals/",
        {"consultation": str(visit.consultation.public_id), "kind": "heart_rate", "value": "72"},
    )
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    no_target = terminal_client(elsewhere.credential).post(
        "/api/v1/terminals/vitals/", {"kind": "heart_rate", "value": "72"}
    )
    assert (no_target.status_code, no_target.json()["code"]) == (404, "consultation_not_checked_in")
    assert not VitalSign.objects.exists()


def test_vitals_need_a_checked_in_consultation():
    visit = make_visit("booked")
    issued = make_terminal(visit.facility)
    response = terminal_client(issued.credential).post(
        "/api/v1/terminals/vitals/",
        {"consultation": str(visit.consultation.public_id), "kind": "weight", "value": "64.5"},
    )
    assert (response.status_code, response.json()["code"]) == (404, "consultation_not_checked_in")


def test_people_cannot_post_vitals(checked_in_at_terminal):
    visit, _ = checked_in_at_terminal
    response = api_client(visit.staff).post(
        "/api/v1/terminals/vitals/", {"kind": "weight", "value": "60"}
    )
    assert response.status_code == 401
    assert not VitalSign.objects.exists()


# --- the doctor's queue and the facility's day ------------------------------------------------


def test_queue_lists_the_doctors_checked_in_patients_in_order(django_assert_num_queries):
    doctor = make_doctor()
    later = make_visit("checked_in", doctor=doctor, starts_in=datetime.timedelta(minutes=20))
    sooner = make_visit("checked_in", doctor=doctor, starts_in=datetime.timedelta(minutes=5))
    current = make_visit("in_progress", doctor=doctor, starts_in=datetime.timedelta(minutes=-5))
    make_visit("booked", doctor=doctor)  # not here yet
    make_visit("checked_in")  # another doctor's patient

    client = api_client(doctor)
    response = client.get("/api/v1/consultations/queue/")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == [
        str(v.consultation.public_id) for v in (current, sooner, later)
    ]

    # Constant queries: auth (user), actor (membership lookup), the queue itself.
    for _ in range(3):
        make_visit("checked_in", doctor=doctor, starts_in=datetime.timedelta(minutes=30))
    with django_assert_num_queries(1):
        from consultations.selectors.consultations import doctor_queue
        from core.actors import actor_for_user

        rows = doctor_queue(actor=actor_for_user(doctor))
        names = [row.patient.name for row in rows]  # related rows come with the query
    assert len(names) == 6


def test_queue_is_for_doctors_only():
    response = api_client(make_staff()).get("/api/v1/consultations/queue/")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_facility_day_list_runs_constant_queries(django_assert_num_queries):
    first = make_visit("booked")
    for _ in range(4):
        make_visit("booked", facility=first.facility)
    make_visit("booked")  # another facility
    client = api_client(first.staff)

    def day_queries(page_size):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            response = client.get("/api/v1/consultations/day/", {"page_size": page_size})
        assert response.status_code == 200
        return len(captured), response.json()

    small_count, small = day_queries(2)
    large_count, large = day_queries(50)
    assert small["count"] == large["count"] == 5
    assert len(small["results"]) == 2
    assert len(large["results"]) == 5
    assert small_count == large_count


def test_consultation_list_runs_constant_queries():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    operations = api_client(make_user())
    make_visit("booked")
    with CaptureQueriesContext(connection) as one:
        assert operations.get("/api/v1/consultations/").json()["count"] == 1
    for _ in range(5):
        make_visit("booked")
    with CaptureQueriesContext(connection) as six:
        assert operations.get("/api/v1/consultations/").json()["count"] == 6
    assert len(one) == len(six)


# --- who may see what -------------------------------------------------------------------------


def test_consultation_detail_cross_owner():
    visit = make_visit("booked")
    allowed = [
        visit.staff,
        visit.doctor,
        make_user(),
    ]  # facility staff, treating doctor, operations
    for user in allowed:
        assert api_client(user).get(url(visit)).status_code == 200
    for user in [make_staff(), make_doctor()]:  # another facility, another doctor
        response = api_client(user).get(url(visit))
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert api_client().get(url(visit)).status_code == 401
    own_patient = make_user(role="patient")
    visit.patient.user = own_patient
    visit.patient.save(update_fields=["user"])
    assert api_client(own_patient).get(url(visit)).status_code == 200
    assert api_client(make_user(role="patient")).get(url(visit)).status_code == 404
    other_terminal = make_terminal()
    assert terminal_client(other_terminal.credential).get(url(visit)).status_code == 404


def test_consultation_actions_cross_owner_change_nothing():
    visit = make_visit("in_progress")
    stranger_doctor = api_client(make_doctor())
    for action, body in [
        ("complete", {}),
        ("terminate", {"reason_code": "unsuitable", "referral_note": "x"}),
        ("cancel", {"reason": "x"}),
    ]:
        assert stranger_doctor.post(url(visit, action), body).status_code == 404
    assert (
        stranger_doctor.put(url(visit, "note"), {"assessment": "x"}, format="json").status_code
        == 404
    )
    assert visit.refresh().status == "in_progress"
    # Staff of the facility can see it but are not its doctor.
    response = api_client(visit.staff).post(url(visit, "complete"))
    assert (response.status_code, response.json()["code"]) == (403, "not_treating_doctor")
    assert visit.refresh().ended_at is None


def test_lists_record_that_patients_were_shown():
    from core.models import AuditEvent

    visit = make_visit("booked")
    make_visit("booked", facility=visit.facility)
    response = api_client(visit.staff).get("/api/v1/consultations/day/")
    shown = {row["id"] for row in response.json()["results"]}
    assert len(shown) == 2
    reads = AuditEvent.objects.filter(action="read", actor=visit.staff, detail={"via": "list"})
    assert set(reads.values_list("object_id", flat=True)) == shown
