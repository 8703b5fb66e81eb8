"""Over real sockets: the platform orders a waybill from the courier emulator served by a live
server, and the emulator's tracking reports come back over HTTP to the platform's notify URL."""

from typing import Any

import pytest

from courier_emulator.models import EmulatedWaybill
from courier_emulator.services import waybill_advance
from pharmacy.models import CourierCallback, Waybill
from pharmacy.services.delivery import fulfilment_dispatch
from tests.pharmacy.builders import make_delivery

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_parcel_tracked_over_http_end_to_end(live_server: Any, settings: Any) -> None:
    settings.SITE_URL = live_server.url
    settings.COURIER_API_BASE_URL = f"{live_server.url}/emulators/courier"
    scene = make_delivery()

    fulfilment_dispatch(fulfilment_id=scene.fulfilment.pk)  # the configured HTTP courier

    emulated = EmulatedWaybill.objects.get()
    assert emulated.notify_url == f"{live_server.url}/api/v1/fulfilments/courier/notify/"
    answers = [waybill_advance(waybill=emulated)[1].status_code for _ in range(5)]

    assert answers == [200, 200, 200, 200, 200]
    assert scene.refresh().status == "delivered"
    assert Waybill.objects.get().status == "delivered"
    assert list(CourierCallback.objects.values_list("outcome", flat=True)) == ["applied"] * 5
