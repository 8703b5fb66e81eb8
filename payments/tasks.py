"""Payment tasks: thin wrappers over the services (ids in, safe to run twice).

Provider calls that fail with GatewayError (unreachable, 5xx) are retried with the project's
backoff; the periodic tasks pick up whatever a lost task left behind.
"""

import datetime

from django.utils import timezone

from core.tasks import RETRYABLE_ERRORS, project_task
from payments.models import PaymentOrder
from payments.providers.base import GatewayError
from payments.services import orders, reconciliation, refunds

PROVIDER_RETRYABLE = (*RETRYABLE_ERRORS, GatewayError)


@project_task(name="payments.refund_submit", ignore_result=True, retry_for=PROVIDER_RETRYABLE)
def refund_submit_task(refund_id: int) -> str:
    """Submit one requested refund to its provider (after the commit that requested it)."""
    return refunds.refund_submit(refund_id=refund_id).status


@project_task(name="payments.attempt_close", ignore_result=True, retry_for=PROVIDER_RETRYABLE)
def attempt_close_task(attempt_id: int) -> None:
    """Close one provider order that must not be paid any more."""
    orders.attempt_close(attempt_id=attempt_id)


@project_task(name="payments.order_close", ignore_result=True, retry_for=PROVIDER_RETRYABLE)
def order_close_task(order_id: int) -> str:
    """Close an unpaid order whose consultation or prescription ended."""
    order = PaymentOrder.objects.select_related("consultation", "prescription").get(pk=order_id)
    return orders.order_close(order=order, reason=orders.order_close_reason(order)).status


@project_task(
    name="payments.orders_close_expired", ignore_result=True, soft_time_limit=240, time_limit=300
)
def orders_close_expired_task() -> int:
    """Periodic (beat, every minute): unpaid orders past their time close, at the provider too."""
    return orders.orders_close_expired()


@project_task(
    name="payments.query_unconfirmed", ignore_result=True, soft_time_limit=240, time_limit=300
)
def query_unconfirmed_task() -> dict[str, int]:
    """Periodic (beat, every minute): ask providers about payments and refunds whose callback
    has not come."""
    return {
        "payments_found": orders.payments_query_unconfirmed(),
        "refunds_settled": refunds.refunds_query_unsettled(),
    }


@project_task(name="payments.reconcile_daily", soft_time_limit=900, time_limit=960)
def reconcile_daily_task(bill_date: str | None = None) -> dict[str, str]:
    """Periodic (beat, daily): yesterday's statements of every provider against the ledger."""
    day = (
        datetime.date.fromisoformat(bill_date)
        if bill_date
        else timezone.localdate() - datetime.timedelta(days=1)
    )
    return {
        report.provider: report.status for report in reconciliation.reconcile_day(bill_date=day)
    }
