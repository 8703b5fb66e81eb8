"""The courier emulator behaves as the real courier would: it takes waybills only from a caller
holding the shared secret, answers a repeated reference with the same waybill, cancels, and
reports tracking steps signed, from its page's buttons too."""

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from courier_emulator.models import EmulatedTrackingEvent, EmulatedWaybill
from courier_emulator.services import tracking_event_record
from pharmacy.couriers.signatures import signed_headers
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db

API = "/emulators/courier/api/waybills/"
ADDRESS = {
    "name": "陈志强",
    "phone": "+8613800138000",
    "province": "广东省",
    "city": "佛山市",
    "district": "南海区",
    "detail": "桂城街道南海大道北88号",
}


def _request(reference: str = "ref-1", **fields: Any) -> dict[str, Any]:
    return {
        "reference": reference,
        "sender": ADDRESS | {"name": "互联网医院药房"},
        "recipient": ADDRESS,
        "description": "药品 medicine",
        "notify_url": f"http://127.0.0.1:{free_port()}/api/v1/fulfilments/courier/notify/",
    } | fields


def _post(path: str, payload: Any, *, secret: str | None = None, signed: bool = True) -> Any:
    body = json.dumps(payload).encode()
    headers = (
        signed_headers(secret=secret or settings.COURIER_SHARED_SECRET, body=body) if signed else {}
    )
    headers.pop("Content-Type", None)
    return Client().generic(
        "POST", path, data=body, content_type="application/json", headers=headers
    )


def test_a_signed_request_gets_a_waybill_and_a_repeat_gets_the_same_one() -> None:
    first = _post(API, _request())
    again = _post(API, _request())

    assert first.status_code == 201
    assert again.status_code == 200
    assert first.json()["waybill_number"] == again.json()["waybill_number"]
    waybill = EmulatedWaybill.objects.get()
    assert (waybill.status, waybill.recipient, waybill.reference) == ("created", ADDRESS, "ref-1")
    assert waybill.waybill_number.startswith("SD")


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"signed": False}, "courier_signature_missing"),
        ({"secret": "someone-else"}, "courier_signature_invalid"),
    ],
)
def test_an_unsigned_or_forged_request_is_refused(options: dict[str, Any], code: str) -> None:
    response = _post(API, _request(), **options)
    assert (response.status_code, response.json()["code"]) == (401, code)
    assert EmulatedWaybill.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (_request(recipient=ADDRESS | {"detail": ""}), "address_invalid"),
        (_request(notify_url="ftp://example.org/"), "notify_url_invalid"),
        (_request(reference=""), "reference_invalid"),
        ([1, 2], "payload_invalid"),
    ],
)
def test_an_incomplete_request_is_refused(payload: Any, code: str) -> None:
    response = _post(API, payload)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert EmulatedWaybill.objects.count() == 0


def test_cancel_is_idempotent_and_a_delivered_waybill_cannot_be_cancelled() -> None:
    number = _post(API, _request()).json()["waybill_number"]
    cancel = f"{API}{number}/cancel/"

    assert _post(cancel, {"reason": "不发了"}).json()["status"] == "cancelled"
    assert _post(cancel, {"reason": "不发了"}).status_code == 200
    assert EmulatedWaybill.objects.get().cancel_reason == "不发了"

    other = _post(API, _request("ref-2")).json()["waybill_number"]
    tracking_event_record(
        waybill=EmulatedWaybill.objects.get(waybill_number=other), status="delivered"
    )
    refused = _post(f"{API}{other}/cancel/", {"reason": "x"})
    assert (refused.status_code, refused.json()["code"]) == (409, "waybill_ended")
    missing = _post(f"{API}SD000000000000/cancel/", {"reason": "x"})
    assert (missing.status_code, missing.json()["code"]) == (404, "waybill_not_found")


def test_the_emulators_waybill_moves_forward_only() -> None:
    _post(API, _request())
    waybill = EmulatedWaybill.objects.get()
    for status in ("in_transit", "accepted", "delivered", "failed"):
        tracking_event_record(waybill=waybill, status=status)
    waybill.refresh_from_db()
    assert waybill.status == "delivered"
    delivered = EmulatedTrackingEvent.objects.get(status="delivered")
    assert (delivered.signer_name, delivered.location) == ("陈志强", "佛山市南海区营业部")
    assert delivered.proof_photo == f"emulator://proof/{waybill.waybill_number}.jpg"


def test_the_page_lists_waybills_and_its_button_reports_the_next_step() -> None:
    _post(API, _request())
    waybill = EmulatedWaybill.objects.get()
    client = Client()

    page = client.get("/emulators/courier/")
    assert page.status_code == 200
    assert waybill.waybill_number in page.content.decode()

    response = client.post(f"/emulators/courier/waybills/{waybill.waybill_number}/advance/")
    assert response.status_code == 302
    event = EmulatedTrackingEvent.objects.get()
    # The notify URL points at a port nothing listens on: the push is tried and noted.
    assert (event.status, event.deliveries, event.last_response_status) == ("accepted", 1, None)
    assert "ConnectError" in event.last_response_body
    waybill.refresh_from_db()
    assert waybill.status == "accepted"

    client.post(
        f"/emulators/courier/waybills/{waybill.waybill_number}/advance/", {"status": "failed"}
    )
    waybill.refresh_from_db()
    assert waybill.status == "failed"
    assert EmulatedTrackingEvent.objects.get(status="failed").reason == "收件人电话无人接听"
