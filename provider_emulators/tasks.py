"""The emulated providers' tasks: thin wrappers over the services (ids in, safe to run twice)."""

from core.tasks import project_task
from provider_emulators import services


@project_task(name="provider_emulators.deliver_callback", ignore_result=True)
def callback_deliver_task(callback_id: int) -> None:
    """One scheduled delivery attempt; a failure publishes the next attempt with the provider's
    delay (the sweep covers a lost publish)."""
    outcome = services.callback_deliver_due(callback_id=callback_id)
    if outcome is not None and outcome.retry_in is not None:
        services.enqueue_delivery(callback_id, countdown=outcome.retry_in)


@project_task(name="provider_emulators.settle_refund", ignore_result=True)
def refund_settle_task(refund_id: int) -> None:
    services.refund_settle(refund_pk=refund_id)


@project_task(name="provider_emulators.callbacks_sweep", ignore_result=True)
def callbacks_sweep_task() -> int:
    return services.callbacks_sweep()
