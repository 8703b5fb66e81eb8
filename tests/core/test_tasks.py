"""The project task decorator: delivery options, and which errors are retried.

Behaviour runs through Celery's eager `apply()`, which executes the real autoretry wrapper: a
retryable error makes `task.retry()` return a Retry carrying the re-signed call, and `apply()`
runs that call at once (the countdown is not waited for) with `retries + 1`, so the call count
and the final state are what a worker would produce, minus the waiting. That chain only runs
with eager propagation off (the project setting; with it on, the first Retry would be raised to
the caller), so the fixture pins it off.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import IntegrityError, InterfaceError, OperationalError
from pytest_django import Settings

from clinics.tasks import terminals_mark_stale_offline
from core.exceptions import DomainError
from core.tasks import RETRYABLE_ERRORS, RetryableError, project_task

calls: Counter[str] = Counter()


@project_task(name="tests.flaky", max_retries=2, backoff_seconds=0)
def flaky(key: str, failures: int) -> int:
    """Raises RetryableError on its first `failures` calls, then returns the call number."""
    calls[key] += 1
    if calls[key] <= failures:
        raise RetryableError(f"transient failure {calls[key]}")
    return calls[key]


@project_task(name="tests.broken", max_retries=2, backoff_seconds=0)
def broken(key: str) -> None:
    calls[key] += 1
    raise ValueError("a bug, not a transient failure")


@project_task(name="tests.refused", max_retries=2, backoff_seconds=0)
def refused(key: str) -> None:
    calls[key] += 1
    raise DomainError("a business rule said no")


@project_task(name="tests.timing", max_retries=3, backoff_seconds=2, backoff_max_seconds=5)
def timing(key: str) -> None:
    calls[key] += 1
    raise RetryableError("always down")


@pytest.fixture(autouse=True)
def _eager_retries(settings: Settings) -> Iterator[None]:
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    calls.clear()
    yield
    calls.clear()


def test_project_task_sets_the_delivery_guarantees() -> None:
    task = terminals_mark_stale_offline

    assert task.name == "clinics.terminals_mark_stale_offline"
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert task.autoretry_for == RETRYABLE_ERRORS
    assert task.max_retries == 8
    assert task.retry_backoff == 2
    assert task.retry_backoff_max == 600
    assert task.retry_jitter is True
    assert task.soft_time_limit == 30
    assert task.time_limit == 60


def test_project_task_passes_its_arguments_through() -> None:
    assert (
        flaky.max_retries,
        flaky.retry_backoff,
        flaky.default_retry_delay,
        flaky.autoretry_for,
    ) == (
        2,
        False,
        0,
        RETRYABLE_ERRORS,
    )
    assert (timing.retry_backoff, timing.retry_backoff_max) == (2, 5)


def test_only_transient_errors_are_retryable() -> None:
    for transient in (RetryableError, ConnectionError, TimeoutError, OperationalError):
        assert issubclass(transient, RETRYABLE_ERRORS), transient
    assert issubclass(InterfaceError, RETRYABLE_ERRORS)
    for permanent in (ValueError, KeyError, IntegrityError, DomainError):
        assert not issubclass(permanent, RETRYABLE_ERRORS), permanent


def test_retryable_error_is_retried_until_it_succeeds() -> None:
    result = flaky.apply(kwargs={"key": "twice", "failures": 2})

    assert result.state == "SUCCESS"
    # `.result`, not `.get()`: Celery's "never join inside a task" flag is process-global and
    # eager calls on many threads at once (the concurrency tests) can leave it set.
    assert result.result == 3
    assert calls["twice"] == 3


def test_retries_stop_at_max_retries_and_the_error_surfaces() -> None:
    result = flaky.apply(kwargs={"key": "always", "failures": 99})

    assert result.state == "FAILURE"
    assert type(result.result) is RetryableError
    assert str(result.result) == "transient failure 3"
    assert calls["always"] == 3  # the first call and max_retries=2 retries


@pytest.mark.parametrize(("task", "error"), [(broken, ValueError), (refused, DomainError)])
def test_non_retryable_error_fails_at_once(task: Any, error: type[Exception]) -> None:
    result = task.apply(kwargs={"key": "once"})

    assert result.state == "FAILURE"
    assert type(result.result) is error
    assert calls["once"] == 1


@pytest.mark.parametrize(
    ("draw", "countdowns"),
    [
        # 2 * 2**n seconds, capped at backoff_max_seconds=5, is the ceiling of each draw...
        (lambda stop: stop - 1, [2, 4, 5, 5]),
        # ...and full jitter draws from [0, ceiling], so an immediate retry is possible too.
        (lambda stop: 0, [0, 0, 0, 0]),
    ],
    ids=["ceiling", "floor"],
)
def test_backoff_doubles_from_backoff_seconds_with_full_jitter_under_the_cap(
    monkeypatch: pytest.MonkeyPatch, draw: Callable[[int], int], countdowns: list[int]
) -> None:
    asked: list[tuple[int, int | None]] = []
    retry = timing.retry

    def recording_retry(*args: Any, **kwargs: Any) -> Any:
        asked.append((timing.request.retries, kwargs.get("countdown")))
        return retry(*args, **kwargs)

    monkeypatch.setattr("celery.utils.time.random.randrange", draw)
    monkeypatch.setattr(timing, "retry", recording_retry)

    result = timing.apply(kwargs={"key": "timing"})

    assert result.state == "FAILURE"
    assert calls["timing"] == 4  # the first call and max_retries=3 retries
    assert asked == list(enumerate(countdowns))
