"""The emulated supervision platform over raw HTTP: signature and digest checks, each record
stored once, refusals that store nothing, outages, and the demo page."""

import hmac
import json
import time
import uuid
from typing import Any

import pytest
from django.test import Client

from interop.regulator.protocol import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    hmac_sm3,
    record_digest,
    signed_headers,
    sm3_hex,
)
from regulator_emulator.models import Outage, ReceivedBatch, ReceivedRecord
from regulator_emulator.services import outage_end, outage_start

pytestmark = pytest.mark.django_db

URL = "/emulators/regulator/api/batches"


def record(**changes: Any) -> dict[str, Any]:
    data = {"consultation_id": str(uuid.uuid4()), "outcome": "completed", "fee_fen": 3000}
    value = {
        "record_id": str(uuid.uuid4()),
        "kind": "consultation_completed",
        "source_reference": data["consultation_id"],
        "occurred_at": "2026-11-25T10:00:00+08:00",
        "digest_alg": "SM3",
        "digest": record_digest(data),
        "data": data,
    }
    return value | changes


def batch(*records: dict[str, Any], batch_no: str = "GD2H-20261125-001") -> dict[str, Any]:
    return {
        "batch_no": batch_no,
        "org_code": "GD2H",
        "report_date": "2026-11-25",
        "records": list(records),
    }


def post(body: Any, *, headers: dict[str, str] | None = None, raw: bytes | None = None) -> Any:
    content = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    signed = headers or signed_headers(
        app_id="GD2H-ONLINE-HOSPITAL",
        secret="development-only-regulator-feed-secret",
        body=content,
    )
    return Client().post(
        URL,
        data=content,
        content_type="application/json",
        headers={k: v for k, v in signed.items() if k != "Content-Type"},
    )


def test_sm3_and_hmac_sm3_match_the_standard_and_openssl() -> None:
    # GB/T 32905 example 1; HMAC checked against OpenSSL's own HMAC over its SM3.
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    for key in (b"key", b"k" * 100):
        assert hmac_sm3(key, b"abc") == hmac.new(key, b"abc", "sm3").digest()


def test_a_signed_batch_is_stored_and_acknowledged_per_record() -> None:
    first, second = record(), record()
    response = post(batch(first, second))

    assert response.status_code == 200
    assert response.json() == {
        "batch_no": "GD2H-20261125-001",
        "received": 2,
        "results": [
            {"record_id": first["record_id"], "status": "accepted"},
            {"record_id": second["record_id"], "status": "accepted"},
        ],
    }
    stored = ReceivedRecord.objects.get(record_id=first["record_id"])
    assert (stored.kind, stored.digest, stored.data, stored.copies) == (
        "consultation_completed",
        first["digest"],
        first["data"],
        1,
    )


def test_a_resent_record_is_a_duplicate_and_stored_once() -> None:
    again = record()
    post(batch(again))
    response = post(batch(again, record()))

    assert [r["status"] for r in response.json()["results"]] == ["duplicate", "accepted"]
    assert ReceivedRecord.objects.count() == 2
    assert ReceivedRecord.objects.get(record_id=again["record_id"]).copies == 2
    assert ReceivedBatch.objects.get().receipts == 2


def test_records_that_do_not_check_out_are_rejected_one_by_one() -> None:
    good = record()
    wrong_digest = record(digest="0" * 64)
    unknown_kind = record(kind="lab_result")
    no_uuid = record(record_id="42")
    floats = record(data={"fee": 1.5}, digest="0" * 64)
    response = post(batch(good, wrong_digest, unknown_kind, no_uuid, floats))

    assert [(r["status"], r.get("code")) for r in response.json()["results"]] == [
        ("accepted", None),
        ("rejected", "digest_mismatch"),
        ("rejected", "kind_unknown"),
        ("rejected", "record_invalid"),
        ("rejected", "record_invalid"),
    ]
    assert list(ReceivedRecord.objects.values_list("record_id", flat=True)) == [
        uuid.UUID(good["record_id"])
    ]


def test_unsigned_forged_and_stale_requests_are_refused_and_store_nothing() -> None:
    body = json.dumps(batch(record())).encode()
    honest = signed_headers(
        app_id="GD2H-ONLINE-HOSPITAL", secret="development-only-regulator-feed-secret", body=body
    )
    cases = {
        "unsigned": ({"Content-Type": "application/json"}, "signature_missing"),
        "wrong secret": (
            signed_headers(app_id="GD2H-ONLINE-HOSPITAL", secret="guess", body=body),
            "signature_invalid",
        ),
        "unknown app": (
            signed_headers(
                app_id="SOMEONE-ELSE", secret="development-only-regulator-feed-secret", body=body
            ),
            "app_unknown",
        ),
        "stale": (honest | {TIMESTAMP_HEADER: str(int(time.time()) - 3600)}, "timestamp_stale"),
        "tampered": (honest | {SIGNATURE_HEADER: "00" * 32}, "signature_invalid"),
    }

    answers = {name: post(None, headers=headers, raw=body) for name, (headers, _) in cases.items()}

    assert {name: (r.status_code, r.json()["code"]) for name, r in answers.items()} == {
        name: (401, code) for name, (_, code) in cases.items()
    }
    assert ReceivedBatch.objects.count() == ReceivedRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "batch_invalid"),
        (json.dumps([1, 2]).encode(), "batch_invalid"),
        (json.dumps(batch()).encode(), "batch_invalid"),
        (json.dumps(batch(record()) | {"report_date": "yesterday"}).encode(), "batch_invalid"),
        (json.dumps(batch(record(), batch_no="")).encode(), "batch_invalid"),
    ],
)
def test_malformed_batches_are_refused_with_400(body: bytes, code: str) -> None:
    response = post(None, raw=body)

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert ReceivedRecord.objects.count() == 0


def test_while_down_everything_gets_503_and_nothing_is_stored(settings: Any) -> None:
    outage_start(reason="升级")
    down = post(batch(record()))
    outage_end()
    up = post(batch(record()))
    settings.REGULATOR_EMULATOR_DOWN = True
    forced = post(batch(record()))

    assert (down.status_code, down.json()["code"]) == (503, "service_unavailable")
    assert up.status_code == 200
    assert forced.status_code == 503
    assert ReceivedRecord.objects.count() == 1
    assert Outage.objects.get().ends_at is not None


def test_the_demo_page_lists_batches_and_switches_the_platform(client: Client) -> None:
    post(batch(record(), record()))

    page = client.get("/emulators/regulator/")
    client.post("/emulators/regulator/outage/", {"down": "1"})
    down = post(batch(record()))
    client.post("/emulators/regulator/outage/", {"down": "0"})

    assert page.status_code == 200
    assert "GD2H-20261125-001" in page.content.decode()
    assert down.status_code == 503
    assert post(batch(record())).status_code == 200
