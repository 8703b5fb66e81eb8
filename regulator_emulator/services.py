"""The emulated supervision platform's side: receive a signed batch, check each record's SM3
digest, store each record once (a re-sent record is answered `duplicate`), and go down on demand.

Outages are rows (`outage_start`, `outage_end`: the demo page's buttons and the tests' hooks) or
REGULATOR_EMULATOR_DOWN for the whole process.
"""

import datetime
import json
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from interop.models import RegulatorReportKind
from interop.regulator.protocol import DIGEST_ALGORITHM, SignatureError, record_digest, verify
from regulator_emulator.models import Outage, ReceivedBatch, ReceivedRecord
from signing.canonical import CanonicalJSONError

MAX_RECORDS_PER_BATCH = 5000


class EmulatorError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def is_down(*, now: datetime.datetime | None = None) -> bool:
    if settings.REGULATOR_EMULATOR_DOWN:
        return True
    now = now or timezone.now()
    return Outage.objects.filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=now), starts_at__lte=now
    ).exists()


def outage_start(
    *,
    reason: str = "",
    until: datetime.datetime | None = None,
    now: datetime.datetime | None = None,
) -> Outage:
    return Outage.objects.create(
        starts_at=now or timezone.now(), ends_at=until, reason=reason[:200]
    )


def outage_end(*, now: datetime.datetime | None = None) -> int:
    """End every outage still running; returns how many."""
    now = now or timezone.now()
    return Outage.objects.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now)).update(ends_at=now)


def _batch_fields(payload: Any) -> tuple[str, str, datetime.date, list[Any]]:
    if not isinstance(payload, dict):
        raise EmulatorError("batch_invalid", "Expected a JSON object.")
    batch_no, org_code, records = (
        payload.get("batch_no"),
        payload.get("org_code"),
        payload.get("records"),
    )
    if not isinstance(batch_no, str) or not 0 < len(batch_no) <= 40:
        raise EmulatorError("batch_invalid", "batch_no: 1 to 40 characters.")
    if not isinstance(org_code, str) or not 0 < len(org_code) <= 32:
        raise EmulatorError("batch_invalid", "org_code: 1 to 32 characters.")
    try:
        report_date = datetime.date.fromisoformat(str(payload.get("report_date")))
    except ValueError as error:
        raise EmulatorError("batch_invalid", "report_date: YYYY-MM-DD.") from error
    if not isinstance(records, list) or not 0 < len(records) <= MAX_RECORDS_PER_BATCH:
        raise EmulatorError(
            "batch_invalid", f"records: a list of 1 to {MAX_RECORDS_PER_BATCH} records."
        )
    return batch_no, org_code, report_date, records


def _rejected(record_id: str, code: str, message: str) -> dict[str, str]:
    return {"record_id": record_id, "status": "rejected", "code": code, "message": message}


def _receive_record(batch: ReceivedBatch, record: Any) -> dict[str, str]:
    if not isinstance(record, dict):
        return _rejected("", "record_invalid", "A record is a JSON object.")
    raw_id = str(record.get("record_id", ""))
    try:
        record_id = uuid.UUID(raw_id)
    except ValueError:
        return _rejected(raw_id, "record_invalid", "record_id must be a UUID.")
    data, digest = record.get("data"), record.get("digest")
    if record.get("kind") not in RegulatorReportKind.values:
        return _rejected(raw_id, "kind_unknown", f"Unknown kind {record.get('kind')!r}.")
    if record.get("digest_alg") != DIGEST_ALGORITHM or not isinstance(digest, str):
        return _rejected(raw_id, "record_invalid", "Each record carries an SM3 digest.")
    if not isinstance(data, dict):
        return _rejected(raw_id, "record_invalid", "data must be an object.")
    try:
        expected = record_digest(data)
    except CanonicalJSONError as error:
        return _rejected(raw_id, "record_invalid", str(error))
    if expected != digest.lower():
        return _rejected(raw_id, "digest_mismatch", "The SM3 digest does not match the data.")
    if ReceivedRecord.objects.filter(record_id=record_id).update(copies=F("copies") + 1):
        return {"record_id": raw_id, "status": "duplicate"}
    try:
        with transaction.atomic():
            ReceivedRecord.objects.create(
                record_id=record_id,
                batch=batch,
                kind=record["kind"],
                source_reference=str(record.get("source_reference", ""))[:64],
                occurred_at=str(record.get("occurred_at", ""))[:40],
                digest=expected,
                data=data,
            )
    except IntegrityError:
        # The same record arriving concurrently in another request stored it first.
        return {"record_id": raw_id, "status": "duplicate"}
    return {"record_id": raw_id, "status": "accepted"}


def batch_receive(*, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """Check, store and acknowledge one batch; the answer the platform gets."""
    try:
        verify(
            headers=headers,
            body=body,
            app_id=settings.REGULATOR_FEED_APP_ID,
            secret=settings.REGULATOR_FEED_SECRET,
            max_age_seconds=settings.REGULATOR_EMULATOR_MAX_AGE_SECONDS,
        )
    except SignatureError as error:
        raise EmulatorError(error.code, error.message, status=401) from error
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EmulatorError("batch_invalid", "Not UTF-8 JSON.") from error
    batch_no, org_code, report_date, records = _batch_fields(payload)
    with transaction.atomic():
        batch, _created = ReceivedBatch.objects.get_or_create(
            batch_no=batch_no,
            defaults={
                "app_id": settings.REGULATOR_FEED_APP_ID,
                "org_code": org_code,
                "report_date": report_date,
            },
        )
        ReceivedBatch.objects.filter(pk=batch.pk).update(receipts=F("receipts") + 1)
        results = [_receive_record(batch, record) for record in records]
    return {"batch_no": batch_no, "received": len(records), "results": results}
