"""Tasks on a real Celery worker: PostgreSQL and Redis, a worker process, its own queue.

The worker is `celery -A telehealth worker` on a queue no one else consumes, pointed at the test
database and the test's Redis. It also imports this module (`--include`), which declares two
test-only tasks with `project_task`, so the retry policy is seen working through the broker.

The rows the worker must see are committed (`django_db(transaction=True)`).
"""

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from celery.exceptions import TimeoutError as ResultTimeout
from celery.result import AsyncResult
from django.conf import settings
from django.utils import timezone

from clinics.models import Terminal, TerminalStatus
from clinics.tasks import terminals_mark_stale_offline
from core.tasks import RetryableError, project_task
from telehealth.celery import app
from tests.factories import make_facility, make_terminal
from tests.support.processes import CeleryWorker, service_env, worker_database_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

RESULT_TIMEOUT = 60.0


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@project_task(name="tests.worker.flaky", max_retries=2, backoff_seconds=1)
def flaky_on_worker(counter_key: str, failures: int) -> int:
    """Counts its calls in Redis; fails retryably on the first `failures` of them."""
    attempt = int(_redis().incr(counter_key))
    if attempt <= failures:
        raise RetryableError(f"transient failure {attempt}")
    return attempt


@project_task(name="tests.worker.broken", max_retries=2, backoff_seconds=1)
def broken_on_worker(counter_key: str) -> None:
    _redis().incr(counter_key)
    raise ValueError("a bug, not a transient failure")


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    assert settings.DATABASES["default"]["NAME"].startswith("test_")
    assert app.conf.task_always_eager is False
    started = CeleryWorker(
        queue=f"tests-{uuid.uuid4().hex[:12]}",
        env=service_env(DATABASE_URL=worker_database_url(), REDIS_URL=settings.REDIS_URL),
        log_path=tmp_path_factory.mktemp("celery") / "worker.log",
        include=(__name__,),
    )
    try:
        started.wait_ready(app)
        yield started
    finally:
        started.stop()
        _redis().delete(f"_kombu.binding.{started.queue}")


def _result(result: AsyncResult, worker: CeleryWorker) -> Any:
    """`result.get()`, but fail at once (with the worker's log) if the worker dies."""
    deadline = time.monotonic() + RESULT_TIMEOUT
    while True:
        if worker.process.poll() is not None:
            pytest.fail(f"worker exited with {worker.process.returncode}:\n{worker.log()}")
        try:
            return result.get(timeout=0.5)
        except ResultTimeout:
            if time.monotonic() > deadline:
                pytest.fail(f"no result after {RESULT_TIMEOUT}s:\n{worker.log()}")


@pytest.fixture
def sent() -> Iterator[list[AsyncResult]]:
    """Results to remove from the shared result backend afterwards, passed or failed."""
    results: list[AsyncResult] = []
    yield results
    for result in results:
        result.forget()


@pytest.fixture
def counter_key() -> Iterator[str]:
    key = f"tests:worker:{uuid.uuid4().hex}"
    yield key
    _redis().delete(key)


@pytest.fixture
def terminals() -> dict[str, Terminal]:
    facility = make_facility()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    created: dict[str, Terminal] = {}
    for name, status, heartbeat in [
        ("stale", TerminalStatus.ONLINE, an_hour_ago),
        ("fresh", TerminalStatus.ONLINE, timezone.now()),
        ("maintenance", TerminalStatus.MAINTENANCE, an_hour_ago),
    ]:
        terminal = make_terminal(facility).terminal
        Terminal.objects.filter(pk=terminal.pk).update(status=status, last_heartbeat_at=heartbeat)
        created[name] = terminal
    return created


def test_worker_marks_stale_terminals_offline(
    worker: CeleryWorker, terminals: dict[str, Terminal], sent: list[AsyncResult]
) -> None:
    cutoff = timezone.now() - timedelta(seconds=settings.TERMINAL_OFFLINE_AFTER_SECONDS)
    stale_online = Terminal.objects.filter(
        status=TerminalStatus.ONLINE, last_heartbeat_at__lt=cutoff
    )
    assert list(stale_online.values_list("pk", flat=True)) == [terminals["stale"].pk]

    result = terminals_mark_stale_offline.apply_async(queue=worker.queue)
    sent.append(result)

    assert _result(result, worker) == 1
    assert result.state == "SUCCESS"
    assert f"clinics.terminals_mark_stale_offline[{result.id}] succeeded" in worker.log()
    statuses = dict(
        Terminal.objects.filter(pk__in=[t.pk for t in terminals.values()]).values_list(
            "serial", "status"
        )
    )
    assert statuses == {
        terminals["stale"].serial: TerminalStatus.OFFLINE,
        terminals["fresh"].serial: TerminalStatus.ONLINE,
        terminals["maintenance"].serial: TerminalStatus.MAINTENANCE,
    }


def test_worker_retries_a_retryable_error_then_succeeds(
    worker: CeleryWorker, counter_key: str, sent: list[AsyncResult]
) -> None:
    result = flaky_on_worker.apply_async(args=[counter_key, 1], queue=worker.queue)
    sent.append(result)

    assert _result(result, worker) == 2
    assert result.state == "SUCCESS"
    assert int(_redis().get(counter_key) or 0) == 2
    assert f"tests.worker.flaky[{result.id}] retry: Retry in" in worker.log()


def test_worker_does_not_retry_a_non_retryable_error(
    worker: CeleryWorker, counter_key: str, sent: list[AsyncResult]
) -> None:
    result = broken_on_worker.apply_async(args=[counter_key], queue=worker.queue)
    sent.append(result)

    with pytest.raises(ValueError, match="a bug, not a transient failure"):
        _result(result, worker)

    assert result.state == "FAILURE"
    assert int(_redis().get(counter_key) or 0) == 1
    assert f"tests.worker.broken[{result.id}] retry" not in worker.log()


def test_worker_gives_up_after_max_retries(
    worker: CeleryWorker, counter_key: str, sent: list[AsyncResult]
) -> None:
    result = flaky_on_worker.apply_async(args=[counter_key, 99], queue=worker.queue)
    sent.append(result)

    with pytest.raises(RetryableError, match="transient failure 3"):
        _result(result, worker)

    assert result.state == "FAILURE"
    assert int(_redis().get(counter_key) or 0) == 3  # the first call and max_retries=2 retries
