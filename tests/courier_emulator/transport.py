"""An httpx transport that hands requests to Django's test client: the platform's courier client,
the courier emulator and the platform's callback view all run in-process, inside the test's
transaction, each through its real HTTP handling (URLs, headers, raw bodies, status codes)."""

import httpx
from django.test import Client

# Headers the test client sets itself from its arguments.
_OWN_HEADERS = {"host", "content-length", "content-type"}


class InProcessTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.client = Client()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.client.generic(
            request.method,
            request.url.raw_path.decode(),
            data=request.read(),
            content_type=request.headers.get("content-type", ""),
            headers={
                name: value
                for name, value in request.headers.items()
                if name.lower() not in _OWN_HEADERS
            },
        )
        return httpx.Response(
            response.status_code, headers=dict(response.items()), content=response.content
        )
