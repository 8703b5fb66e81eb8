"""Video API: the room token a participant's browser or terminal opens the room's socket with."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_from_request
from video.api.serializers import VideoTokenSerializer
from video.routing import room_socket_path
from video.services import video_token_issue


def _socket_url(request: Request, public_id: str) -> str:
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}{room_socket_path(public_id)}"


class VideoTokenView(APIView):
    """A short-lived token for the consultation's video room: for its doctor, and for the staff
    or the terminal of the facility where the patient is checked in, while the consultation is
    in progress (409 `video_room_not_open` otherwise). Anyone else: 404."""

    @extend_schema(request=None, responses={200: VideoTokenSerializer})
    def post(self, request: Request, public_id: str) -> Response:
        issued = video_token_issue(
            actor=actor_from_request(request), consultation_public_id=public_id
        )
        data = {
            "token": issued.token,
            "expires_at": issued.expires_at,
            "ws_url": _socket_url(request, str(issued.consultation.public_id)),
            "side": issued.participant.side,
            "role": issued.participant.role,
            "ice_servers": issued.ice_servers,
        }
        return Response(VideoTokenSerializer(data).data)
