"""The project's one task decorator, and the errors worth retrying.

Every task is declared with `@project_task(...)`: late acknowledgement (a task whose worker dies
is redelivered, so tasks must be safe to run twice), retries only for retryable errors with
exponential backoff and jitter, and soft/hard time limits.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from celery import shared_task
from django.db import InterfaceError, OperationalError

F = TypeVar("F", bound=Callable[..., Any])


class RetryableError(Exception):
    """A transient failure (provider timeout, 5xx, dropped connection): try again later."""


RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (
    RetryableError,
    ConnectionError,
    TimeoutError,
    OperationalError,
    InterfaceError,
)


def project_task(
    *,
    name: str,
    max_retries: int = 8,
    backoff_seconds: int = 2,
    backoff_max_seconds: int = 600,
    soft_time_limit: int = 30,
    time_limit: int = 60,
    retry_for: tuple[type[BaseException], ...] = RETRYABLE_ERRORS,
    **options: Any,
) -> Callable[[F], Any]:
    """Declare a Celery task with the project's delivery guarantees.

    Non-retryable exceptions fail the task at once (they are bugs or refusals, and retrying would
    repeat them); retryable ones are retried up to `max_retries` times, waiting
    `backoff_seconds * 2**n` capped at `backoff_max_seconds`, with full jitter.
    `backoff_seconds=0` retries at once (Celery would otherwise read 0 as "use the default
    delay" of three minutes).
    """

    def decorator(fn: F) -> Any:
        return shared_task(
            name=name,
            autoretry_for=retry_for,
            max_retries=max_retries,
            retry_backoff=backoff_seconds or False,
            default_retry_delay=backoff_seconds,
            retry_backoff_max=backoff_max_seconds,
            retry_jitter=True,
            acks_late=True,
            reject_on_worker_lost=True,
            soft_time_limit=soft_time_limit,
            time_limit=time_limit,
            **options,
        )(fn)

    return decorator


@project_task(name="core.retention_scan", soft_time_limit=600, time_limit=660)
def retention_scan_task() -> dict[str, int]:
    """Periodic (beat, daily): flag records past their retention date; nothing is deleted."""
    from core.retention import retention_scan

    return retention_scan()
