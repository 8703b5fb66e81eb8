"""Regulator feed tasks: thin wrappers over interop.regulator.services (ids in, safe to run
twice). With REGULATOR_FEED_ENABLED off they do nothing."""

from django.conf import settings

from core.outbox import enqueue_now
from core.tasks import project_task
from interop.regulator import services


def _publish(batch_ids: list[int], *, countdown: float | None = None) -> int:
    return enqueue_now(
        regulator_send_task, batch_ids, queue=settings.REGULATOR_FEED_QUEUE, countdown=countdown
    )


@project_task(
    name="interop.regulator_collect", ignore_result=True, soft_time_limit=240, time_limit=300
)
def regulator_collect_task() -> int:
    if not settings.REGULATOR_FEED_ENABLED:
        return 0
    return services.regulator_reports_collect()


@project_task(
    name="interop.regulator_daily", ignore_result=True, soft_time_limit=240, time_limit=300
)
def regulator_daily_task() -> int:
    """Collect what finished up to now, batch everything finished before today, send."""
    if not settings.REGULATOR_FEED_ENABLED:
        return 0
    services.regulator_reports_collect()
    batch_ids = services.regulator_batches_build()
    _publish(batch_ids)
    return len(batch_ids)


@project_task(name="interop.regulator_send", ignore_result=True, soft_time_limit=90, time_limit=120)
def regulator_send_task(batch_id: int) -> str:
    """Send one batch. A failure schedules the next attempt at the batch's `next_attempt_at`
    (the sweep covers it should this publish fail)."""
    outcome = services.regulator_batch_send(batch_id=batch_id)
    if outcome.retry_in is not None:
        _publish([batch_id], countdown=outcome.retry_in)
    return outcome.status


@project_task(name="interop.regulator_sweep", ignore_result=True)
def regulator_sweep_task() -> int:
    if not settings.REGULATOR_FEED_ENABLED:
        return 0
    return _publish(services.regulator_batches_due())
