"""The regulator feed: collect finished records into the outbox, batch them daily, send each
batch until the supervision platform has answered for every record in it.

Exactly once on the regulator's side rests on three things: one report per record and kind
(a unique constraint; the collector inserts with ON CONFLICT DO NOTHING), a stable record id
and digest (the report's public id and the SM3 of its stored snapshot), and the regulator's own
de-duplication by record id, which answers a re-sent record `duplicate` instead of storing it
again. A batch whose answer was lost is simply sent again.

Every service takes `now` (tests drive a simulated clock through a day-long outage).
"""

import datetime
import json
from collections import defaultdict
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from core.crypto import decrypt_text, encrypt_text
from core.dates import local_day_start
from core.outbox import backoff_seconds, claim, due_ids
from interop.models import (
    BATCH_OUTBOX_STATES,
    RegulatorBatch,
    RegulatorBatchStatus,
    RegulatorReport,
    RegulatorReportStatus,
)
from interop.regulator import client
from interop.regulator.payloads import FEED_KINDS, FeedKind
from interop.regulator.protocol import DIGEST_ALGORITHM, sm3_hex
from signing.canonical import canonical_json

# A batch due for this long has had its own task's chance; the sweep publishes it.
SWEEP_GRACE = datetime.timedelta(seconds=60)


def _since() -> datetime.datetime | None:
    if not settings.REGULATOR_FEED_SINCE:
        return None
    return local_day_start(datetime.date.fromisoformat(settings.REGULATOR_FEED_SINCE))


def _report(spec: FeedKind, row: object, now: datetime.datetime) -> RegulatorReport:
    payload = canonical_json(spec.payload(row))
    return RegulatorReport(
        kind=spec.kind,
        source_id=row.pk,  # type: ignore[attr-defined]
        source_reference=spec.reference(row),
        occurred_at=spec.occurred_at(row),  # type: ignore[arg-type]
        payload_encrypted=encrypt_text(payload.decode("utf-8")),
        digest=sm3_hex(payload),
        collected_at=now,
    )


def regulator_reports_collect(
    *, now: datetime.datetime | None = None, limit: int | None = None
) -> int:
    """Put every finished record not yet reported into the outbox (at most `limit` per kind
    per run, oldest first); returns how many were looked at. Safe to run concurrently."""
    now = now or timezone.now()
    limit = limit or settings.REGULATOR_FEED_BATCH_SIZE
    since = _since()
    collected = 0
    for spec in FEED_KINDS:
        reported = RegulatorReport.objects.filter(kind=spec.kind, source_id=OuterRef("pk"))
        rows = spec.finished().filter(**{f"{spec.occurred_field}__lte": now})
        if since is not None:
            rows = rows.filter(**{f"{spec.occurred_field}__gte": since})
        rows = rows.exclude(Exists(reported)).order_by(spec.occurred_field, "pk")[:limit]
        reports = [_report(spec, row, now) for row in rows]
        RegulatorReport.objects.bulk_create(reports, ignore_conflicts=True)
        collected += len(reports)
    return collected


def regulator_batches_build(*, now: datetime.datetime | None = None) -> list[int]:
    """Batch the reports of records finished before today (local), under yesterday's date:
    `REGULATOR_FEED_BATCH_SIZE` per batch. Running again the same day batches only what was
    collected since. Returns the new batches' ids."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    report_date = today - datetime.timedelta(days=1)
    size = settings.REGULATOR_FEED_BATCH_SIZE
    created: list[int] = []
    with transaction.atomic(durable=True):
        pending = list(
            RegulatorReport.objects.select_for_update()
            .filter(status=RegulatorReportStatus.PENDING, occurred_at__lt=local_day_start(today))
            .order_by("occurred_at", "pk")
            .values_list("pk", flat=True)
        )
        if not pending:
            return []
        last = RegulatorBatch.objects.filter(report_date=report_date).aggregate(Max("sequence"))
        sequence = last["sequence__max"] or 0
        for start in range(0, len(pending), size):
            sequence += 1
            batch = RegulatorBatch.objects.create(
                batch_no=f"{settings.REGULATOR_FEED_ORG_CODE}-{report_date:%Y%m%d}-{sequence:03d}",
                report_date=report_date,
                sequence=sequence,
                next_attempt_at=now,
                created_at=now,
            )
            RegulatorReport.objects.filter(pk__in=pending[start : start + size]).update(
                status=RegulatorReportStatus.BATCHED, batch=batch
            )
            created.append(batch.pk)
    return created


@dataclass(frozen=True)
class SendOutcome:
    status: str  # acknowledged | failed | skipped
    acknowledged: int = 0
    rejected: int = 0
    unanswered: int = 0
    retry_in: float | None = None


def _record(report: RegulatorReport) -> dict[str, object]:
    return {
        "record_id": str(report.public_id),
        "kind": report.kind,
        "source_reference": report.source_reference,
        "occurred_at": timezone.localtime(report.occurred_at).isoformat(),
        "digest_alg": DIGEST_ALGORITHM,
        "digest": report.digest,
        "data": json.loads(decrypt_text(report.payload_encrypted)),
    }


def _retry_in(attempts: int) -> float:
    return backoff_seconds(
        attempt=attempts,
        base=settings.REGULATOR_FEED_RETRY_BASE_SECONDS,
        cap=settings.REGULATOR_FEED_RETRY_MAX_SECONDS,
    )


def _fail(
    batch: RegulatorBatch, *, now: datetime.datetime, error: str, status_code: int | None
) -> float:
    retry_in = _retry_in(batch.attempts)
    RegulatorBatch.objects.filter(pk=batch.pk, status=RegulatorBatchStatus.SENDING).update(
        status=RegulatorBatchStatus.FAILED,
        next_attempt_at=now + datetime.timedelta(seconds=retry_in),
        lease_expires_at=None,
        last_error=error[:500],
        last_status_code=status_code,
        first_sent_at=batch.first_sent_at or now,
    )
    return retry_in


def _apply_results(
    reports: list[RegulatorReport], results: list[client.RecordResult], now: datetime.datetime
) -> tuple[int, int, int]:
    """Acknowledged and rejected reports, grouped into one UPDATE per outcome."""
    by_id = {result.record_id: result for result in results}
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    unanswered = 0
    for report in reports:
        result = by_id.get(str(report.public_id))
        if result is None or result.status not in ("accepted", "duplicate", "rejected"):
            unanswered += 1
            continue
        groups[(result.status, result.code, result.message)].append(report.pk)
    acknowledged = rejected = 0
    for (status, code, message), ids in groups.items():
        rows = RegulatorReport.objects.filter(pk__in=ids, status=RegulatorReportStatus.BATCHED)
        if status == "rejected":
            rejected += rows.update(
                status=RegulatorReportStatus.REJECTED,
                reject_code=(code or "rejected")[:64],
                reject_message=message[:300],
            )
        else:
            acknowledged += rows.update(
                status=RegulatorReportStatus.ACKNOWLEDGED, ack_status=status, acknowledged_at=now
            )
    return acknowledged, rejected, unanswered


def regulator_batch_send(
    *,
    batch_id: int,
    now: datetime.datetime | None = None,
    transport: httpx.BaseTransport | None = None,
) -> SendOutcome:
    """Send the batch's unanswered reports once, if it is due and nobody else is sending it.
    The HTTP request runs outside any transaction; its answer is applied in one."""
    now = now or timezone.now()
    lease = datetime.timedelta(seconds=settings.REGULATOR_FEED_LEASE_SECONDS)
    if not claim(RegulatorBatch, pk=batch_id, states=BATCH_OUTBOX_STATES, now=now, lease=lease):
        return SendOutcome(status="skipped")
    batch = RegulatorBatch.objects.get(pk=batch_id)
    reports = list(batch.reports.filter(status=RegulatorReportStatus.BATCHED).order_by("pk"))
    status_code: int | None = None
    results: list[client.RecordResult] = []
    if reports:
        body = {
            "batch_no": batch.batch_no,
            "org_code": settings.REGULATOR_FEED_ORG_CODE,
            "report_date": batch.report_date.isoformat(),
            "records": [_record(report) for report in reports],
        }
        try:
            status_code, results = client.send_batch(body, transport=transport)
        except client.FeedUnavailable as error:
            retry_in = _fail(batch, now=now, error=str(error), status_code=error.status_code)
            return SendOutcome(status="failed", unanswered=len(reports), retry_in=retry_in)
    with transaction.atomic(durable=True):
        locked = RegulatorBatch.objects.select_for_update().get(pk=batch_id)
        acknowledged, rejected, unanswered = _apply_results(reports, results, now)
        if locked.status != RegulatorBatchStatus.SENDING:
            # Another sender took over after our lease ran out and finished first.
            return SendOutcome(status="skipped", acknowledged=acknowledged, rejected=rejected)
        locked.first_sent_at = locked.first_sent_at or now
        locked.last_status_code = status_code
        locked.lease_expires_at = None
        next_try: float | None = None
        if unanswered:
            next_try = _retry_in(locked.attempts)
            locked.status = RegulatorBatchStatus.FAILED
            locked.next_attempt_at = now + datetime.timedelta(seconds=next_try)
            locked.last_error = f"{unanswered} records unanswered"
        else:
            locked.status = RegulatorBatchStatus.ACKNOWLEDGED
            locked.acknowledged_at = now
            locked.last_error = ""
        locked.save()
    return SendOutcome(
        status=locked.status,
        acknowledged=acknowledged,
        rejected=rejected,
        unanswered=unanswered,
        retry_in=next_try,
    )


def regulator_batches_due(*, now: datetime.datetime | None = None, limit: int = 100) -> list[int]:
    """Batches to send now: due for more than a minute (their own task had its chance, or
    their backoff ran out), or in flight with an expired lease."""
    return due_ids(
        RegulatorBatch,
        states=BATCH_OUTBOX_STATES,
        now=now or timezone.now(),
        grace=SWEEP_GRACE,
        limit=limit,
    )
