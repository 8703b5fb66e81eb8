"""Pharmacy tasks: thin wrappers over the services (ids in, safe to run twice)."""

from django.conf import settings
from django.utils import timezone

from core import outbox
from core.tasks import project_task
from pharmacy.selectors import fulfilments_awaiting_dispatch
from pharmacy.services import delivery, reminders


@project_task(name="pharmacy.dispatch", max_retries=12, backoff_seconds=10)
def dispatch_task(fulfilment_id: int) -> str:
    """Order the waybill of a paid delivery; the courier being down is retried with backoff."""
    return delivery.fulfilment_dispatch(fulfilment_id=fulfilment_id).status


@project_task(name="pharmacy.dispatch_sweep")
def dispatch_sweep_task() -> int:
    """Paid deliveries whose dispatch task was lost (broker down, crash after commit)."""
    ids = fulfilments_awaiting_dispatch(now=timezone.now())
    return outbox.enqueue_now(dispatch_task, ids, queue=settings.CELERY_TASK_DEFAULT_QUEUE)


@project_task(name="pharmacy.pickup_reminders")
def pickup_reminders_task() -> int:
    return reminders.pickup_reminders_send()
