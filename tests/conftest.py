"""Test set-up shared by every test.

Service-backed tests carry `@pytest.mark.postgres` or `@pytest.mark.redis`, real-browser tests
`@pytest.mark.browser` (Debian's `chromium` on PATH). Without the service configured they are
skipped with the reason shown; with TELEHEALTH_REQUIRE_SERVICES=1 (CI) a
missing service fails them instead, so nothing is skipped silently.

`django_db(transaction=True)` tests that write audit rows belong on PostgreSQL: on SQLite the
append-only trigger refuses the DELETE that empties tables after such a test (PostgreSQL empties
them with TRUNCATE, which row triggers do not see).
"""

import os
import shutil
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

REQUIRE_SERVICES = os.environ.get("TELEHEALTH_REQUIRE_SERVICES") == "1"


def _missing_service(item: pytest.Item) -> str | None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://..."
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        return "needs Redis: set REDIS_URL=redis://..."
    if item.get_closest_marker("browser") and shutil.which("chromium") is None:
        return "needs Chromium: apt-get install --no-install-recommends chromium fonts-noto-cjk"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _missing_service(item)
    if reason is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (TELEHEALTH_REQUIRE_SERVICES=1 refuses to skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _tasks_in_process_unless_redis(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests not marked `redis` run Celery tasks in-process, as the embedded default does: what
    they enqueue after a commit (notifications) must not pile up in a shared broker that no
    worker of theirs consumes."""
    if request.node.get_closest_marker("redis"):
        yield
        return
    from telehealth.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _cheap_signing_pin_derivation(settings: object) -> None:
    """Signing keys sealed in tests use a token scrypt cost (each sealed key records its own
    cost); bench/signing_throughput.py measures the production one."""
    settings.SIGNING_PIN_SCRYPT_N = 2**4  # type: ignore[attr-defined]
