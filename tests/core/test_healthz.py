"""GET /healthz: 200 when every required part is up, 503 naming the part that is down.

Failures are real, not mocked: a throwaway `redis-server` that the test kills, a broker with no
worker behind it, a port nothing listens on, a real Celery worker for the "up" case. None of
these tests needs the shared services, so they run in every mode.
"""

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from pytest_django import Settings

from telehealth.celery import app
from tests.support.celery_broker import forget_broker_connections
from tests.support.processes import (
    CeleryWorker,
    RedisServer,
    free_port,
    redis_server,
    service_env,
)

pytestmark = pytest.mark.django_db

HEALTHZ = "/healthz"
NO_STORE = "max-age=0, no-cache, no-store, must-revalidate, private"


def _database_up() -> dict[str, str]:
    return {"status": "up", "vendor": connection.vendor}


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs the redis-server binary on PATH to start a throwaway Redis")
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def point_celery_at(settings: Settings) -> Iterator[Callable[[str], None]]:
    """Point the project's Celery app at another broker for one test, then put it back.

    `app.conf` reads the CELERY_* Django settings live, so overriding the setting moves
    `app.conf.broker_url`; the cached broker connections are forgotten on the way in and out
    (tests/support/celery_broker.py says why).
    """
    pointed = False

    def point_at(url: str) -> None:
        nonlocal pointed
        settings.CELERY_TASK_ALWAYS_EAGER = False
        settings.CELERY_BROKER_URL = url
        forget_broker_connections()
        assert app.conf.broker_url == url
        pointed = True

    yield point_at
    if pointed:
        forget_broker_connections()


def _get_healthz(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get(HEALTHZ)
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def test_embedded_default_is_ok_without_redis_or_worker(client: Client, settings: Settings) -> None:
    settings.REDIS_URL = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.HEALTHZ_REQUIRE_WORKER = True

    response = client.get(HEALTHZ)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": _database_up(),
            "redis": {"status": "not_configured"},
            "celery_worker": {"status": "in_process"},
        },
    }
    assert response["Cache-Control"] == NO_STORE


def test_healthz_answers_get_only(client: Client) -> None:
    response = client.post(HEALTHZ)

    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_redis_up_then_killed_turns_healthz_unavailable(
    client: Client, settings: Settings, throwaway_redis: RedisServer
) -> None:
    settings.REDIS_URL = throwaway_redis.url
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.HEALTHZ_REQUIRE_WORKER = False

    status, body = _get_healthz(client)
    assert (status, body) == (
        200,
        {
            "status": "ok",
            "checks": {
                "database": _database_up(),
                "redis": {"status": "up"},
                "celery_worker": {"status": "in_process"},
            },
        },
    )

    throwaway_redis.kill()
    status, body = _get_healthz(client)

    assert status == 503
    assert body == {
        "status": "unavailable",
        "checks": {
            "database": _database_up(),
            "redis": {"status": "down", "error": "ConnectionError"},
            "celery_worker": {"status": "in_process"},
        },
    }


def test_required_worker_missing_is_unavailable(
    client: Client,
    settings: Settings,
    throwaway_redis: RedisServer,
    point_celery_at: Callable[[str], None],
) -> None:
    # A private broker, so a worker someone runs against the shared Redis cannot answer.
    settings.REDIS_URL = throwaway_redis.url
    settings.HEALTHZ_REQUIRE_WORKER = True
    point_celery_at(throwaway_redis.url)

    status, body = _get_healthz(client)

    assert status == 503
    assert body == {
        "status": "unavailable",
        "checks": {
            "database": _database_up(),
            "redis": {"status": "up"},
            "celery_worker": {"status": "down", "workers": 0},
        },
    }


def test_missing_worker_is_reported_but_tolerated_when_not_required(
    client: Client,
    settings: Settings,
    throwaway_redis: RedisServer,
    point_celery_at: Callable[[str], None],
) -> None:
    settings.REDIS_URL = throwaway_redis.url
    settings.HEALTHZ_REQUIRE_WORKER = False
    point_celery_at(throwaway_redis.url)

    status, body = _get_healthz(client)

    assert status == 200
    assert body["status"] == "ok"
    assert body["checks"]["celery_worker"] == {"status": "down", "workers": 0}


def test_unreachable_broker_counts_as_worker_down(
    client: Client, settings: Settings, point_celery_at: Callable[[str], None]
) -> None:
    settings.REDIS_URL = ""
    settings.HEALTHZ_REQUIRE_WORKER = True
    point_celery_at(f"redis://127.0.0.1:{free_port()}/0")

    status, body = _get_healthz(client)

    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["celery_worker"] == {"status": "down", "error": "OperationalError"}
    assert body["checks"]["database"] == _database_up()


def test_running_worker_is_up(
    client: Client,
    settings: Settings,
    throwaway_redis: RedisServer,
    point_celery_at: Callable[[str], None],
    tmp_path: Path,
) -> None:
    settings.REDIS_URL = throwaway_redis.url
    settings.HEALTHZ_REQUIRE_WORKER = True
    point_celery_at(throwaway_redis.url)
    worker = CeleryWorker(
        queue="healthz-probe",
        env=service_env(
            REDIS_URL=throwaway_redis.url,
            CELERY_BROKER_URL=throwaway_redis.url,
            CELERY_RESULT_BACKEND=throwaway_redis.url,
        ),
        log_path=tmp_path / "worker.log",
    )
    try:
        worker.wait_ready(app)

        status, body = _get_healthz(client)
    finally:
        worker.stop()

    assert (status, body) == (
        200,
        {
            "status": "ok",
            "checks": {
                "database": _database_up(),
                "redis": {"status": "up"},
                "celery_worker": {"status": "up", "workers": 1},
            },
        },
    ), worker.log()


HEALTHZ_IN_A_FRESH_PROCESS = """
import json
import django
from django.test import Client
django.setup()
response = Client().get("/healthz", HTTP_HOST="localhost")
print(json.dumps({"status_code": response.status_code, "body": response.json()}))
"""


def test_database_down_is_unavailable() -> None:
    # A fresh process whose DATABASE_URL names a port nothing listens on: a real refused connection.
    env = service_env(
        DJANGO_SETTINGS_MODULE="telehealth.settings.base",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/telehealth",
        REDIS_URL=None,
        CELERY_BROKER_URL=None,
        CELERY_RESULT_BACKEND=None,
        CELERY_TASK_ALWAYS_EAGER=None,
        DJANGO_ALLOWED_HOSTS=None,
    )

    result = subprocess.run(
        [sys.executable, "-c", HEALTHZ_IN_A_FRESH_PROCESS],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "status_code": 503,
        "body": {
            "status": "unavailable",
            "checks": {
                "database": {"status": "down", "vendor": "postgresql", "error": "OperationalError"},
                "redis": {"status": "not_configured"},
                "celery_worker": {"status": "in_process"},
            },
        },
    }
