"""What the patient is told about their medicine renders from real fulfilments, and the pickup
reminder goes out once, only while the medicine is still waiting."""

import datetime
from typing import Any

import pytest
from django.utils import timezone

from courier_emulator.models import EmulatedWaybill
from courier_emulator.services import tracking_event_deliver, tracking_event_record
from notifications.events import EVENTS
from notifications.models import Notification
from notifications.rendering import render
from pharmacy.models import Fulfilment
from pharmacy.services.delivery import fulfilment_dispatch
from pharmacy.services.reminders import pickup_reminders_send
from tests.courier_emulator.transport import InProcessTransport
from tests.pharmacy.builders import emulated_courier, make_delivery, make_pickup

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_pickup_messages_name_the_facility_and_the_deadline(language: str) -> None:
    scene = make_pickup()
    deadline = timezone.localtime(scene.fulfilment.pickup_code_expires_at).strftime(
        "%Y-%m-%d %H:%M"
    )
    for event in ("ready_for_pickup", "pickup_reminder"):
        spec = EVENTS[event]
        assert spec.build_context is not None
        context = spec.build_context({"fulfilment": scene.fulfilment.pk})
        message = render(event=event, language=language, context=context)
        assert scene.facility.name in message.body
        assert deadline in message.sms
        assert scene.visit.patient.name not in message.sms


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_delivery_messages_name_the_courier_and_the_waybill(language: str, settings: Any) -> None:
    scene = make_delivery()
    fulfilment_dispatch(fulfilment_id=scene.fulfilment.pk, courier=emulated_courier())
    emulated = EmulatedWaybill.objects.get()
    failed = tracking_event_record(waybill=emulated, status="failed", reason="收件人拒收")
    tracking_event_deliver(failed, transport=InProcessTransport())
    for event in ("dispatched", "out_for_delivery", "delivered", "delivery_failed"):
        spec = EVENTS[event]
        assert spec.build_context is not None
        context = spec.build_context({"fulfilment": scene.fulfilment.pk})
        message = render(event=event, language=language, context=context)
        assert emulated.waybill_number in message.body
        assert emulated.waybill_number in message.sms
    failed_body = render(
        event="delivery_failed",
        language=language,
        context=EVENTS["delivery_failed"].build_context({"fulfilment": scene.fulfilment.pk}),  # type: ignore[misc]
    ).body
    assert settings.COURIER_NAME in failed_body
    assert "收件人拒收" in failed_body


def test_an_uncollected_pickup_is_reminded_once_while_it_waits(settings: Any) -> None:
    settings.PHARMACY_PICKUP_REMINDER_AFTER_HOURS = 2
    waiting = make_pickup()
    collected = make_pickup()
    fresh = make_pickup()
    long_ago = timezone.now() - datetime.timedelta(hours=3)
    Fulfilment.objects.filter(pk__in=[waiting.fulfilment.pk, collected.fulfilment.pk]).update(
        ready_at=long_ago
    )
    Fulfilment.objects.filter(pk=collected.fulfilment.pk).update(
        status="picked_up", picked_up_at=timezone.now()
    )

    assert pickup_reminders_send() == 1
    assert pickup_reminders_send() == 0

    reminded = Notification.objects.filter(event="pickup_reminder")
    assert {row.objects_ids["fulfilment"] for row in reminded} == {waiting.fulfilment.pk}
    assert fresh.refresh().pickup_reminded_at is None


def test_a_reminder_for_medicine_collected_meanwhile_is_withdrawn() -> None:
    scene = make_pickup()
    still_relevant = EVENTS["pickup_reminder"].still_relevant
    assert still_relevant is not None
    assert still_relevant({"fulfilment": scene.fulfilment.pk}) is True
    Fulfilment.objects.filter(pk=scene.fulfilment.pk).update(
        status="picked_up", picked_up_at=timezone.now()
    )
    assert still_relevant({"fulfilment": scene.fulfilment.pk}) is False
