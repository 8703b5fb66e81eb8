"""Who may be in a consultation's video room, and reads of the room.

`call_participant` is the one access rule, used when a token is issued and again when the
socket opens: the consultation's doctor on one side; on the other, the staff of the facility
where the patient is checked in, or that facility's terminal (the terminal the patient was
checked in at, when one was recorded). Everyone else is told "not found".
"""

import uuid
from dataclasses import dataclass

from accounts.models import Role, User
from clinics.models import Terminal
from consultations.models import Consultation, ConsultationStatus
from consultations.selectors.consultations import consultations_visible_to
from core.actors import TERMINAL_ROLE, Actor, actor_for_user
from core.exceptions import NotFoundError, PermissionDeniedError
from video.models import CallSession, CallSide, ChatMessage
from video.tokens import RoomGrant

CHAT_HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Participant:
    """A user (doctor or staff) or a terminal in a room; `public_id` is the user's or the
    terminal's."""

    side: str
    role: str
    name: str
    public_id: uuid.UUID
    user_id: int | None = None
    terminal_id: int | None = None


@dataclass(frozen=True)
class RoomEntry:
    """A participant admitted to a room: what the socket acts as for its whole life."""

    actor: Actor
    participant: Participant
    consultation_id: int
    consultation_public_id: uuid.UUID


def _terminal_name(terminal: Terminal) -> str:
    return f"{terminal.facility.name} {terminal.serial}"


def call_participant(*, actor: Actor, consultation: Consultation) -> Participant | None:
    """The actor's place in the consultation's room, or None if they have none."""
    if actor.has_role(Role.DOCTOR) and actor.user is not None:
        if consultation.doctor is not None and consultation.doctor.user_id == actor.user.pk:
            return Participant(
                side=CallSide.DOCTOR,
                role=Role.DOCTOR,
                name=actor.user.full_name or actor.user.username,
                public_id=actor.user.public_id,
                user_id=actor.user.pk,
            )
        return None
    if actor.facility_id is None or actor.facility_id != consultation.facility_id:
        return None
    if actor.has_role(Role.CLINIC_STAFF) and actor.user is not None:
        return Participant(
            side=CallSide.FACILITY,
            role=Role.CLINIC_STAFF,
            name=actor.user.full_name or actor.user.username,
            public_id=actor.user.public_id,
            user_id=actor.user.pk,
        )
    if actor.has_role(TERMINAL_ROLE) and actor.terminal_id is not None:
        checked_in_at = consultation.checked_in_terminal_id
        if checked_in_at is not None and checked_in_at != actor.terminal_id:
            return None
        terminal = Terminal.objects.select_related("facility").get(pk=actor.terminal_id)
        return Participant(
            side=CallSide.FACILITY,
            role=TERMINAL_ROLE,
            name=_terminal_name(terminal),
            public_id=terminal.public_id,
            terminal_id=terminal.pk,
        )
    return None


def call_room_get_for_actor(
    *, actor: Actor, public_id: uuid.UUID | str
) -> tuple[Consultation, Participant]:
    """The consultation and the actor's place in its room; "not found" for anyone without one,
    whether or not they may otherwise see the consultation."""
    consultation = consultations_visible_to(actor=actor).filter(public_id=public_id).first()
    participant = call_participant(actor=actor, consultation=consultation) if consultation else None
    if consultation is None or participant is None:
        raise NotFoundError("Consultation not found.")
    return consultation, participant


def _actor_for_grant(grant: RoomGrant) -> Actor | None:
    """Who the grant names, if they still may act: an active user, or a terminal whose
    credential stands and whose facility is active."""
    if grant.user_id is not None:
        user = User.objects.filter(public_id=grant.user_id, is_active=True).first()
        return actor_for_user(user) if user is not None else None
    if grant.terminal_id is None:
        return None
    terminal = (
        Terminal.objects.select_related("facility")
        .filter(
            public_id=grant.terminal_id,
            credential_revoked_at__isnull=True,
            facility__is_active=True,
        )
        .first()
    )
    if terminal is None:
        return None
    return Actor(role=TERMINAL_ROLE, terminal_id=terminal.pk, facility_id=terminal.facility_id)


def room_entry_for_grant(
    *, grant: RoomGrant | None, consultation_public_id: uuid.UUID | str
) -> RoomEntry:
    """Admit a socket: `PermissionDeniedError` when the grant does not let its holder into this
    room (checked first, so outsiders learn nothing about the room), `NotFoundError` when the
    room is not open."""
    if grant is None:
        raise PermissionDeniedError("A room token is required.", code="token_required")
    if str(grant.consultation_id) != str(consultation_public_id):
        raise PermissionDeniedError("The token is for another room.", code="token_wrong_room")
    consultation = (
        Consultation.objects.select_related("doctor")
        .filter(public_id=consultation_public_id)
        .first()
    )
    actor = _actor_for_grant(grant)
    participant = (
        call_participant(actor=actor, consultation=consultation)
        if consultation is not None and actor is not None
        else None
    )
    if (
        consultation is None
        or actor is None
        or participant is None
        or (participant.side, participant.role) != (grant.side, grant.role)
    ):
        raise PermissionDeniedError("Not a participant of this room.", code="not_a_participant")
    if consultation.status != ConsultationStatus.IN_PROGRESS or not call_room_is_open(
        consultation_id=consultation.pk
    ):
        raise NotFoundError("The video room is not open.", code="video_room_not_open")
    return RoomEntry(
        actor=actor,
        participant=participant,
        consultation_id=consultation.pk,
        consultation_public_id=consultation.public_id,
    )


def call_room_is_open(*, consultation_id: int) -> bool:
    return CallSession.objects.filter(
        consultation_id=consultation_id, closed_at__isnull=True
    ).exists()


def chat_history(*, consultation_id: int, limit: int = CHAT_HISTORY_LIMIT) -> list[ChatMessage]:
    """The latest `limit` chat lines of the consultation, oldest first."""
    latest = (
        ChatMessage.objects.filter(consultation_id=consultation_id)
        .select_related("sender_user", "sender_terminal__facility")
        .order_by("-sent_at", "-pk")[:limit]
    )
    return list(reversed(latest))


def chat_sender_name(message: ChatMessage) -> str:
    if message.sender_user is not None:
        return message.sender_user.full_name or message.sender_user.username
    assert message.sender_terminal is not None
    return _terminal_name(message.sender_terminal)
