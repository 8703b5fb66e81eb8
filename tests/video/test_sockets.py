"""The video room's WebSocket through the whole ASGI stack: who gets in, what it relays, what it
records, and the room closing under connected sockets when the consultation ends."""

import datetime
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone

from accounts.models import Role
from consultations.models import ConsultationStatus
from consultations.services import lifecycle
from core.actors import actor_for_user
from core.dates import years_after
from core.models import AuditEvent
from tests.consultations.builders import Visit, make_visit
from tests.factories import make_doctor, make_facility, make_patient_user, make_staff, make_terminal
from tests.video.rooms import RoomSocket, room_socket, start_visit, token_for
from video.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_OPEN, CLOSE_REPLACED, CLOSE_ROOM_CLOSED
from video.models import CallEvent, CallSession, ChatMessage
from video.tokens import room_token_sign

pytestmark = pytest.mark.usefixtures("socket_db")

SDP_OFFER = {"session": "7d1c", "description": {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 0"}}
SDP_ANSWER = {
    "session": "7d1c",
    "description": {"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 0"},
}
CANDIDATE = {
    "session": "7d1c",
    "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"},
}


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


def events(visit: Visit) -> list[tuple[str, str]]:
    return list(
        CallEvent.objects.filter(session__consultation=visit.consultation)
        .order_by("pk")
        .values_list("side", "kind")
    )


async def enter(visit: Visit, token: str) -> tuple[RoomSocket, dict]:
    socket = room_socket(visit.consultation.public_id, token)
    connected, _ = await socket.connect()
    assert connected
    welcome = await socket.receive_json_from()
    assert welcome["type"] == "welcome"
    return socket, welcome


# --- the two sides meet --------------------------------------------------------------------------


def test_doctor_and_facility_staff_meet_and_relay_signals_to_each_other():
    visit = start_visit()
    doctor_token, staff_token = token_for(visit, visit.doctor), token_for(visit, visit.staff)

    async def scenario() -> None:
        doctor, doctor_welcome = await enter(visit, doctor_token)
        assert doctor_welcome == {
            "type": "welcome",
            "connection": doctor_welcome["connection"],
            "side": "doctor",
            "role": "doctor",
            "name": visit.doctor.full_name,
            "rejoined": False,
            "chat": [],
        }
        staff, staff_welcome = await enter(visit, staff_token)
        assert (staff_welcome["side"], staff_welcome["role"]) == ("facility", "clinic_staff")
        assert await doctor.receive_json_from() == {
            "type": "peer_joined",
            "connection": staff_welcome["connection"],
            "side": "facility",
            "role": "clinic_staff",
            "name": visit.staff.full_name,
        }
        assert await staff.receive_json_from() == {
            "type": "peer_present",
            "connection": doctor_welcome["connection"],
            "side": "doctor",
            "role": "doctor",
            "name": visit.doctor.full_name,
        }

        await doctor.send_json_to({"type": "signal", "data": SDP_OFFER})
        assert await staff.receive_json_from() == {
            "type": "signal",
            "from": doctor_welcome["connection"],
            "data": SDP_OFFER,
        }
        await staff.send_json_to({"type": "signal", "data": SDP_ANSWER})
        await staff.send_json_to({"type": "signal", "data": CANDIDATE})
        assert await doctor.receive_json_from() == {
            "type": "signal",
            "from": staff_welcome["connection"],
            "data": SDP_ANSWER,
        }
        assert (await doctor.receive_json_from())["data"] == CANDIDATE
        assert await doctor.receive_nothing()  # nobody gets their own signals back
        assert await staff.receive_nothing()

        await staff.disconnect()
        assert await doctor.receive_json_from() == {
            "type": "peer_left",
            "connection": staff_welcome["connection"],
            "side": "facility",
            "role": "clinic_staff",
            "name": visit.staff.full_name,
        }
        await doctor.disconnect()

    run(scenario)
    assert events(visit) == [
        ("doctor", "joined"),
        ("facility", "joined"),
        ("facility", "left"),
        ("doctor", "left"),
    ]
    left = CallEvent.objects.filter(kind="left")
    recorded = [event.duration_seconds for event in left]
    assert None not in recorded
    assert len(recorded) == 2
    assert list(CallEvent.objects.values_list("user_id", flat=True).order_by("pk")) == [
        visit.doctor.pk,
        visit.staff.pk,
        visit.staff.pk,
        visit.doctor.pk,
    ]


def test_the_facility_terminal_joins_on_the_facility_side():
    visit = start_visit()
    terminal = make_terminal(visit.facility).terminal
    doctor_token, terminal_token = token_for(visit, visit.doctor), token_for(visit, terminal)

    async def scenario() -> None:
        doctor, _ = await enter(visit, doctor_token)
        device, welcome = await enter(visit, terminal_token)
        assert (welcome["side"], welcome["role"], welcome["name"]) == (
            "facility",
            "terminal",
            f"{visit.facility.name} {terminal.serial}",
        )
        assert (await doctor.receive_json_from())["role"] == "terminal"
        await device.disconnect()
        await doctor.disconnect()

    run(scenario)
    joined = CallEvent.objects.get(side="facility", kind="joined")
    assert (joined.role, joined.terminal_id, joined.user_id) == ("terminal", terminal.pk, None)


# --- chat and media ------------------------------------------------------------------------------


def test_chat_is_stored_then_sent_to_both_sides_and_replayed_to_later_sockets():
    visit = start_visit()
    doctor_token, staff_token = token_for(visit, visit.doctor), token_for(visit, visit.staff)
    later_token = token_for(visit, visit.staff)

    async def scenario() -> None:
        doctor, _ = await enter(visit, doctor_token)
        staff, _ = await enter(visit, staff_token)
        await doctor.receive_json_from()  # peer_joined
        await staff.receive_json_from()  # peer_present

        await doctor.send_json_to({"type": "chat", "text": "  最近血压怎么样？ "})
        to_doctor = await doctor.receive_json_from()
        to_staff = await staff.receive_json_from()
        assert to_doctor == to_staff
        assert to_staff["type"] == "chat"
        message = to_staff["message"]
        assert (message["side"], message["role"], message["name"], message["text"]) == (
            "doctor",
            "doctor",
            visit.doctor.full_name,
            "最近血压怎么样？",
        )
        await staff.send_json_to({"type": "chat", "text": "一周都在130/85左右"})
        reply = (await doctor.receive_json_from())["message"]
        assert (reply["side"], reply["text"]) == ("facility", "一周都在130/85左右")
        await staff.receive_json_from()
        await staff.disconnect()
        await doctor.receive_json_from()  # peer_left

        again, welcome = await enter(visit, later_token)
        assert [(line["side"], line["text"]) for line in welcome["chat"]] == [
            ("doctor", "最近血压怎么样？"),
            ("facility", "一周都在130/85左右"),
        ]
        assert welcome["rejoined"] is True
        await again.disconnect()
        await doctor.disconnect()

    run(scenario)
    today = timezone.localdate()
    rows = ChatMessage.objects.order_by("sent_at", "pk")
    assert [
        (row.side, row.sender_role, row.sender_user_id, row.text, row.retention_until)
        for row in rows
    ] == [
        ("doctor", "doctor", visit.doctor.pk, "最近血压怎么样？", years_after(today, 3)),
        ("facility", "clinic_staff", visit.staff.pk, "一周都在130/85左右", years_after(today, 3)),
    ]
    assert set(
        AuditEvent.objects.filter(object_type="chat_message").values_list("object_id", flat=True)
    ) == {str(row.public_id) for row in rows}


@pytest.mark.parametrize(
    ("text", "code"),
    [("字" * 2001, "chat_text_too_long"), ("   ", "chat_text_required")],
)
def test_a_refused_chat_line_is_answered_to_its_sender_only_and_not_stored(text, code):
    visit = start_visit()
    doctor_token, staff_token = token_for(visit, visit.doctor), token_for(visit, visit.staff)

    async def scenario() -> None:
        doctor, _ = await enter(visit, doctor_token)
        staff, _ = await enter(visit, staff_token)
        await doctor.receive_json_from()
        await staff.receive_json_from()
        await doctor.send_json_to({"type": "chat", "text": text})
        error = await doctor.receive_json_from()
        assert (error["type"], error["code"]) == ("error", code)
        assert await staff.receive_nothing()
        await staff.disconnect()
        await doctor.disconnect()

    run(scenario)
    assert ChatMessage.objects.count() == 0
    assert not AuditEvent.objects.filter(object_type="chat_message").exists()


def test_media_toggles_are_recorded_and_shown_to_the_other_side():
    visit = start_visit()
    doctor_token, staff_token = token_for(visit, visit.doctor), token_for(visit, visit.staff)

    async def scenario() -> None:
        doctor, doctor_welcome = await enter(visit, doctor_token)
        staff, _ = await enter(visit, staff_token)
        await doctor.receive_json_from()
        await staff.receive_json_from()
        for kind, enabled in [("audio", False), ("video", False), ("audio", True)]:
            await doctor.send_json_to({"type": "media", "kind": kind, "enabled": enabled})
            assert await staff.receive_json_from() == {
                "type": "peer_media",
                "connection": doctor_welcome["connection"],
                "side": "doctor",
                "role": "doctor",
                "name": visit.doctor.full_name,
                "kind": kind,
                "enabled": enabled,
            }
        await doctor.send_json_to({"type": "media", "kind": "screen", "enabled": True})
        assert (await doctor.receive_json_from())["code"] == "message_unknown"
        await doctor.send_to(text_data="not json")
        assert (await doctor.receive_json_from())["code"] == "message_invalid"
        assert await staff.receive_nothing()
        await staff.disconnect()
        await doctor.disconnect()

    run(scenario)
    assert [kind for side, kind in events(visit) if side == "doctor"] == [
        "joined",
        "microphone_off",
        "camera_off",
        "microphone_on",
        "left",
    ]


# --- reconnection --------------------------------------------------------------------------------


def test_a_rejoin_is_recorded_as_reconnected_and_a_newer_socket_of_a_side_replaces_the_older():
    visit = start_visit()
    tokens = [token_for(visit, visit.staff) for _ in range(3)]
    doctor_token = token_for(visit, visit.doctor)

    async def scenario() -> None:
        doctor, _ = await enter(visit, doctor_token)
        first, _ = await enter(visit, tokens[0])
        await doctor.receive_json_from()
        await first.receive_json_from()
        await first.disconnect()
        await doctor.receive_json_from()  # peer_left

        second, welcome = await enter(visit, tokens[1])
        assert welcome["rejoined"] is True
        assert (await doctor.receive_json_from())["connection"] == welcome["connection"]
        await second.receive_json_from()  # peer_present

        # A reload whose old socket the server has not seen close yet: the new one wins.
        third, newest = await enter(visit, tokens[2])
        assert await second.receive_json_from() == {"type": "replaced"}
        assert await second.receive_output() == {"type": "websocket.close", "code": CLOSE_REPLACED}
        joined = await doctor.receive_json_from()
        assert (joined["type"], joined["connection"]) == ("peer_joined", newest["connection"])
        await second.disconnect()
        left = await doctor.receive_json_from()
        assert (left["type"], left["connection"]) == ("peer_left", welcome["connection"])
        await third.receive_json_from()  # peer_present
        await third.disconnect()
        await doctor.disconnect()

    run(scenario)
    assert [kind for side, kind in events(visit) if side == "facility"] == [
        "joined",
        "left",
        "reconnected",
        "reconnected",
        "left",
        "left",
    ]


# --- who is refused ------------------------------------------------------------------------------


def _third_party(kind: str, visit: Visit) -> dict[str, Any]:
    """A grant naming someone who does not belong in the room, signed as if the server had
    issued it: the socket must check again, not trust the token alone."""
    if kind == "other_facility_staff":
        user = make_staff(make_facility())
        return {"side": "facility", "role": Role.CLINIC_STAFF, "user_id": user.public_id}
    if kind == "other_doctor":
        user = make_doctor()
        return {"side": "doctor", "role": Role.DOCTOR, "user_id": user.public_id}
    if kind == "patient":
        user = make_patient_user(visit.patient)
        return {"side": "facility", "role": Role.PATIENT, "user_id": user.public_id}
    if kind == "other_facility_terminal":
        terminal = make_terminal(make_facility()).terminal
        return {"side": "facility", "role": "terminal", "terminal_id": terminal.public_id}
    if kind == "staff_posing_as_doctor":
        return {"side": "doctor", "role": Role.DOCTOR, "user_id": visit.staff.public_id}
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "other_facility_staff",
        "other_doctor",
        "patient",
        "other_facility_terminal",
        "staff_posing_as_doctor",
    ],
)
def test_people_outside_the_consultation_are_refused_at_the_socket(kind):
    visit = start_visit()
    token, _ = room_token_sign(
        consultation_id=visit.consultation.public_id, **_third_party(kind, visit)
    )

    async def scenario() -> None:
        socket = room_socket(visit.consultation.public_id, token)
        assert await socket.connect() == (False, CLOSE_FORBIDDEN)

    run(scenario)
    assert events(visit) == []


def _refused_token(kind: str, visit: Visit) -> str | None:
    if kind == "anonymous":
        return None
    if kind == "garbage":
        return "not-a-token"
    if kind == "tampered":
        return token_for(visit, visit.staff)[:-2] + "xx"
    if kind == "expired":
        long_ago = timezone.now() - datetime.timedelta(hours=1)
        token, _ = room_token_sign(
            consultation_id=visit.consultation.public_id,
            side="facility",
            role=Role.CLINIC_STAFF,
            user_id=visit.staff.public_id,
            now=long_ago,
        )
        return token
    if kind == "another_consultation":
        other = start_visit(facility=visit.facility)
        return token_for(other, visit.staff)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["anonymous", "garbage", "tampered", "expired", "another_consultation"]
)
def test_sockets_without_a_valid_token_for_this_room_are_refused(kind):
    visit = start_visit()
    token = _refused_token(kind, visit)

    async def scenario() -> None:
        socket = room_socket(visit.consultation.public_id, token)
        assert await socket.connect() == (False, CLOSE_FORBIDDEN)

    run(scenario)
    assert events(visit) == []


@pytest.mark.parametrize("status", ["checked_in", "completed", "cancelled"])
def test_a_participant_is_refused_while_the_consultation_is_not_in_progress(status):
    visit = make_visit(status)
    token, _ = room_token_sign(
        consultation_id=visit.consultation.public_id,
        side="doctor",
        role=Role.DOCTOR,
        user_id=visit.doctor.public_id,
    )

    async def scenario() -> None:
        socket = room_socket(visit.consultation.public_id, token)
        assert await socket.connect() == (False, CLOSE_NOT_OPEN)

    run(scenario)
    assert not CallSession.objects.exists()


def test_a_socket_from_a_foreign_origin_is_refused():
    visit = start_visit()
    token = token_for(visit, visit.doctor)

    async def scenario() -> None:
        socket = room_socket(visit.consultation.public_id, token, origin=b"https://evil.example")
        connected, _ = await socket.connect()
        assert connected is False

    run(scenario)
    assert events(visit) == []


# --- the room closes with the consultation -------------------------------------------------------


@pytest.mark.parametrize("ending", ["complete", "terminate"])
def test_ending_the_consultation_closes_the_room_under_connected_sockets(ending):
    visit = start_visit()
    doctor_token, staff_token = token_for(visit, visit.doctor), token_for(visit, visit.staff)
    doctor_actor = actor_for_user(visit.doctor)
    token_for_closed_room = token_for(visit, visit.doctor)  # issued before the end, still fresh

    def end() -> None:
        if ending == "complete":
            lifecycle.consultation_complete(actor=doctor_actor, consultation=visit.consultation)
        else:
            lifecycle.consultation_terminate(
                actor=doctor_actor,
                consultation=visit.consultation,
                reason_code="condition_changed",
                referral_note="建议线下就诊",
            )

    async def scenario() -> None:
        doctor, _ = await enter(visit, doctor_token)
        staff, _ = await enter(visit, staff_token)
        await doctor.receive_json_from()
        await staff.receive_json_from()

        await database_sync_to_async(end)()

        for socket in (doctor, staff):
            assert await socket.receive_json_from() == {"type": "room_closed"}
            assert await socket.receive_output() == {
                "type": "websocket.close",
                "code": CLOSE_ROOM_CLOSED,
            }
        await doctor.disconnect()
        await staff.disconnect()
        late = room_socket(visit.consultation.public_id, token_for_closed_room)
        assert await late.connect() == (False, CLOSE_NOT_OPEN)

    run(scenario)
    consultation = visit.refresh()
    expected_status = (
        ConsultationStatus.COMPLETED if ending == "complete" else ConsultationStatus.TERMINATED
    )
    assert consultation.status == expected_status
    session = CallSession.objects.get(consultation=consultation)
    assert session.closed_at == consultation.ended_at
    assert consultation.recording_retention_until == years_after(
        timezone.localdate(consultation.ended_at), 3
    )
    assert [kind for _, kind in events(visit)] == ["joined", "joined", "left", "left"]


# --- across processes ----------------------------------------------------------------------------


@pytest.mark.redis
def test_signals_and_chat_cross_through_the_redis_channel_layer(settings):
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    visit = start_visit()
    doctor_token, staff_token = token_for(visit, visit.doctor), token_for(visit, visit.staff)

    async def scenario() -> None:
        doctor, doctor_welcome = await enter(visit, doctor_token)
        staff, _ = await enter(visit, staff_token)
        assert (await doctor.receive_json_from(timeout=5))["type"] == "peer_joined"
        assert (await staff.receive_json_from(timeout=5))["type"] == "peer_present"
        await doctor.send_json_to({"type": "signal", "data": SDP_OFFER})
        assert await staff.receive_json_from(timeout=5) == {
            "type": "signal",
            "from": doctor_welcome["connection"],
            "data": SDP_OFFER,
        }
        await staff.send_json_to({"type": "chat", "text": "收到"})
        assert (await doctor.receive_json_from(timeout=5))["message"]["text"] == "收到"
        await staff.disconnect()
        await doctor.disconnect()

    run(scenario)
    assert list(ChatMessage.objects.values_list("side", "text")) == [("facility", "收到")]
