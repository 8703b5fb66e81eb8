"""Consultations with an open video room, room tokens and room sockets for the video tests."""

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from asgiref.testing import ApplicationCommunicator

from accounts.models import User
from clinics.models import Terminal
from consultations.models import ClinicalNote, ConsultationDiagnosis
from consultations.services import lifecycle
from core.actors import TERMINAL_ROLE, Actor, actor_for_user
from telehealth.asgi import application
from tests.consultations.builders import Visit, icd10, make_visit
from video.services import video_token_issue

ORIGIN = b"http://127.0.0.1"


def start_visit(**kwargs: object) -> Visit:
    """A checked-in consultation started by its doctor through the lifecycle service (which
    opens the room), with the note and diagnosis that completing it needs."""
    visit = make_visit("checked_in", **kwargs)  # type: ignore[arg-type]
    lifecycle.consultation_start(
        actor=actor_for_user(visit.doctor), consultation=visit.consultation
    )
    ClinicalNote.objects.create(
        consultation=visit.consultation, assessment="血压控制尚可", author=visit.doctor
    )
    ConsultationDiagnosis.objects.create(
        consultation=visit.consultation, code=icd10(), is_primary=True, recorded_by=visit.doctor
    )
    visit.refresh()
    return visit


def terminal_actor(terminal: Terminal) -> Actor:
    return Actor(role=TERMINAL_ROLE, terminal_id=terminal.pk, facility_id=terminal.facility_id)


def token_for(visit: Visit, who: User | Terminal) -> str:
    actor = terminal_actor(who) if isinstance(who, Terminal) else actor_for_user(who)
    return video_token_issue(actor=actor, consultation_public_id=visit.consultation.public_id).token


class RoomSocket(ApplicationCommunicator):
    """A WebSocket client speaking ASGI to the application, as channels' WebsocketCommunicator
    does (that one lives in `channels.testing`, whose package imports daphne, not installed)."""

    def __init__(self, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        url = urlsplit(path)
        scope = {
            "type": "websocket",
            "path": url.path,
            "query_string": url.query.encode(),
            "headers": headers,
            "subprotocols": [],
        }
        super().__init__(application, scope)

    async def connect(self, timeout: float = 1) -> tuple[bool, int | None]:
        """(True, None) when accepted; (False, close code) when refused."""
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept"
        return True, None

    async def send_to(self, *, text_data: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text_data})

    async def send_json_to(self, data: Any) -> None:
        await self.send_to(text_data=json.dumps(data))

    async def receive_json_from(self, timeout: float = 1) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


def room_socket(
    consultation_public_id: uuid.UUID, token: str | None, *, origin: bytes = ORIGIN
) -> RoomSocket:
    """A WebSocket to the room through the whole ASGI stack (origin check, token middleware,
    routing)."""
    query = "" if token is None else f"?token={token}"
    return RoomSocket(
        f"/ws/consultations/{consultation_public_id}/video/{query}",
        headers=[(b"origin", origin), (b"host", b"127.0.0.1")],
    )
