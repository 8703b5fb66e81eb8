"""ASGI entry point (uvicorn in `make run`, in docker-compose and in tests).

HTTP goes to Django; WebSockets (the video room's signaling) go through the origin check, the
room-token authentication and the WebSocket routes.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings.base")

# Set Django up before importing anything that touches models.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from video.auth import RoomTokenAuthMiddleware  # noqa: E402
from video.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(
            RoomTokenAuthMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)
