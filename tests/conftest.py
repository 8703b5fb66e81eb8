"""Test set-up shared by every test.

Service-backed tests carry `@pytest.mark.postgres` or `@pytest.mark.redis`. Without the service
configured they are skipped with the reason shown; with TELEHEALTH_REQUIRE_SERVICES=1 (CI) a
missing service fails them instead, so nothing is skipped silently.

`django_db(transaction=True)` tests that write audit rows belong on PostgreSQL: on SQLite the
append-only trigger refuses the DELETE that empties tables after such a test (PostgreSQL empties
them with TRUNCATE, which row triggers do not see).
"""

import os

import pytest
from django.conf import settings
from django.db import connection

REQUIRE_SERVICES = os.environ.get("TELEHEALTH_REQUIRE_SERVICES") == "1"


def _missing_service(item: pytest.Item) -> str | None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://..."
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        return "needs Redis: set REDIS_URL=redis://..."
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _missing_service(item)
    if reason is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (TELEHEALTH_REQUIRE_SERVICES=1 refuses to skip)", pytrace=False)
    pytest.skip(reason)
