"""Notification tasks: thin wrappers over the services (ids in, safe to run twice)."""

from core.tasks import project_task
from notifications import services


@project_task(name="notifications.deliver", ignore_result=True)
def notification_deliver_task(notification_id: int) -> str:
    """Send one notification. A retryable failure schedules the next attempt at the row's
    `next_attempt_at` (the sweep covers it should this publish fail)."""
    outcome = services.notification_deliver(notification_id=notification_id)
    if outcome.retry_in is not None:
        services.enqueue_now([notification_id], countdown=outcome.retry_in)
    return outcome.status


@project_task(name="notifications.sweep", ignore_result=True)
def notifications_sweep_task() -> int:
    return services.notifications_sweep()


@project_task(
    name="notifications.consultation_reminders",
    ignore_result=True,
    time_limit=300,
    soft_time_limit=240,
)
def consultation_reminders_task() -> int:
    return services.consultation_reminders_send()
