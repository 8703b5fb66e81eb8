"""WebSocket routes of the video room."""

import uuid

from django.urls import re_path

from core.api import UUID_PATTERN
from video.consumers import VideoRoomConsumer

websocket_urlpatterns = [
    re_path(
        rf"^ws/consultations/(?P<consultation_id>{UUID_PATTERN})/video/$",
        VideoRoomConsumer.as_asgi(),
    ),
]


def room_socket_path(consultation_public_id: uuid.UUID | str) -> str:
    return f"/ws/consultations/{consultation_public_id}/video/"
