"""The delivery's dispatch runs as a task after the payment commits, is swept up when that task
is lost, and is retried while the courier is down."""

from typing import Any

import pytest

from core.tasks import RetryableError
from pharmacy.couriers.base import CourierUnavailable
from pharmacy.models import Waybill
from pharmacy.tasks import dispatch_sweep_task, dispatch_task
from tests.pharmacy.builders import make_delivery, make_paid_order, make_prescription, start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_process_courier")]


def test_the_paying_transaction_dispatches_the_delivery_once_it_commits(
    django_capture_on_commit_callbacks: Any,
) -> None:
    order = make_paid_order(make_prescription(), method="delivery")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        fulfilment = start(order)
        assert fulfilment.status == "awaiting_payment"  # nothing goes out before the commit

    # Published after the commit: the dispatch, then (from the dispatch) the patient's message.
    assert [callback.args[0].name for callback in callbacks] == [
        "pharmacy.dispatch",
        "notifications.deliver",
    ]
    fulfilment.refresh_from_db()
    assert fulfilment.status == "dispatched"
    assert Waybill.objects.filter(fulfilment=fulfilment).count() == 1


def test_the_sweep_dispatches_deliveries_whose_task_was_lost(settings: Any) -> None:
    settings.PHARMACY_DISPATCH_SWEEP_AFTER_SECONDS = 0
    scene = make_delivery()  # its after-commit task never ran

    assert dispatch_sweep_task() == 1

    assert scene.refresh().status == "dispatched"
    assert dispatch_sweep_task() == 0


def test_a_dispatch_task_run_twice_dispatches_once() -> None:
    scene = make_delivery()
    assert dispatch_task(scene.fulfilment.pk) == "dispatched"
    assert dispatch_task(scene.fulfilment.pk) == "dispatched"
    assert Waybill.objects.count() == 1


def test_an_unreachable_courier_is_a_retryable_failure_of_the_task() -> None:
    assert issubclass(CourierUnavailable, RetryableError)
    assert RetryableError in dispatch_task.autoretry_for
