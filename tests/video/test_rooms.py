"""The room's life with the consultation, call events, chat rules and room tokens, without a
socket."""

import datetime
import logging
import uuid

import pytest
from django.core import signing
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role
from consultations.services import lifecycle
from core.actors import actor_for_user
from core.dates import years_after
from core.exceptions import DomainError
from core.models import AuditEvent
from tests.consultations.builders import make_visit
from tests.support.processes import free_port
from tests.video.rooms import start_visit
from video.models import CallEvent, CallSession, ChatMessage
from video.selectors import room_entry_for_grant
from video.services import call_event_record, call_room_close, call_room_open, chat_message_send
from video.tokens import SALT, RoomTokenError, room_token_read, room_token_sign

pytestmark = pytest.mark.django_db


def doctor_entry(visit):
    token, _ = room_token_sign(
        consultation_id=visit.consultation.public_id,
        side="doctor",
        role=Role.DOCTOR,
        user_id=visit.doctor.public_id,
    )
    return room_entry_for_grant(
        grant=room_token_read(token), consultation_public_id=visit.consultation.public_id
    )


# --- the room opens and closes with the consultation ---------------------------------------------


def test_starting_the_consultation_opens_its_room():
    visit = make_visit("checked_in")
    started_at = timezone.now().replace(microsecond=0)

    lifecycle.consultation_start(
        actor=actor_for_user(visit.doctor), consultation=visit.consultation, now=started_at
    )

    session = CallSession.objects.get(consultation=visit.consultation)
    assert (session.opened_at, session.closed_at) == (started_at, None)


def test_completing_closes_the_room_and_dates_the_recording_retention():
    visit = start_visit()
    ended_at = timezone.now().replace(microsecond=0) + datetime.timedelta(minutes=12)

    lifecycle.consultation_complete(
        actor=actor_for_user(visit.doctor), consultation=visit.consultation, now=ended_at
    )

    consultation = visit.refresh()
    assert CallSession.objects.get(consultation=consultation).closed_at == ended_at
    assert consultation.recording_reference == ""  # a placeholder until recordings exist
    assert consultation.recording_retention_until == years_after(timezone.localdate(ended_at), 3)
    closed = AuditEvent.objects.get(detail__record="video_room_closed")
    assert (closed.actor_id, closed.object_id) == (visit.doctor.pk, str(consultation.public_id))


def test_a_closed_room_stays_closed():
    visit = start_visit()
    lifecycle.consultation_complete(
        actor=actor_for_user(visit.doctor), consultation=visit.consultation
    )
    closed_at = CallSession.objects.get().closed_at
    audits = AuditEvent.objects.count()

    assert call_room_open(consultation=visit.consultation) is None
    unchanged = call_room_close(consultation=visit.consultation)
    assert unchanged is not None
    assert unchanged.closed_at == closed_at
    assert CallSession.objects.get().closed_at == closed_at
    assert AuditEvent.objects.count() == audits


def test_a_later_recording_retention_is_kept():
    visit = start_visit()
    later = years_after(timezone.localdate(), 5)
    type(visit.consultation).objects.filter(pk=visit.consultation.pk).update(
        recording_retention_until=later
    )

    call_room_close(consultation=visit.refresh())

    assert visit.refresh().recording_retention_until == later


def test_cancelling_before_the_start_never_opens_a_room():
    visit = make_visit("checked_in")

    lifecycle.consultation_cancel(
        actor=actor_for_user(visit.staff), consultation=visit.consultation, reason="患者改期"
    )

    assert not CallSession.objects.exists()


def test_the_room_closes_even_when_the_channel_layer_is_down(settings, caplog):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }
    visit = start_visit()

    with caplog.at_level(logging.ERROR, logger="video.services"):
        lifecycle.consultation_complete(
            actor=actor_for_user(visit.doctor), consultation=visit.consultation
        )

    assert visit.refresh().status == "completed"
    assert CallSession.objects.get().closed_at is not None
    assert [record.message.split(":")[0] for record in caplog.records] == [
        f"could not tell video room {visit.consultation.public_id}"
    ]


# --- call events ---------------------------------------------------------------------------------


def test_leaving_records_the_seconds_since_that_socket_joined():
    visit = start_visit()
    entry = doctor_entry(visit)
    first, second = uuid.uuid4(), uuid.uuid4()
    t0 = timezone.now()

    call_event_record(entry=entry, connection_id=first, kind="joined", now=t0)
    call_event_record(entry=entry, connection_id=first, kind="microphone_off", now=t0)
    call_event_record(
        entry=entry, connection_id=first, kind="left", now=t0 + datetime.timedelta(seconds=95)
    )
    call_event_record(
        entry=entry, connection_id=second, kind="joined", now=t0 + datetime.timedelta(seconds=99)
    )
    call_event_record(
        entry=entry, connection_id=second, kind="left", now=t0 + datetime.timedelta(seconds=400)
    )

    assert list(
        CallEvent.objects.order_by("pk").values_list("kind", "duration_seconds", "role")
    ) == [
        ("joined", None, "doctor"),
        ("microphone_off", None, "doctor"),
        ("left", 95, "doctor"),
        ("reconnected", None, "doctor"),
        ("left", 301, "doctor"),
    ]


# --- chat ----------------------------------------------------------------------------------------


def test_chat_lines_are_kept_three_years_from_the_day_they_were_sent():
    visit = start_visit()
    sent_at = datetime.datetime(2028, 2, 29, 9, 30, tzinfo=datetime.UTC)

    message = chat_message_send(entry=doctor_entry(visit), text="x" * 2000, now=sent_at)

    assert message.retention_until == datetime.date(2031, 2, 28)
    assert len(message.text) == 2000


def test_no_chat_once_the_room_has_closed():
    visit = start_visit()
    entry = doctor_entry(visit)
    lifecycle.consultation_complete(
        actor=actor_for_user(visit.doctor), consultation=visit.consultation
    )

    with pytest.raises(DomainError) as refused:
        chat_message_send(entry=entry, text="还在吗？")

    assert (refused.value.code, refused.value.status_code) == ("video_room_closed", 409)
    assert not ChatMessage.objects.exists()


@pytest.mark.parametrize("text", ["", "字" * 2001])
def test_the_database_refuses_chat_text_out_of_bounds(text):
    visit = start_visit()

    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        ChatMessage.objects.create(
            consultation=visit.consultation,
            side="doctor",
            sender_role="doctor",
            sender_user=visit.doctor,
            text=text,
            sent_at=timezone.now(),
            retention_until=datetime.date(2029, 1, 1),
        )
    assert not ChatMessage.objects.exists()


# --- room tokens ---------------------------------------------------------------------------------


def test_a_token_opens_sockets_until_its_expiry_second_and_not_at_it(settings):
    settings.VIDEO_ROOM_TOKEN_SECONDS = 120
    issued_at = datetime.datetime(2026, 5, 4, 10, 0, 0, tzinfo=datetime.UTC)
    token, expires_at = room_token_sign(
        consultation_id=uuid.uuid4(),
        side="facility",
        role="terminal",
        terminal_id=uuid.uuid4(),
        now=issued_at,
    )

    two_minutes_on = issued_at + datetime.timedelta(seconds=120)
    assert expires_at == two_minutes_on
    last_moment = expires_at - datetime.timedelta(microseconds=1)
    assert room_token_read(token, now=last_moment).expires_at == expires_at
    with pytest.raises(RoomTokenError) as expired:
        room_token_read(token, now=expires_at)
    assert expired.value.code == "token_expired"


def _payload() -> dict[str, object]:
    return {
        "c": str(uuid.uuid4()),
        "s": "doctor",
        "r": "doctor",
        "u": str(uuid.uuid4()),
        "t": None,
        "exp": int(timezone.now().timestamp()) + 60,
    }


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        # The project's key, but signed for another purpose.
        signing.dumps(_payload(), salt="another.purpose"),
        # Signed as a room token, but not carrying one.
        signing.dumps({"c": "not-a-uuid"}, salt=SALT),
    ],
)
def test_malformed_or_foreign_tokens_are_invalid(token):
    with pytest.raises(RoomTokenError) as invalid:
        room_token_read(token)
    assert invalid.value.code == "token_invalid"


def test_a_well_formed_room_token_reads_back():
    payload = _payload()

    grant = room_token_read(signing.dumps(payload, salt=SALT))

    assert (str(grant.consultation_id), str(grant.user_id), grant.terminal_id) == (
        payload["c"],
        payload["u"],
        None,
    )
