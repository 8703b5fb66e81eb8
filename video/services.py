"""Writes of the video room: opening and closing it, room tokens, call events, chat.

The room opens when the doctor starts the consultation and closes when it completes or is
terminated (both called by the consultation lifecycle after its transaction commits). Closing
tells every connected socket through the channel layer, which then disconnects them.
"""

import datetime
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from consultations.models import RECORDING_RETENTION_YEARS, Consultation, ConsultationStatus
from core.actors import SYSTEM_ACTOR, Actor
from core.dates import years_after
from core.exceptions import ConflictError, DomainError
from core.models import AuditAction
from core.services import audit_record
from video.ice import ice_servers_for
from video.models import (
    CHAT_MAX_CHARS,
    CHAT_RETENTION_YEARS,
    CallEvent,
    CallEventKind,
    CallSession,
    ChatMessage,
)
from video.selectors import Participant, RoomEntry, call_room_get_for_actor
from video.tokens import room_token_sign

logger = logging.getLogger(__name__)

CONSULTATION_AUDIT_TYPE = "consultation"
CHAT_AUDIT_TYPE = "chat_message"


def room_group_name(consultation_public_id: uuid.UUID | str) -> str:
    """The channel-layer group of one room's sockets."""
    return f"video.{uuid.UUID(str(consultation_public_id)).hex}"


def _tell_room(consultation_public_id: uuid.UUID, message: dict[str, Any]) -> None:
    """Send to every socket of the room. The database already holds the truth (a closed room
    admits nobody and stores nothing), so a channel layer that is down is logged, not raised
    into the consultation's own request."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(room_group_name(consultation_public_id), message)
    except Exception:
        logger.exception("could not tell video room %s: %s", consultation_public_id, message)


def _open_locked(consultation: Consultation, now: datetime.datetime) -> CallSession:
    session, _ = CallSession.objects.get_or_create(
        consultation=consultation, defaults={"opened_at": now}
    )
    return session


def call_room_open(
    *, consultation: Consultation, now: datetime.datetime | None = None
) -> CallSession | None:
    """Open the room of a consultation in progress (again: no change). None if the
    consultation is not in progress any more."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        locked = Consultation.objects.select_for_update().get(pk=consultation.pk)
        if locked.status != ConsultationStatus.IN_PROGRESS:
            return None
        return _open_locked(locked, now)


def call_room_close(
    *,
    consultation: Consultation,
    actor: Actor = SYSTEM_ACTOR,
    now: datetime.datetime | None = None,
) -> CallSession | None:
    """Close the room, date the recording references' 3-year retention from today, and tell
    the connected sockets, which disconnect. None if the consultation never had a room."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        locked = Consultation.objects.select_for_update().get(pk=consultation.pk)
        session = CallSession.objects.select_for_update().filter(consultation=locked).first()
        if session is None or session.closed_at is not None:
            return session
        session.closed_at = now
        session.save(update_fields=["closed_at"])
        retention = years_after(timezone.localdate(now), RECORDING_RETENTION_YEARS)
        if locked.recording_retention_until is None or locked.recording_retention_until < retention:
            locked.recording_retention_until = retention
            locked.save(update_fields=["recording_retention_until", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=CONSULTATION_AUDIT_TYPE,
            object_ids=[locked.public_id],
            detail={"record": "video_room_closed"},
        )
    _tell_room(locked.public_id, {"type": "room.closed"})
    return session


@dataclass(frozen=True)
class IssuedRoomToken:
    token: str
    expires_at: datetime.datetime
    ice_servers: list[dict[str, Any]]
    consultation: Consultation
    participant: Participant


def video_token_issue(
    *, actor: Actor, consultation_public_id: uuid.UUID | str, now: datetime.datetime | None = None
) -> IssuedRoomToken:
    """A room token for the consultation's doctor or its facility's side, while the
    consultation is in progress. Opens the room if the start's own call did not get to."""
    now = now or timezone.now()
    consultation, participant = call_room_get_for_actor(
        actor=actor, public_id=consultation_public_id
    )
    with transaction.atomic(durable=True):
        locked = Consultation.objects.select_for_update().get(pk=consultation.pk)
        if locked.status != ConsultationStatus.IN_PROGRESS:
            raise ConflictError(
                "The video room opens when the doctor starts the consultation.",
                code="video_room_not_open",
                extra={"status": locked.status},
            )
        _open_locked(locked, now)
        audit_record(
            actor=actor,
            action=AuditAction.READ,
            object_type=CONSULTATION_AUDIT_TYPE,
            object_ids=[locked.public_id],
            detail={"via": "video_token"},
        )
    token, expires_at = room_token_sign(
        consultation_id=locked.public_id,
        side=participant.side,
        role=participant.role,
        user_id=participant.public_id if participant.user_id is not None else None,
        terminal_id=participant.public_id if participant.terminal_id is not None else None,
        now=now,
    )
    return IssuedRoomToken(
        token=token,
        expires_at=expires_at,
        ice_servers=ice_servers_for(participant_key=participant.public_id.hex, now=now),
        consultation=locked,
        participant=participant,
    )


def _participant_fields(participant: Participant) -> dict[str, Any]:
    return {
        "side": participant.side,
        "role": participant.role,
        "user_id": participant.user_id,
        "terminal_id": participant.terminal_id,
    }


def call_event_record(
    *,
    entry: RoomEntry,
    connection_id: uuid.UUID,
    kind: str,
    now: datetime.datetime | None = None,
) -> CallEvent:
    """Record what one socket did. A join by someone already seen in this room is recorded as
    `reconnected`; a leave carries the seconds since that socket joined."""
    now = now or timezone.now()
    participant = entry.participant
    with transaction.atomic(durable=True):
        session = CallSession.objects.select_for_update().get(consultation_id=entry.consultation_id)
        duration = None
        if kind == CallEventKind.JOINED:
            same_participant = (
                {"user_id": participant.user_id}
                if participant.user_id is not None
                else {"terminal_id": participant.terminal_id}
            )
            seen_before = CallEvent.objects.filter(
                session=session,
                kind__in=[CallEventKind.JOINED, CallEventKind.RECONNECTED],
                **same_participant,
            ).exists()
            if seen_before:
                kind = CallEventKind.RECONNECTED
        elif kind == CallEventKind.LEFT:
            joined = (
                CallEvent.objects.filter(
                    session=session,
                    connection_id=connection_id,
                    kind__in=[CallEventKind.JOINED, CallEventKind.RECONNECTED],
                )
                .values_list("occurred_at", flat=True)
                .first()
            )
            if joined is not None:
                duration = max(int((now - joined).total_seconds()), 0)
        return CallEvent.objects.create(
            session=session,
            kind=kind,
            connection_id=connection_id,
            occurred_at=now,
            duration_seconds=duration,
            **_participant_fields(participant),
        )


def chat_message_send(
    *, entry: RoomEntry, text: str, now: datetime.datetime | None = None
) -> ChatMessage:
    """Store a chat line while the room is open; it is kept 3 years."""
    now = now or timezone.now()
    text = text.strip()
    if not text:
        raise DomainError(
            "Write a message.", code="chat_text_required", fields={"text": ["Required."]}
        )
    if len(text) > CHAT_MAX_CHARS:
        raise DomainError(
            f"A message has at most {CHAT_MAX_CHARS} characters.",
            code="chat_text_too_long",
            fields={"text": [f"At most {CHAT_MAX_CHARS} characters."]},
        )
    participant = entry.participant
    with transaction.atomic(durable=True):
        session = (
            CallSession.objects.select_for_update()
            .filter(consultation_id=entry.consultation_id)
            .first()
        )
        if session is None or not session.is_open:
            raise ConflictError("The video room is closed.", code="video_room_closed")
        message = ChatMessage.objects.create(
            consultation_id=entry.consultation_id,
            side=participant.side,
            sender_role=participant.role,
            sender_user_id=participant.user_id,
            sender_terminal_id=participant.terminal_id,
            text=text,
            sent_at=now,
            retention_until=years_after(timezone.localdate(now), CHAT_RETENTION_YEARS),
        )
        audit_record(
            actor=entry.actor,
            action=AuditAction.CREATE,
            object_type=CHAT_AUDIT_TYPE,
            object_ids=[message.public_id],
            detail={"consultation": str(entry.consultation_public_id)},
        )
    return message
