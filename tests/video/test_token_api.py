"""POST /api/v1/consultations/{id}/video-token/ as every role and as the wrong owner."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from core.models import AuditEvent
from tests.consultations.builders import Visit, make_visit
from tests.factories import (
    api_client,
    make_doctor,
    make_facility,
    make_patient_user,
    make_staff,
    make_terminal,
    make_user,
    terminal_client,
)
from tests.video.rooms import start_visit
from video.ice import turn_credential
from video.models import CallSession
from video.tokens import room_token_read

pytestmark = pytest.mark.django_db


def url(visit: Visit) -> str:
    return f"/api/v1/consultations/{visit.consultation.public_id}/video-token/"


def token_audits(visit: Visit) -> int:
    return AuditEvent.objects.filter(
        object_type="consultation",
        object_id=str(visit.consultation.public_id),
        detail__via="video_token",
    ).count()


def test_the_doctor_gets_a_short_lived_token_for_the_doctor_side():
    visit = start_visit()
    before = timezone.now().replace(microsecond=0)

    response = api_client(visit.doctor).post(url(visit))
    after = timezone.now()

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at", "ws_url", "side", "role", "ice_servers"}
    assert (
        body["ws_url"] == f"ws://testserver/ws/consultations/{visit.consultation.public_id}/video/"
    )
    assert (body["side"], body["role"], body["ice_servers"]) == ("doctor", "doctor", [])
    grant = room_token_read(body["token"])
    assert (grant.consultation_id, grant.side, grant.role, grant.user_id, grant.terminal_id) == (
        visit.consultation.public_id,
        "doctor",
        "doctor",
        visit.doctor.public_id,
        None,
    )
    assert datetime.datetime.fromisoformat(body["expires_at"]) == grant.expires_at
    # Issued between `before` and `after`, valid 120 s (whole seconds) from then.
    lifetime = datetime.timedelta(seconds=120)
    assert before + lifetime <= grant.expires_at <= after + lifetime
    assert token_audits(visit) == 1


def test_the_facility_staff_get_a_token_for_the_facility_side():
    visit = start_visit()

    response = api_client(visit.staff).post(url(visit))

    assert response.status_code == 200
    grant = room_token_read(response.json()["token"])
    assert (grant.side, grant.role, grant.user_id) == (
        "facility",
        "clinic_staff",
        visit.staff.public_id,
    )


def test_the_facility_terminal_gets_a_token_for_the_facility_side():
    visit = start_visit()
    issued = make_terminal(visit.facility)

    response = terminal_client(issued.credential).post(url(visit))

    assert response.status_code == 200
    grant = room_token_read(response.json()["token"])
    assert (grant.side, grant.role, grant.user_id, grant.terminal_id) == (
        "facility",
        "terminal",
        None,
        issued.terminal.public_id,
    )


def test_the_token_is_served_over_session_authentication_with_csrf():
    visit = start_visit()
    client = Client(enforce_csrf_checks=True)
    client.force_login(visit.doctor)

    refused = client.post(url(visit))
    page = client.get(f"/video/consultations/{visit.consultation.public_id}/")
    allowed = client.post(url(visit), headers={"X-CSRFToken": client.cookies["csrftoken"].value})

    assert refused.status_code == 403
    assert page.status_code == 200
    assert allowed.status_code == 200


def _outsider(kind: str, visit: Visit):
    """A client for someone who is not one of the room's two sides."""
    if kind == "other_facility_staff":
        return api_client(make_staff(make_facility()))
    if kind == "other_doctor":
        return api_client(make_doctor())
    if kind == "patient":
        return api_client(make_patient_user(visit.patient))
    if kind == "operations":
        return api_client(make_user(role="operations"))
    if kind == "pharmacist":
        return api_client(make_user(role="pharmacist"))
    if kind == "other_facility_terminal":
        return terminal_client(make_terminal(make_facility()).credential)
    if kind == "terminal_other_than_the_check_in_one":
        checked_in_at = make_terminal(visit.facility).terminal
        type(visit.consultation).objects.filter(pk=visit.consultation.pk).update(
            checked_in_terminal=checked_in_at
        )
        return terminal_client(make_terminal(visit.facility).credential)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "other_facility_staff",
        "other_doctor",
        "patient",
        "operations",
        "pharmacist",
        "other_facility_terminal",
        "terminal_other_than_the_check_in_one",
    ],
)
def test_everyone_else_is_told_not_found(kind):
    visit = start_visit()
    client = _outsider(kind, visit)

    response = client.post(url(visit))

    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "Consultation not found.",
        "fields": {},
    }
    assert token_audits(visit) == 0


def test_the_terminal_the_patient_was_checked_in_at_gets_a_token():
    visit = start_visit()
    issued = make_terminal(visit.facility)
    type(visit.consultation).objects.filter(pk=visit.consultation.pk).update(
        checked_in_terminal=issued.terminal
    )

    assert terminal_client(issued.credential).post(url(visit)).status_code == 200


def test_anonymous_is_asked_to_authenticate():
    visit = start_visit()

    response = api_client().post(url(visit))

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("status", ["booked", "checked_in", "completed", "terminated", "cancelled"])
def test_no_token_while_the_consultation_is_not_in_progress(status):
    visit = make_visit(status)

    response = api_client(visit.doctor).post(url(visit))

    assert response.status_code == 409
    assert response.json() == {
        "code": "video_room_not_open",
        "message": "The video room opens when the doctor starts the consultation.",
        "fields": {},
        "status": status,
    }
    assert not CallSession.objects.exists()
    assert token_audits(visit) == 0


def test_a_consultation_in_progress_without_a_room_gets_one_when_a_token_is_asked_for():
    visit = make_visit("in_progress")  # started before the room existed, or its opening was lost

    assert api_client(visit.staff).post(url(visit)).status_code == 200
    session = CallSession.objects.get(consultation=visit.consultation)
    assert session.closed_at is None


def test_ice_servers_come_from_settings_with_turn_credentials_minted_per_participant(settings):
    settings.VIDEO_ICE_SERVERS = [
        {"urls": ["stun:turn.example.org:3478"]},
        {"urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]},
        {"urls": "turn:fixed.example.org:3478", "username": "kiosk", "credential": "s3cret"},
    ]
    settings.VIDEO_TURN_SHARED_SECRET = "coturn-static-auth-secret"
    settings.VIDEO_TURN_CREDENTIAL_SECONDS = 3600
    visit = start_visit()
    before = int(timezone.now().timestamp())

    servers = api_client(visit.doctor).post(url(visit)).json()["ice_servers"]

    stun, minted, fixed = servers
    assert stun == {"urls": ["stun:turn.example.org:3478"]}
    expiry, participant = minted["username"].split(":")
    assert participant == visit.doctor.public_id.hex
    assert before + 3600 <= int(expiry) <= before + 3601
    assert minted["credential"] == turn_credential(
        secret="coturn-static-auth-secret", username=minted["username"]
    )
    assert fixed == {
        "urls": ["turn:fixed.example.org:3478"],
        "username": "kiosk",
        "credential": "s3cret",
    }
