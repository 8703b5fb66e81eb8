"""The whole journey from the payment on: the emulated WeChat Pay notification pays the order
through the payments service, which starts the fulfilment; the patient sees the pickup code,
staff scan the QR code — or the parcel goes out with the courier and the patient follows it."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from courier_emulator.models import EmulatedWaybill
from courier_emulator.services import tracking_event_deliver, tracking_event_record
from pharmacy.models import FacilityStock, Fulfilment
from prescriptions.models import Prescription
from provider_emulators.hooks import emulator_signed_callback
from tests.consultations.builders import make_visit
from tests.courier_emulator.transport import InProcessTransport
from tests.factories import api_client
from tests.payments.factories import (
    Sale,
    make_drug,
    make_sale,
    open_attempt,
    payer_pays_quietly,
    post_callback,
)
from tests.pharmacy.builders import stock_up

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, scope="module")
def _payment_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Provider keys of this module's own, never the development ones."""
    previous = settings.PAYMENT_KEYS_DIR
    settings.PAYMENT_KEYS_DIR = tmp_path_factory.mktemp("payment-keys")
    try:
        yield
    finally:
        settings.PAYMENT_KEYS_DIR = previous


def _pay(sale: Sale) -> None:
    attempt = open_attempt(sale)
    payer_pays_quietly(attempt)
    callback = emulator_signed_callback(provider="wechatpay", out_trade_no=attempt.out_trade_no)
    response = post_callback(Client(), callback, provider="wechatpay")
    assert response.status_code in (200, 204), response.content
    assert sale.refresh().status == "paid"


def test_paid_for_pickup_the_patient_shows_the_qr_code_and_staff_hand_over() -> None:
    visit = make_visit("completed")
    drug = make_drug()
    stock_up(visit.facility, drug, 4)
    sale = make_sale(visit=visit, items=((drug, 2),), fulfilment="pickup")

    _pay(sale)

    fulfilment = Fulfilment.objects.get(order=sale.order)
    assert (fulfilment.method, fulfilment.status, fulfilment.facility) == (
        "pickup",
        "ready_for_pickup",
        visit.facility,
    )
    mine = api_client(sale.patient_user).get(f"/api/v1/fulfilments/{fulfilment.public_id}/")
    pickup = mine.json()["pickup"]
    assert pickup["code"] == fulfilment.pickup_code

    scan = api_client(visit.staff).post(
        "/api/v1/fulfilments/pickup/", {"token": pickup["qr_payload"]}, format="json"
    )

    assert scan.status_code == 200, scan.json()
    assert scan.json()["status"] == "picked_up"
    assert Prescription.objects.get(pk=sale.prescription.pk).status == "dispensed"
    assert FacilityStock.objects.get(facility=visit.facility, drug=drug).quantity == 2


@pytest.mark.usefixtures("in_process_courier")
def test_paid_for_delivery_the_parcel_goes_out_and_the_patient_follows_it(
    django_capture_on_commit_callbacks: Any,
) -> None:
    sale = make_sale(fulfilment="delivery")

    with django_capture_on_commit_callbacks(execute=True):
        _pay(sale)

    fulfilment = Fulfilment.objects.get(order=sale.order)
    assert fulfilment.status == "dispatched"
    assert (fulfilment.recipient_name, fulfilment.city) == ("陈志强", "广州市")
    waybill = EmulatedWaybill.objects.get()
    transport = InProcessTransport()
    for status in ("accepted", "picked_up", "out_for_delivery", "delivered"):
        event = tracking_event_record(waybill=waybill, status=status)
        assert tracking_event_deliver(event, transport=transport).status_code == 200

    body = api_client(sale.patient_user).get(f"/api/v1/fulfilments/{fulfilment.public_id}/").json()

    assert body["status"] == "delivered"
    assert [step["to_status"] for step in body["timeline"]] == [
        "awaiting_payment",
        "dispatched",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    (only,) = body["waybills"]
    assert (only["waybill_number"], only["status"], only["signer_name"]) == (
        waybill.waybill_number,
        "delivered",
        "陈志强",
    )
    assert [report["status"] for report in only["tracking"]] == [
        "accepted",
        "picked_up",
        "out_for_delivery",
        "delivered",
    ]
    assert body["delivery_address"]["city"] == "广州市"
    assert body["dispense"]["facility"] is None
