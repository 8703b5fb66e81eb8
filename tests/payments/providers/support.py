"""Shared by the provider and emulator tests: throwaway keys, the emulators on the live server,
a callback receiver, and a phone that opens payer pages and presses their buttons.

Fixtures are imported into each test package's conftest.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from payments.providers import get_gateway
from payments.providers.base import Notification, NotificationRejected
from payments.providers.keys import ensure_payment_keys
from telehealth.urls import urlpatterns as site_urlpatterns


@dataclass
class Received:
    provider: str
    headers: dict[str, str]
    body: bytes
    notification: Notification | None = None
    rejected: str = ""


@dataclass
class CallbackReceiver:
    """Receives notifications at /test-notify/<provider>/, verifies them with the gateway and
    replies as the gateway says; `fail_next` forces failure replies, `reply_body` replaces
    Alipay's reply text."""

    received: list[Received] = field(default_factory=list)
    fail_next: int = 0
    reply_body: bytes | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.fail_next = 0
            self.reply_body = None

    def handle(self, request: HttpRequest, provider: str) -> HttpResponse:
        gateway = get_gateway(provider)
        headers = dict(request.headers)
        entry = Received(provider=provider, headers=headers, body=request.body)
        try:
            entry.notification = gateway.parse_notification(headers=headers, body=request.body)
        except NotificationRejected as rejection:
            entry.rejected = rejection.code
        with self.lock:
            self.received.append(entry)
            forced_failure = self.fail_next > 0
            self.fail_next = max(0, self.fail_next - 1)
            reply_body = self.reply_body
        reply = gateway.reply(accepted=entry.notification is not None and not forced_failure)
        return HttpResponse(
            reply_body if reply_body is not None else reply.body,
            status=reply.status,
            content_type=reply.content_type,
        )


RECEIVER = CallbackReceiver()


@csrf_exempt
def receive(request: HttpRequest, provider: str) -> HttpResponse:
    return RECEIVER.handle(request, provider)


# The test URL configuration (`pytest.mark.urls("tests.payments.providers.support")`): the site
# plus the receiver.
urlpatterns = [path("test-notify/<str:provider>/", receive), *site_urlpatterns]


@pytest.fixture(scope="session")
def payment_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("payment-keys")
    ensure_payment_keys(directory)
    return directory


@pytest.fixture(autouse=True)
def _payment_keys(settings: Any, payment_keys_dir: Path) -> None:
    settings.PAYMENT_KEYS_DIR = payment_keys_dir
    settings.PAYMENT_KEYS_AUTOCREATE = False


@dataclass(frozen=True)
class Emulators:
    url: str

    def notify_url(self, provider: str) -> str:
        return f"{self.url}/test-notify/{provider}/"


@pytest.fixture
def emulators(live_server: Any, settings: Any) -> Emulators:
    """Both gateways pointed at the emulators on the live server."""
    settings.WECHATPAY_API_BASE_URL = f"{live_server.url}/emulators/wechatpay"
    settings.ALIPAY_GATEWAY_URL = f"{live_server.url}/emulators/alipay/gateway.do"
    return Emulators(url=live_server.url)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    RECEIVER.reset()
    yield RECEIVER
    RECEIVER.reset()


_FORM = re.compile(
    r'<form method="post" action="([^"]+)">\s*'
    r'<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">\s*'
    r'<button class="(\w+)"'
)


class Phone:
    """A phone's browser: follows redirects, keeps cookies, presses the page's buttons."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, follow_redirects=True, timeout=30)
        self.page: httpx.Response | None = None

    def open(self, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        self.page = self.client.get(url, params=params)
        return self.page

    def press(self, button: str) -> httpx.Response:
        """Press "pay" or "cancel" on the current page."""
        assert self.page is not None
        forms = {name: (action, token) for action, token, name in _FORM.findall(self.page.text)}
        action, token = forms[button]
        self.page = self.client.post(action, data={"csrfmiddlewaretoken": token})
        return self.page

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def phone(emulators: Emulators) -> Iterator[Phone]:
    device = Phone(emulators.url)
    yield device
    device.close()
