"""The transactional outbox's moving parts, shared by every outbox table.

An outbox row is written by the service that causes it, in that service's transaction. After the
commit a task is published per row (`enqueue_after_commit`); if the broker is down the publish
fails fast, is logged, and the row simply stays due. A periodic sweep (`due_ids` + `enqueue_now`)
publishes rows left behind, and rows whose sender vanished mid-send once their lease expires.

A task sends a row only after claiming it (`claim`): one conditional UPDATE moves the row from a
ready status (due now) — or from the in-flight status with an expired lease — to in-flight with a
new lease. Two deliveries of the same task therefore send at most once while the lease holds; a
worker killed mid-send leaves the row in flight, and the sweep hands it to another worker when
the lease runs out (the sender passes the row's id as the provider's idempotency key, so a send
the provider had already accepted is not repeated).

Rows need the fields `status`, `attempts`, `next_attempt_at` and `lease_expires_at`.
"""

import datetime
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import models, transaction
from django.db.models import F, Q
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxStates:
    """Which statuses a claim may start from (`ready`) and the one it moves to (`in_flight`)."""

    ready: tuple[str, ...]
    in_flight: str


def claimable(states: OutboxStates, *, now: datetime.datetime) -> Q:
    return Q(status__in=states.ready, next_attempt_at__lte=now) | Q(
        status=states.in_flight, lease_expires_at__lt=now
    )


def claim(
    model: type[models.Model],
    *,
    pk: int,
    states: OutboxStates,
    now: datetime.datetime,
    lease: datetime.timedelta,
) -> bool:
    """Take the row for sending if it is due (or its previous sender's lease expired).

    One UPDATE with the conditions in its WHERE clause: of any number of concurrent callers,
    exactly one sees a row updated. The attempt is counted here, so a sender killed before it
    records anything still used up an attempt.
    """
    updated = model._default_manager.filter(claimable(states, now=now), pk=pk).update(
        status=states.in_flight, lease_expires_at=now + lease, attempts=F("attempts") + 1
    )
    return updated == 1


def due_ids(
    model: type[models.Model],
    *,
    states: OutboxStates,
    now: datetime.datetime,
    grace: datetime.timedelta,
    limit: int,
) -> list[int]:
    """Rows the sweep should publish: ready and due for longer than `grace` (their own task had
    its chance), or in flight with an expired lease. Oldest first."""
    condition = Q(status__in=states.ready, next_attempt_at__lte=now - grace) | Q(
        status=states.in_flight, lease_expires_at__lt=now
    )
    return list(
        model._default_manager.filter(condition)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def backoff_seconds(*, attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: half of `base * 2**(attempt-1)` (capped) plus a random
    share of the other half, so retries spread out but never come back at once."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


def enqueue_now(
    task: Any, ids: Iterable[int], *, queue: str, countdown: float | None = None
) -> int:
    """Publish one task per id; returns how many were published.

    A broker that cannot be reached is logged, not raised: the rows stay due and the sweep
    publishes them later. The connection check does not retry, so a request that caused the
    rows is not held up by a broker that is down.
    """
    ids = list(ids)
    if not ids:
        return 0
    if task.app.conf.task_always_eager:
        for pk in ids:
            task.apply_async(args=[pk])
        return len(ids)
    published = 0
    try:
        with task.app.pool.acquire(block=True) as connection:
            connection.ensure_connection(max_retries=0)
            for pk in ids:
                task.apply_async(
                    args=[pk],
                    queue=queue,
                    countdown=countdown,
                    connection=connection,
                    retry=False,
                )
                published += 1
    except (BrokerError, OSError) as error:
        logger.warning(
            "outbox: broker unreachable, %d of %d %s left for the sweep: %s",
            len(ids) - published,
            len(ids),
            task.name,
            error,
        )
    return published


def enqueue_after_commit(task: Any, ids: Iterable[int], *, queue: str) -> None:
    """Publish the rows' tasks once the current transaction commits (never if it rolls back)."""
    ids = list(ids)
    if ids:
        transaction.on_commit(partial(enqueue_now, task, ids, queue=queue), robust=True)
