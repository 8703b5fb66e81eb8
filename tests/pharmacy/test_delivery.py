"""Home delivery: a waybill from the courier (the in-repo emulator, reached in-process over its
real HTTP API), tracking callbacks signed with the shared secret and applied forward only, a
failed delivery retried on a new waybill or returned, and a returned parcel refunded through
payments."""

import datetime
import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from core.exceptions import ConflictError
from courier_emulator.models import EmulatedTrackingEvent, EmulatedWaybill
from courier_emulator.services import tracking_event_deliver, tracking_event_record
from notifications.models import Notification
from payments.models import Refund
from pharmacy.couriers.base import CourierUnavailable
from pharmacy.couriers.http import HttpCourier
from pharmacy.couriers.signatures import signed_headers
from pharmacy.models import (
    CourierCallback,
    Dispense,
    Fulfilment,
    FulfilmentEvent,
    StockMovement,
    TrackingEvent,
    Waybill,
)
from pharmacy.selectors import fulfilments_awaiting_dispatch
from pharmacy.services.delivery import fulfilment_dispatch
from prescriptions.models import Prescription
from tests.courier_emulator.transport import InProcessTransport
from tests.factories import api_client, make_user
from tests.pharmacy.builders import Scene, emulated_courier, make_delivery
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db

NOTIFY = "/api/v1/fulfilments/courier/notify/"


def _dispatched(transport: InProcessTransport | None = None) -> tuple[Scene, EmulatedWaybill]:
    scene = make_delivery()
    fulfilment_dispatch(fulfilment_id=scene.fulfilment.pk, courier=emulated_courier(transport))
    scene.refresh()
    return scene, EmulatedWaybill.objects.get()


def _record(waybill: EmulatedWaybill, *statuses: str, **details: Any) -> list[Any]:
    """The courier notes each step, a minute apart, without telling the platform yet."""
    start = timezone.now().replace(microsecond=0)
    return [
        tracking_event_record(
            waybill=waybill,
            status=status,
            occurred_at=start + datetime.timedelta(minutes=n),
            **details,
        )
        for n, status in enumerate(statuses)
    ]


def _push(*events: Any) -> list[int | None]:
    transport = InProcessTransport()
    return [tracking_event_deliver(event, transport=transport).status_code for event in events]


def _statuses(fulfilment: Fulfilment) -> list[tuple[str, str]]:
    return list(
        FulfilmentEvent.objects.filter(fulfilment=fulfilment).values_list(
            "from_status", "to_status"
        )
    )


def test_a_paid_delivery_waits_for_its_waybill_and_the_sweep_finds_it(settings: Any) -> None:
    scene = make_delivery()

    assert scene.fulfilment.status == "awaiting_payment"
    assert (scene.fulfilment.recipient_name, scene.fulfilment.city) == ("陈志强", "佛山市")
    assert scene.fulfilment.facility == scene.visit.facility  # its staff follow the parcel
    assert Dispense.objects.count() == 0
    later = timezone.now() + datetime.timedelta(
        seconds=settings.PHARMACY_DISPATCH_SWEEP_AFTER_SECONDS + 1
    )
    assert fulfilments_awaiting_dispatch(now=timezone.now()) == []
    assert fulfilments_awaiting_dispatch(now=later) == [scene.fulfilment.pk]


def test_dispatch_orders_a_waybill_and_the_hospital_pharmacy_dispenses() -> None:
    transport = InProcessTransport()
    scene, emulated = _dispatched(transport)
    fulfilment = scene.fulfilment

    assert fulfilment.status == "dispatched"
    assert fulfilment.delivery_attempts == 1
    assert fulfilment.dispatched_at is not None
    waybill = Waybill.objects.get()
    assert (waybill.fulfilment, waybill.attempt, waybill.status) == (fulfilment, 1, "created")
    assert waybill.waybill_number == emulated.waybill_number
    assert waybill.reference == emulated.reference == f"{fulfilment.public_id.hex}-1"
    # What the courier was told: the recipient, a neutral description, where to report.
    assert emulated.recipient == {
        "name": "陈志强",
        "phone": "+8613800138000",
        "province": "广东省",
        "city": "佛山市",
        "district": "南海区",
        "detail": "桂城街道南海大道北88号3栋502",
    }
    assert emulated.sender["name"] == settings.PHARMACY_SENDER_NAME
    assert emulated.description == "药品 medicine"
    assert emulated.notify_url == f"{settings.SITE_URL}{NOTIFY}"
    request = transport.requests[0]
    assert request.headers["X-Courier-Signature"].startswith("sha256=")
    # Dispensed once, by the hospital pharmacy (no facility shelf), when the parcel left.
    assert scene.prescription.status == "dispensed"
    dispense = Dispense.objects.get()
    assert (dispense.facility, dispense.actor_role) == (None, "system")
    assert StockMovement.objects.count() == 0
    assert _statuses(fulfilment) == [("", "awaiting_payment"), ("awaiting_payment", "dispatched")]
    assert sorted(
        Notification.objects.filter(event="dispatched").values_list("channel", "objects_ids")
    ) == [("in_app", {"fulfilment": fulfilment.pk}), ("sms", {"fulfilment": fulfilment.pk})]


def test_dispatching_again_changes_nothing() -> None:
    scene, _ = _dispatched()

    again = fulfilment_dispatch(fulfilment_id=scene.fulfilment.pk, courier=emulated_courier())

    assert again.status == "dispatched"
    assert Waybill.objects.count() == EmulatedWaybill.objects.count() == 1
    assert Dispense.objects.count() == 1


def test_a_prescription_expired_before_dispatch_is_not_dispensed_and_the_waybill_is_cancelled() -> (
    None
):
    scene = make_delivery()
    Prescription.objects.filter(pk=scene.prescription.pk).update(
        valid_until=timezone.now() - datetime.timedelta(minutes=1)
    )

    with pytest.raises(ConflictError) as refused:
        fulfilment_dispatch(fulfilment_id=scene.fulfilment.pk, courier=emulated_courier())

    assert refused.value.code == "prescription_expired"
    assert EmulatedWaybill.objects.get().status == "cancelled"
    assert Waybill.objects.count() == 0
    assert Dispense.objects.count() == 0
    scene.refresh()
    assert (scene.fulfilment.status, scene.prescription.status) == ("awaiting_payment", "approved")


def test_an_unreachable_courier_is_retried_later_and_nothing_is_recorded() -> None:
    scene = make_delivery()
    down = HttpCourier(
        code="emulator",
        name="速达快递",
        base_url=f"http://127.0.0.1:{free_port()}/emulators/courier",
        secret=settings.COURIER_SHARED_SECRET,
        timeout_seconds=2,
    )

    with pytest.raises(CourierUnavailable):
        fulfilment_dispatch(fulfilment_id=scene.fulfilment.pk, courier=down)

    assert scene.refresh().status == "awaiting_payment"
    assert Waybill.objects.count() == 0
    assert Dispense.objects.count() == 0


def test_tracking_in_order_ends_delivered_with_proof_of_handover() -> None:
    scene, emulated = _dispatched()
    events = _record(
        emulated,
        "accepted",
        "picked_up",
        "in_transit",
        "out_for_delivery",
        "delivered",
        signer_name="陈志强",
        proof_photo="https://courier.example/proof/1.jpg",
    )

    assert _push(*events) == [200, 200, 200, 200, 200]

    fulfilment = scene.refresh()
    assert fulfilment.status == "delivered"
    assert fulfilment.delivered_at == events[-1].occurred_at
    waybill = Waybill.objects.get()
    assert (waybill.status, waybill.signer_name, waybill.proof_photo) == (
        "delivered",
        "陈志强",
        "https://courier.example/proof/1.jpg",
    )
    assert _statuses(fulfilment) == [
        ("", "awaiting_payment"),
        ("awaiting_payment", "dispatched"),
        ("dispatched", "in_transit"),
        ("in_transit", "out_for_delivery"),
        ("out_for_delivery", "delivered"),
    ]
    assert list(TrackingEvent.objects.values_list("status", "applied")) == [
        ("accepted", True),
        ("picked_up", True),
        ("in_transit", True),
        ("out_for_delivery", True),
        ("delivered", True),
    ]
    told = set(Notification.objects.values_list("event", flat=True))
    assert told >= {"dispatched", "out_for_delivery", "delivered"}
    assert "delivery_failed" not in told


def test_out_of_order_and_duplicate_reports_end_in_the_right_status() -> None:
    scene, emulated = _dispatched()
    accepted, picked_up, in_transit, out, delivered = _record(
        emulated, "accepted", "picked_up", "in_transit", "out_for_delivery", "delivered"
    )

    codes = _push(in_transit, delivered, picked_up, delivered, out, accepted, in_transit)

    assert codes == [200] * 7
    fulfilment = scene.refresh()
    assert fulfilment.status == "delivered"
    assert _statuses(fulfilment)[2:] == [
        ("dispatched", "in_transit"),
        ("in_transit", "delivered"),
    ]
    assert Waybill.objects.get().status == "delivered"
    assert sorted(TrackingEvent.objects.values_list("status", "applied")) == [
        ("accepted", False),
        ("delivered", True),
        ("in_transit", True),
        ("out_for_delivery", False),
        ("picked_up", False),
    ]
    outcomes = list(CourierCallback.objects.order_by("pk").values_list("outcome", flat=True))
    assert outcomes == [
        "applied",
        "applied",
        "recorded",
        "duplicate",
        "recorded",
        "recorded",
        "duplicate",
    ]
    # The late "out for delivery" never reached the patient after the delivery.
    assert Notification.objects.filter(event="out_for_delivery").count() == 0


def test_a_report_behind_the_current_status_is_recorded_only() -> None:
    scene, emulated = _dispatched()
    picked_up, in_transit, out = _record(emulated, "picked_up", "in_transit", "out_for_delivery")

    _push(out, in_transit, picked_up)

    assert scene.refresh().status == "out_for_delivery"
    assert list(TrackingEvent.objects.order_by("pk").values_list("status", "applied")) == [
        ("out_for_delivery", True),
        ("in_transit", False),
        ("picked_up", False),
    ]


@pytest.mark.usefixtures("in_process_courier")
def test_a_failed_delivery_tells_the_patient_and_goes_out_again_on_a_new_waybill() -> None:
    scene, emulated = _dispatched()
    (failed,) = _record(emulated, "failed", reason="地址不详，无法投递")
    _push(failed)
    fulfilment = scene.refresh()
    assert (fulfilment.status, fulfilment.failure_reason) == ("failed", "地址不详，无法投递")
    assert Notification.objects.filter(event="delivery_failed").exists()
    operations = make_user()

    response = api_client(operations).post(
        f"/api/v1/fulfilments/{fulfilment.public_id}/retry-delivery/", format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["delivery_attempts"]) == ("dispatched", 2)
    assert [(w["attempt"], w["status"]) for w in body["waybills"]] == [
        (1, "failed"),
        (2, "created"),
    ]
    second = EmulatedWaybill.objects.exclude(pk=emulated.pk).get()
    assert second.reference == f"{fulfilment.public_id.hex}-2"
    assert Dispense.objects.count() == 1  # dispensed when it first left, never again
    # A late report about the first waybill moves nothing; the second waybill's reports do.
    (late,) = _record(emulated, "delivered")
    (arrived,) = _record(second, "delivered")
    _push(late, arrived)
    assert scene.refresh().status == "delivered"
    assert list(Waybill.objects.order_by("attempt").values_list("attempt", "status")) == [
        (1, "failed"),
        (2, "delivered"),
    ]


def test_a_retry_while_the_courier_is_down_is_a_503_and_changes_nothing(settings: Any) -> None:
    scene, emulated = _dispatched()
    _push(*_record(emulated, "failed", reason="地址不详"))
    settings.COURIER_API_BASE_URL = f"http://127.0.0.1:{free_port()}/emulators/courier"

    response = api_client(make_user()).post(
        f"/api/v1/fulfilments/{scene.fulfilment.public_id}/retry-delivery/", format="json"
    )

    assert (response.status_code, response.json()["code"]) == (503, "courier_unavailable")
    assert (scene.refresh().status, scene.fulfilment.delivery_attempts) == ("failed", 1)
    assert Waybill.objects.count() == 1


def test_a_returned_parcel_is_refunded_through_payments() -> None:
    scene, emulated = _dispatched()
    _push(*_record(emulated, "failed", reason="收件人拒收"))
    operations = make_user()
    url = f"/api/v1/fulfilments/{scene.fulfilment.public_id}/return/"

    response = api_client(operations).post(url, {"reason": "包裹已退回药房"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "returned"
    scene.refresh()
    assert scene.fulfilment.returned_at is not None
    refund = Refund.objects.get()
    assert (refund.order, refund.trigger, refund.amount_fen) == (
        scene.order,
        "delivery_failed",
        scene.order.paid_fen,
    )
    assert refund.reason == "配送失败退回：包裹已退回药房"
    assert (scene.order.status, scene.order.refund_pending_fen) == ("refunding", refund.amount_fen)

    again = api_client(operations).post(url, {"reason": "再退一次"}, format="json")

    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    assert Refund.objects.count() == 1


def test_only_a_failed_delivery_is_returned_and_only_by_operations() -> None:
    scene, _ = _dispatched()
    url = f"/api/v1/fulfilments/{scene.fulfilment.public_id}/return/"

    by_staff = api_client(scene.staff).post(url, {"reason": "x"}, format="json")
    not_failed = api_client(make_user()).post(url, {"reason": "x"}, format="json")

    assert (by_staff.status_code, by_staff.json()["code"]) == (403, "permission_denied")
    assert (not_failed.status_code, not_failed.json()["code"]) == (409, "invalid_transition")
    assert scene.refresh().status == "dispatched"
    assert Refund.objects.count() == 0


# --- Forged and malformed callbacks ---------------------------------------------------------------


def _report(waybill_number: str, **fields: Any) -> bytes:
    payload = {
        "event_id": "evt-1",
        "waybill_number": waybill_number,
        "status": "delivered",
        "occurred_at": timezone.now().isoformat(),
        "signer_name": "陈志强",
    } | fields
    return json.dumps(payload).encode()


def _post(body: bytes, headers: dict[str, str]) -> Any:
    return Client(raise_request_exception=False).generic(
        "POST",
        NOTIFY,
        data=body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )


def _signed(body: bytes, **options: Any) -> dict[str, str]:
    return signed_headers(secret=settings.COURIER_SHARED_SECRET, body=body, **options)


def _forgeries(number: str) -> list[tuple[str, bytes, dict[str, str], int, str]]:
    genuine = _report(number)
    stale = timezone.now().timestamp() - settings.COURIER_CALLBACK_MAX_AGE_SECONDS - 5
    future = timezone.now().timestamp() + settings.COURIER_CALLBACK_MAX_AGE_SECONDS + 5
    wrong_secret = signed_headers(secret="not-the-shared-secret", body=genuine)
    signed_for_other = _signed(_report(number, status="failed", reason="x"))
    naive_time = _report(number, occurred_at="2026-11-26T10:00:00")
    return [
        ("bad hmac", genuine, wrong_secret, 401, "courier_signature_invalid"),
        ("body altered", genuine, signed_for_other, 401, "courier_signature_invalid"),
        ("stale", genuine, _signed(genuine, now=stale), 401, "courier_timestamp_stale"),
        ("future", genuine, _signed(genuine, now=future), 401, "courier_timestamp_stale"),
        ("unsigned", genuine, {}, 401, "courier_signature_missing"),
        (
            "timestamp not a number",
            genuine,
            _signed(genuine) | {"X-Courier-Timestamp": "yesterday"},
            401,
            "courier_timestamp_invalid",
        ),
        ("not json", b"{delivered", _signed(b"{delivered"), 400, "courier_payload_invalid"),
        ("not utf-8", b"\xff\xfe", _signed(b"\xff\xfe"), 400, "courier_payload_invalid"),
        ("a list", b"[1, 2]", _signed(b"[1, 2]"), 400, "courier_payload_invalid"),
        ("naive time", naive_time, _signed(naive_time), 400, "courier_payload_invalid"),
        (
            "unknown status",
            (body := _report(number, status="teleported")),
            _signed(body),
            400,
            "courier_payload_invalid",
        ),
        (
            "delivered without signer",
            (body := _report(number, signer_name="")),
            _signed(body),
            400,
            "courier_payload_invalid",
        ),
        (
            "number as event id",
            (body := _report(number, event_id=7)),
            _signed(body),
            400,
            "courier_payload_invalid",
        ),
        (
            "unknown waybill",
            (body := _report("SD000000000000")),
            _signed(body),
            404,
            "waybill_not_found",
        ),
    ]


def test_forged_or_malformed_callbacks_are_refused_stored_and_change_nothing() -> None:
    scene, emulated = _dispatched()
    before = (
        scene.fulfilment.status,
        Waybill.objects.get().status,
        FulfilmentEvent.objects.count(),
    )

    for name, body, headers, status, code in _forgeries(emulated.waybill_number):
        response = _post(body, headers)
        assert (response.status_code, response.json()["code"]) == (status, code), name

    fulfilment = scene.refresh()
    assert (
        fulfilment.status,
        Waybill.objects.get().status,
        FulfilmentEvent.objects.count(),
    ) == before
    assert TrackingEvent.objects.count() == 0
    stored = list(
        CourierCallback.objects.order_by("pk").values_list("outcome", "reject_code", "event_id")
    )
    assert stored == [
        ("rejected", code, "") for _, _, _, _, code in _forgeries(emulated.waybill_number)
    ]
    assert not Notification.objects.filter(event__in=["delivered", "delivery_failed"]).exists()


def test_a_callback_with_user_credentials_but_no_signature_is_refused() -> None:
    scene, emulated = _dispatched()
    response = api_client(make_user()).post(
        NOTIFY, json.loads(_report(emulated.waybill_number)), format="json"
    )
    assert (response.status_code, response.json()["code"]) == (401, "courier_signature_missing")
    assert scene.refresh().status == "dispatched"


def test_the_emulator_records_what_the_platform_answered() -> None:
    _, emulated = _dispatched()
    (event,) = _record(emulated, "accepted")
    _push(event, event)
    event.refresh_from_db()
    assert (event.deliveries, event.last_response_status) == (2, 200)
    assert json.loads(event.last_response_body) == {"result": "duplicate"}
    assert EmulatedTrackingEvent.objects.count() == 1
