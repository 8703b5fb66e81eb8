"""Retention (SPEC §4 rule 12): records are never hard-deleted. A daily job lists the records
whose retention date has passed — consultations and their records (15 years), prescriptions
(15 years, as part of the record), recording references (3 years), in-call chat (3 years) — as
`RetentionFlag` rows for operations; `retention_report` summarises them."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from core.models import RetentionFlag

BATCH = 5000


def _sources() -> dict[str, Callable[[datetime.date], QuerySet[Any]]]:
    from consultations.models import Consultation
    from prescriptions.models import Prescription
    from video.models import ChatMessage

    return {
        "consultation": lambda today: Consultation.objects.filter(
            retention_until__lt=today
        ).values_list("public_id", "retention_until"),
        "recording": lambda today: Consultation.objects.filter(
            recording_retention_until__lt=today
        ).values_list("public_id", "recording_retention_until"),
        "prescription": lambda today: Prescription.objects.filter(
            retention_until__lt=today
        ).values_list("public_id", "retention_until"),
        "chat_message": lambda today: ChatMessage.objects.filter(
            retention_until__lt=today
        ).values_list("pk", "retention_until"),
    }


def retention_scan(*, today: datetime.date | None = None) -> dict[str, int]:
    """Flag every record past its retention date (idempotent: a record is flagged once)."""
    today = today or timezone.localdate()
    counts = {}
    for object_type, rows in _sources().items():
        flags = [
            RetentionFlag(object_type=object_type, object_id=str(object_id), retention_until=until)
            for object_id, until in rows(today).iterator(chunk_size=BATCH)
        ]
        flagged = RetentionFlag.objects.filter(object_type=object_type)
        before = flagged.count()
        # ignore_conflicts: a record flagged on an earlier run stays as it was.
        RetentionFlag.objects.bulk_create(flags, ignore_conflicts=True, batch_size=BATCH)
        counts[object_type] = flagged.count() - before
    return counts


def retention_report() -> list[dict[str, Any]]:
    rows = (
        RetentionFlag.objects.values("object_type")
        .annotate(count=Count("id"), oldest=Min("retention_until"))
        .order_by("object_type")
    )
    return [dict(row) for row in rows]
