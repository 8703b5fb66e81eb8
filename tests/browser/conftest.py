"""Real-browser tests: a live ASGI server, Chromium driven by Playwright, signed-in pages.

Mark every test here `@pytest.mark.browser` (without Debian's `chromium` on PATH it is skipped
locally and fails under TELEHEALTH_REQUIRE_SERVICES=1). Fixtures:

- `asgi_server`: uvicorn serving the project (HTTP and WebSocket) on the test database; the
  test is transactional, so write data before or during the test as usual.
- `chromium`: a Chromium with a fake camera and microphone that need no permission prompt.
- `browser_pages`: `browser_pages.open(path, user=..., name=...)` opens a page in a fresh
  browser context, signed in as `user` (a session, as after the login form). Console errors
  and uncaught page errors fail the test; every page's screenshot is saved under
  `test-artifacts/browser/` when the test ends, passed or failed.

Playwright's synchronous API keeps an asyncio event loop marked as running in the test's thread
while the browser is up, and Django refuses ORM calls from such a thread. The test's own ORM
calls are ordinary synchronous code, so `chromium` sets DJANGO_ALLOW_ASYNC_UNSAFE for the
test's duration (the socket tests in tests/video keep the check on for the consumer's code).
"""

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from accounts.models import User
from tests.browser.server import LiveAsgiServer, release_audit_log_for_flush

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


@pytest.fixture
def asgi_server(transactional_db: None, settings: Any) -> Iterator[LiveAsgiServer]:
    # A channel layer of this server's own: the in-memory layer binds to the event loop that
    # first uses it, and every test's server runs a new loop.
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}
    server = LiveAsgiServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        release_audit_log_for_flush()


@pytest.fixture
def chromium(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    if request.node.get_closest_marker("browser") is None:
        pytest.fail("tests that drive Chromium are marked @pytest.mark.browser", pytrace=False)
    executable = shutil.which("chromium")
    assert executable is not None  # the `browser` marker skips or fails without it
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's loop runs, the test's ORM calls get database connections of
            # their own (Django keys them by async context); close them here, in that context.
            connections.close_all()


def sign_in(context: BrowserContext, user: User, *, base_url: str) -> None:
    """Give the browser context a session of `user`, as the login form would."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": base_url}]
    )


@dataclass
class BrowserPages:
    server: LiveAsgiServer
    browser: Browser
    pages: dict[str, Page] = field(default_factory=dict)
    contexts: list[BrowserContext] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def open(self, path: str, *, user: User | None = None, name: str = "page") -> Page:
        """A new browser context (its own cookies), signed in as `user`, at `path`."""
        if name in self.pages:
            raise ValueError(f"a page named {name!r} is already open")
        context = self.browser.new_context(
            base_url=self.server.url, locale="zh-CN", permissions=["camera", "microphone"]
        )
        self.contexts.append(context)
        if user is not None:
            sign_in(context, user, base_url=self.server.url)
        page = context.new_page()

        def on_console(message: ConsoleMessage) -> None:
            # The site's pages link their icon; the provider emulators' payer pages (not the site's)
            # leave Chromium to ask for /favicon.ico, which nobody serves.
            if message.type == "error" and urlsplit(message.location["url"]).path != "/favicon.ico":
                self.console_errors.append(f"{name}: {message.text} {message.location}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.console_errors.append(f"{name}: {error}"))
        self.pages[name] = page
        page.goto(path)
        return page

    def assert_no_console_errors(self) -> None:
        assert self.console_errors == []

    def screenshot_all(self, test_name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for name, page in self.pages.items():
            try:
                page.screenshot(path=ARTIFACTS / f"{test_name}-{name}.png", full_page=True)
            except PlaywrightError as error:  # a crashed page: the test reports the cause
                print(f"no screenshot of {name}: {error}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browser_pages(
    request: pytest.FixtureRequest, asgi_server: LiveAsgiServer, chromium: Browser
) -> Iterator[BrowserPages]:
    pages = BrowserPages(server=asgi_server, browser=chromium)
    try:
        yield pages
    finally:
        pages.screenshot_all(re.sub(r"[^\w.-]+", "_", request.node.name))
        pages.close()
    if pages.console_errors:
        pytest.fail(
            "errors in the browser console:\n" + "\n".join(pages.console_errors), pytrace=False
        )
