"""Races against PostgreSQL, through the API, with real threads: twenty desks scanning the same
pickup code, pickups competing for the last packs on a shelf, and a courier delivering the same
tracking event ten times at once. Never a server error, never a second dispense, never a
negative shelf."""

import json
import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from courier_emulator.models import EmulatedWaybill
from pharmacy.couriers.signatures import signed_headers
from pharmacy.models import (
    CourierCallback,
    Dispense,
    FacilityStock,
    Fulfilment,
    FulfilmentEvent,
    StockMovement,
    TrackingEvent,
)
from pharmacy.services.delivery import fulfilment_dispatch
from prescriptions.models import Prescription
from tests.consultations.builders import make_visit
from tests.factories import api_client, make_staff, make_terminal, terminal_client
from tests.pharmacy.builders import (
    emulated_courier,
    make_delivery,
    make_paid_order,
    make_pickup,
    make_prescription,
    start,
    stock_up,
)
from tests.prescriptions.builders import make_drug

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PICKUP = "/api/v1/fulfilments/pickup/"


def _race(calls: list[Callable[[], Any]]) -> list[tuple[int, str]]:
    """Run every call at the same moment, each in its own thread with its own connection."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[int, str]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=60)
            response = call()
            body = response.json()
            with lock:
                results.append((response.status_code, body.get("code", "")))
        except BaseException as error:  # reported below; a dead thread must not hide
            with lock:
                failures.append(error)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert not any(thread.is_alive() for thread in threads)
    return results


def _scan(desk: APIClient, code: str) -> Any:
    return desk.post(PICKUP, {"code": code}, format="json")


def _quiet(client: APIClient) -> APIClient:
    client.raise_request_exception = False  # a server error must show up as a 500 here
    return client


def test_twenty_desks_scanning_one_code_dispense_exactly_once() -> None:
    scene = make_pickup(stock=10)
    code = scene.fulfilment.pickup_code
    desks = [_quiet(api_client(make_staff(facility=scene.facility))) for _ in range(14)]
    desks += [_quiet(terminal_client(make_terminal(scene.facility).credential)) for _ in range(6)]

    results = _race([partial(_scan, desk, code) for desk in desks])

    assert Counter(results) == {(200, ""): 1, (409, "already_dispensed"): 19}
    assert Dispense.objects.count() == 1
    assert FacilityStock.objects.get().quantity == 8
    assert StockMovement.objects.count() == 1
    assert Prescription.objects.get(pk=scene.prescription.pk).status == "dispensed"
    assert FulfilmentEvent.objects.filter(to_status="picked_up").count() == 1


def test_pickups_competing_for_the_last_packs_never_take_the_shelf_below_zero() -> None:
    amlodipine, metformin = make_drug(), make_drug(code="TEST-RACE-MET")
    visit = make_visit("completed")
    stock_up(visit.facility, amlodipine, 5)
    stock_up(visit.facility, metformin, 5)
    codes = []
    for n in range(12):
        # Half list the drugs the other way round: the shelf rows are still locked in one order.
        items = [(amlodipine, 1), (metformin, 1)] if n % 2 else [(metformin, 1), (amlodipine, 1)]
        fulfilment = start(make_paid_order(make_prescription(visit, items=items)))
        codes.append(fulfilment.pickup_code)
    desks = [_quiet(api_client(make_staff(facility=visit.facility))) for _ in codes]

    results = _race([partial(_scan, desk, code) for desk, code in zip(desks, codes, strict=True)])

    assert Counter(results) == {(200, ""): 5, (409, "out_of_stock"): 7}
    assert dict(FacilityStock.objects.values_list("drug__code", "quantity")) == {
        amlodipine.code: 0,
        "TEST-RACE-MET": 0,
    }
    assert Dispense.objects.count() == 5
    assert StockMovement.objects.count() == 10
    assert Fulfilment.objects.filter(status="picked_up").count() == 5
    assert Prescription.objects.filter(status="dispensed").count() == 5
    assert Prescription.objects.filter(status="approved").count() == 7


def test_one_tracking_event_delivered_ten_times_at_once_applies_once() -> None:
    scene = make_delivery()
    fulfilment_dispatch(fulfilment_id=scene.fulfilment.pk, courier=emulated_courier())
    number = EmulatedWaybill.objects.get().waybill_number
    body = json.dumps(
        {
            "event_id": "evt-race",
            "waybill_number": number,
            "status": "out_for_delivery",
            "occurred_at": timezone.now().isoformat(),
        }
    ).encode()

    def deliver() -> Any:
        headers = signed_headers(secret=settings.COURIER_SHARED_SECRET, body=body)
        headers.pop("Content-Type")
        return Client(raise_request_exception=False).generic(
            "POST",
            "/api/v1/fulfilments/courier/notify/",
            data=body,
            content_type="application/json",
            headers=headers,
        )

    results = _race([deliver for _ in range(10)])

    assert Counter(status for status, _ in results) == {200: 10}
    assert Counter(CourierCallback.objects.values_list("outcome", flat=True)) == {
        "applied": 1,
        "duplicate": 9,
    }
    assert TrackingEvent.objects.count() == 1
    assert scene.refresh().status == "out_for_delivery"
    assert FulfilmentEvent.objects.filter(to_status="out_for_delivery").count() == 1
