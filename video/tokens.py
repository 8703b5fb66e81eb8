"""Room tokens: short-lived signed grants that open one consultation's video socket.

A token names the consultation, the side and role of the participant, and the participant
(a user's or a terminal's public id). It is signed with the project's secret key
(django.core.signing) and expires `VIDEO_ROOM_TOKEN_SECONDS` after issue. It only opens the
socket: the socket checks again, against the database, that the participant still belongs
in the room and that the room is open.
"""

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils import timezone

SALT = "video.room-token"


class RoomTokenError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class RoomGrant:
    consultation_id: uuid.UUID
    side: str
    role: str
    user_id: uuid.UUID | None
    terminal_id: uuid.UUID | None
    expires_at: datetime.datetime


def room_token_sign(
    *,
    consultation_id: uuid.UUID,
    side: str,
    role: str,
    user_id: uuid.UUID | None = None,
    terminal_id: uuid.UUID | None = None,
    now: datetime.datetime | None = None,
) -> tuple[str, datetime.datetime]:
    """The token and the moment it stops opening sockets (whole seconds)."""
    if (user_id is None) == (terminal_id is None):
        raise ValueError("A room grant names either a user or a terminal.")
    now = now or timezone.now()
    expires = int(now.timestamp()) + settings.VIDEO_ROOM_TOKEN_SECONDS
    payload = {
        "c": str(consultation_id),
        "s": side,
        "r": role,
        "u": str(user_id) if user_id else None,
        "t": str(terminal_id) if terminal_id else None,
        "exp": expires,
    }
    token = signing.dumps(payload, salt=SALT)
    return token, datetime.datetime.fromtimestamp(expires, tz=datetime.UTC)


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def room_token_read(token: str, *, now: datetime.datetime | None = None) -> RoomGrant:
    """The grant a token carries; `RoomTokenError` if it is forged, malformed or expired."""
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature as error:
        raise RoomTokenError("token_invalid") from error
    try:
        grant = RoomGrant(
            consultation_id=uuid.UUID(payload["c"]),
            side=str(payload["s"]),
            role=str(payload["r"]),
            user_id=_uuid_or_none(payload["u"]),
            terminal_id=_uuid_or_none(payload["t"]),
            expires_at=datetime.datetime.fromtimestamp(int(payload["exp"]), tz=datetime.UTC),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise RoomTokenError("token_invalid") from error
    if (now or timezone.now()) >= grant.expires_at:
        raise RoomTokenError("token_expired")
    return grant
