"""The feed's races on PostgreSQL, with real threads and connections: collectors running at once
report each record once; senders of one batch at once send it once."""

import datetime
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from consultations.services.lifecycle import consultation_complete
from core.actors import actor_for_user
from core.dates import local_day_start
from interop.models import RegulatorReport
from interop.regulator import services
from regulator_emulator.models import ReceivedBatch, ReceivedRecord
from tests.consultations.builders import make_visit
from tests.courier_emulator.transport import InProcessTransport

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def race(work: Callable[[], Any]) -> list[Any]:
    """Run `work` in THREADS threads released together; their results."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=60)
            results.append(work())
        except BaseException as error:  # reported below; a dead thread must not hide
            failures.append(error)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []
    return results


def test_concurrent_collectors_and_senders_report_each_record_once() -> None:
    first = make_visit("in_progress")
    consultations = [first.consultation] + [
        make_visit("in_progress", facility=first.facility, doctor=first.doctor).consultation
        for _ in range(2)
    ]
    for consultation in consultations:
        consultation_complete(actor=actor_for_user(first.doctor), consultation=consultation)
    night = local_day_start(timezone.localdate() + datetime.timedelta(days=1)) + datetime.timedelta(
        hours=1, minutes=30
    )

    race(lambda: services.regulator_reports_collect(now=night))
    [batch_id] = services.regulator_batches_build(now=night)
    outcomes = race(
        lambda: (
            services.regulator_batch_send(
                batch_id=batch_id, now=night, transport=InProcessTransport()
            ).status
        )
    )

    assert Counter(outcomes) == {"acknowledged": 1, "skipped": THREADS - 1}
    assert sorted(RegulatorReport.objects.values_list("source_id", flat=True)) == sorted(
        c.pk for c in consultations
    )
    assert set(RegulatorReport.objects.values_list("status", flat=True)) == {"acknowledged"}
    assert ReceivedRecord.objects.count() == 3
    assert set(ReceivedRecord.objects.values_list("copies", flat=True)) == {1}
    assert ReceivedBatch.objects.get().receipts == 1
