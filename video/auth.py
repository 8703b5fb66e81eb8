"""WebSocket authentication for the video room: the room token in the query string.

Browsers cannot set headers on a WebSocket, so the token travels as `?token=`. It lives
`VIDEO_ROOM_TOKEN_SECONDS` (two minutes by default) and only opens a socket, which is what
keeps its appearance in access logs harmless. The middleware verifies the signature and the
expiry and puts the grant (or None) in `scope["video_grant"]`; the consumer decides, against the
database, whether that grant still admits its holder.
"""

from typing import Any
from urllib.parse import parse_qs

from video.tokens import RoomTokenError, room_token_read


class RoomTokenAuthMiddleware:
    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("token") or [""])[0]
        grant, error = None, "token_required"
        if token:
            try:
                grant = room_token_read(token)
            except RoomTokenError as refused:
                error = refused.code
        scope = {**scope, "video_grant": grant, "video_grant_error": None if grant else error}
        return await self.application(scope, receive, send)
