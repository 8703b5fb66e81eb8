"""The video room's WebSocket: WebRTC signaling relay, presence, chat and media toggles.

One socket per side (the doctor; the facility's staff or terminal): a newer socket of the same
side replaces the older one, which is told and closed (a reload or a second tab wins). The
doctor makes the offers; whenever the facility side (re)appears the doctor starts a new peer
connection, so a reload or a dropped socket on either side ends in a fresh negotiation.

Messages from the browser: `{"type": "signal", "data": {...}}` (SDP or ICE, relayed to the
other side), `{"type": "chat", "text": "..."}` (stored, then sent to both sides),
`{"type": "media", "kind": "audio"|"video", "enabled": bool}` (recorded, relayed).
To the browser: `welcome` (own connection id and the chat so far), `peer_joined` /
`peer_present` / `peer_left`, `signal`, `chat`, `peer_media`, `error`, and before a close
`replaced` (4409) or `room_closed` (4410). A socket is refused before it is accepted: 4403
when the token does not admit its holder to this room, 4404 when the room is not open.
"""

import json
import logging
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.exceptions import DomainError, NotFoundError, PermissionDeniedError
from video.models import CallEventKind, ChatMessage
from video.selectors import RoomEntry, chat_history, chat_sender_name, room_entry_for_grant
from video.services import (
    call_event_record,
    chat_message_send,
    room_group_name,
)

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_OPEN = 4404
CLOSE_REPLACED = 4409
CLOSE_ROOM_CLOSED = 4410
# An SDP offer is a few kilobytes; nothing a participant sends needs more.
MAX_MESSAGE_CHARS = 64 * 1024

MEDIA_EVENTS = {
    ("audio", True): CallEventKind.MICROPHONE_ON,
    ("audio", False): CallEventKind.MICROPHONE_OFF,
    ("video", True): CallEventKind.CAMERA_ON,
    ("video", False): CallEventKind.CAMERA_OFF,
}


def chat_payload(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": str(message.public_id),
        "side": message.side,
        "role": message.sender_role,
        "name": chat_sender_name(message),
        "text": message.text,
        "sent_at": message.sent_at.isoformat(),
    }


def _history(consultation_id: int) -> list[dict[str, Any]]:
    return [chat_payload(message) for message in chat_history(consultation_id=consultation_id)]


def _send_chat(entry: RoomEntry, text: str) -> dict[str, Any]:
    message = chat_message_send(entry=entry, text=text)
    message = ChatMessage.objects.select_related("sender_user", "sender_terminal__facility").get(
        pk=message.pk
    )
    return chat_payload(message)


class VideoRoomConsumer(AsyncJsonWebsocketConsumer):
    entry: RoomEntry | None = None
    leaving = False

    # --- the socket's life ---------------------------------------------------------------------

    async def connect(self) -> None:
        public_id = self.scope["url_route"]["kwargs"]["consultation_id"]
        self.group = room_group_name(public_id)
        self.connection_id = uuid.uuid4()
        # Join the group before checking the room, so a close that lands in between still
        # reaches this socket (it is handled once connect returns).
        await self.channel_layer.group_add(self.group, self.channel_name)
        try:
            self.entry = await database_sync_to_async(room_entry_for_grant)(
                grant=self.scope.get("video_grant"), consultation_public_id=public_id
            )
        except (PermissionDeniedError, NotFoundError) as refused:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            logger.info(
                "video socket refused for %s: %s (%s)",
                public_id,
                refused.code,
                self.scope.get("video_grant_error") or "-",
            )
            code = CLOSE_NOT_OPEN if isinstance(refused, NotFoundError) else CLOSE_FORBIDDEN
            await self.close(code=code)
            return
        await self.accept()
        event = await database_sync_to_async(call_event_record)(
            entry=self.entry, connection_id=self.connection_id, kind=CallEventKind.JOINED
        )
        history = await database_sync_to_async(_history)(self.entry.consultation_id)
        await self.send_json(
            {
                "type": "welcome",
                **self._me(),
                "rejoined": event.kind == CallEventKind.RECONNECTED,
                "chat": history,
            }
        )
        await self.channel_layer.group_send(
            self.group, {"type": "room.joined", **self._me(), "channel": self.channel_name}
        )

    async def disconnect(self, code: int) -> None:
        if self.entry is None:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await database_sync_to_async(call_event_record)(
            entry=self.entry, connection_id=self.connection_id, kind=CallEventKind.LEFT
        )
        await self.channel_layer.group_send(self.group, {"type": "room.left", **self._me()})

    async def _leave(self, notice: dict[str, Any], code: int) -> None:
        """Tell the browser why, stop taking room messages, close."""
        self.leaving = True
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.send_json(notice)
        await self.close(code=code)

    def _me(self) -> dict[str, Any]:
        assert self.entry is not None
        participant = self.entry.participant
        return {
            "connection": str(self.connection_id),
            "side": participant.side,
            "role": participant.role,
            "name": participant.name,
        }

    def _from_other_side(self, event: dict[str, Any]) -> bool:
        return (
            not self.leaving
            and self.entry is not None
            and event["side"] != self.entry.participant.side
        )

    # --- from the browser ----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.entry is None or self.leaving:
            return
        if text_data is None or len(text_data) > MAX_MESSAGE_CHARS:
            await self._error("message_invalid", "Send JSON text of at most 64 KiB.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error("message_invalid", "Send JSON text.")
            return
        if not isinstance(content, dict):
            await self._error("message_invalid", "Send a JSON object.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        assert self.entry is not None
        kind = content.get("type")
        if kind == "signal" and isinstance(content.get("data"), dict):
            await self.channel_layer.group_send(
                self.group, {"type": "room.signal", **self._me(), "data": content["data"]}
            )
        elif kind == "chat" and isinstance(content.get("text"), str):
            try:
                payload = await database_sync_to_async(_send_chat)(self.entry, content["text"])
            except DomainError as refused:
                await self._error(refused.code, refused.message)
                return
            await self.channel_layer.group_send(
                self.group, {"type": "room.chat", "message": payload}
            )
        elif kind == "media" and (content.get("kind"), content.get("enabled")) in MEDIA_EVENTS:
            await database_sync_to_async(call_event_record)(
                entry=self.entry,
                connection_id=self.connection_id,
                kind=MEDIA_EVENTS[(content["kind"], content["enabled"])],
            )
            await self.channel_layer.group_send(
                self.group,
                {
                    "type": "room.media",
                    **self._me(),
                    "kind": content["kind"],
                    "enabled": content["enabled"],
                },
            )
        else:
            await self._error("message_unknown", "Unknown message.")

    async def _error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    # --- from the room (channel layer) ---------------------------------------------------------

    async def room_joined(self, event: dict[str, Any]) -> None:
        if self.leaving or self.entry is None or event["connection"] == str(self.connection_id):
            return
        if event["side"] == self.entry.participant.side:
            await self._leave({"type": "replaced"}, CLOSE_REPLACED)
            return
        await self.send_json({"type": "peer_joined", **_peer(event)})
        # The newcomer learns who was already here.
        await self.channel_layer.send(event["channel"], {"type": "room.present", **self._me()})

    async def room_present(self, event: dict[str, Any]) -> None:
        if self._from_other_side(event):
            await self.send_json({"type": "peer_present", **_peer(event)})

    async def room_left(self, event: dict[str, Any]) -> None:
        if self._from_other_side(event):
            await self.send_json({"type": "peer_left", **_peer(event)})

    async def room_signal(self, event: dict[str, Any]) -> None:
        if self._from_other_side(event):
            await self.send_json(
                {"type": "signal", "from": event["connection"], "data": event["data"]}
            )

    async def room_media(self, event: dict[str, Any]) -> None:
        if self._from_other_side(event):
            await self.send_json(
                {
                    "type": "peer_media",
                    **_peer(event),
                    "kind": event["kind"],
                    "enabled": event["enabled"],
                }
            )

    async def room_chat(self, event: dict[str, Any]) -> None:
        if not self.leaving and self.entry is not None:
            await self.send_json({"type": "chat", "message": event["message"]})

    async def room_closed(self, event: dict[str, Any]) -> None:
        if not self.leaving and self.entry is not None:
            await self._leave({"type": "room_closed"}, CLOSE_ROOM_CLOSED)


def _peer(event: dict[str, Any]) -> dict[str, Any]:
    return {key: event[key] for key in ("connection", "side", "role", "name")}
