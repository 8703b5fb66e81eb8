"""The regulator feed against the in-repo supervision-platform emulator, reached in-process over
its real HTTP handling: every finished record delivered exactly once, also after the platform
was down for a whole day (a simulated clock drives the platform's side: services take `now`)."""

import datetime
import json
from typing import Any

import httpx
import pytest
from django.utils import timezone

from consultations.services.lifecycle import consultation_complete
from core.actors import actor_for_user
from core.crypto import decrypt_text, encrypt_text
from core.dates import local_day_start
from interop.models import RegulatorBatch, RegulatorReport
from interop.regulator import services
from interop.regulator.protocol import record_digest, sm3_hex
from interop.tasks import regulator_daily_task
from patients.services import patient_decrypt_id_number
from regulator_emulator.models import ReceivedBatch, ReceivedRecord
from regulator_emulator.services import outage_end, outage_start
from tests.consultations.builders import make_visit
from tests.courier_emulator.transport import InProcessTransport
from tests.fhir.scene import Scene
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db

# The scene's records: the completed and the terminated consultation, the prescription approved
# and dispensed, the dispense.
SCENE_KINDS = [
    "consultation_completed",
    "consultation_terminated",
    "dispense_recorded",
    "prescription_approved",
    "prescription_dispensed",
]


def at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return local_day_start(day) + datetime.timedelta(hours=hour, minutes=minute)


def send_due(now: datetime.datetime, transport: httpx.BaseTransport) -> list[str]:
    """What the sweep and the send task do at `now`."""
    return [
        services.regulator_batch_send(batch_id=batch_id, now=now, transport=transport).status
        for batch_id in services.regulator_batches_due(now=now)
    ]


def test_every_finished_record_arrives_once_after_a_day_of_outage(scene: Scene) -> None:
    transport = InProcessTransport()
    today = timezone.localdate()
    day1, day2 = today + datetime.timedelta(days=1), today + datetime.timedelta(days=2)

    # Night 1: the platform is down when the daily batch goes out, and stays down all day.
    outage_start(reason="省平台升级")
    night1 = at(day1, 1, 30)
    services.regulator_reports_collect(now=night1)
    first = services.regulator_batches_build(now=night1)
    outcome = services.regulator_batch_send(batch_id=first[0], now=night1, transport=transport)
    assert (outcome.status, outcome.unanswered) == ("failed", 5)

    later = make_visit("in_progress", facility=scene.facility, doctor=scene.doctor)
    finished_on_day1 = at(day1, 10)
    consultation_complete(
        actor=actor_for_user(scene.doctor), consultation=later.consultation, now=finished_on_day1
    )
    moment = night1
    attempts_while_down = []
    while moment < at(day2, 1, 30):
        moment += datetime.timedelta(minutes=10)
        services.regulator_reports_collect(now=moment)
        attempts_while_down += send_due(moment, transport)

    assert set(attempts_while_down) == {"failed"}
    batch = RegulatorBatch.objects.get(pk=first[0])
    assert batch.status == "failed"
    assert batch.last_status_code == 503
    assert batch.attempts == 1 + len(attempts_while_down)
    assert 24 <= batch.attempts <= 60  # backoff capped at an hour: retried all day, not hammered
    assert ReceivedRecord.objects.count() == 0

    # Night 2: the platform is back; the day-1 batch goes through on its next try and the
    # record that finished on day 1 goes out in night 2's batch.
    outage_end()
    night2 = at(day2, 1, 30)
    services.regulator_reports_collect(now=night2)
    second = services.regulator_batches_build(now=night2)
    statuses = send_due(night2 + datetime.timedelta(minutes=10), transport)
    statuses += send_due(night2 + datetime.timedelta(hours=2), transport)

    assert statuses.count("acknowledged") == 2
    reports = list(RegulatorReport.objects.order_by("kind", "source_id"))
    assert [(r.status, r.ack_status) for r in reports] == [("acknowledged", "accepted")] * 6
    received = {str(record.record_id): record for record in ReceivedRecord.objects.all()}
    assert sorted(received) == sorted(str(r.public_id) for r in reports)
    assert {record.copies for record in received.values()} == {1}
    assert sorted(r.kind for r in reports) == sorted([*SCENE_KINDS, "consultation_completed"])
    assert RegulatorReport.objects.get(source_id=later.consultation.pk).batch_id == second[0]
    assert [
        (b.batch_no, b.report_date, b.receipts)
        for b in ReceivedBatch.objects.order_by("report_date")
    ] == [
        (f"GD2H-{today:%Y%m%d}-001", today, 1),
        (f"GD2H-{day1:%Y%m%d}-001", day1, 1),
    ]
    for report in reports:
        record = received[str(report.public_id)]
        assert (record.kind, record.digest, record.source_reference) == (
            report.kind,
            report.digest,
            report.source_reference,
        )

    # Nothing is reported twice however often the feed runs again.
    night3 = at(day2 + datetime.timedelta(days=1), 1, 30)
    assert services.regulator_reports_collect(now=night3) == 0
    assert services.regulator_batches_build(now=night3) == []
    assert send_due(night3, transport) == []


class LosesTheAnswer(httpx.BaseTransport):
    """The request reaches the platform, which stores it; the answer never comes back."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.inner.handle_request(request)
        self.lost += 1
        raise httpx.ReadTimeout("the connection dropped before the answer", request=request)


def test_a_lost_answer_is_resent_and_recognised_as_a_duplicate(scene: Scene) -> None:
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    night = at(tomorrow, 1, 30)
    services.regulator_reports_collect(now=night)
    [batch_id] = services.regulator_batches_build(now=night)
    lossy = LosesTheAnswer(InProcessTransport())

    first = services.regulator_batch_send(batch_id=batch_id, now=night, transport=lossy)
    statuses = send_due(night + datetime.timedelta(hours=2), InProcessTransport())

    assert (first.status, lossy.lost, statuses) == ("failed", 1, ["acknowledged"])
    assert {r.ack_status for r in RegulatorReport.objects.all()} == {"duplicate"}
    assert ReceivedRecord.objects.count() == 5
    assert {record.copies for record in ReceivedRecord.objects.all()} == {2}
    assert ReceivedBatch.objects.get().receipts == 2


def test_a_record_whose_digest_does_not_match_is_rejected_and_kept_for_a_person(
    scene: Scene,
) -> None:
    night = at(timezone.localdate() + datetime.timedelta(days=1), 1, 30)
    services.regulator_reports_collect(now=night)
    tampered = RegulatorReport.objects.get(kind="prescription_dispensed")
    payload = json.loads(decrypt_text(tampered.payload_encrypted))
    payload["dispensed_at"] = "2020-01-01T00:00:00+08:00"
    RegulatorReport.objects.filter(pk=tampered.pk).update(
        payload_encrypted=encrypt_text(json.dumps(payload))
    )
    [batch_id] = services.regulator_batches_build(now=night)

    outcome = services.regulator_batch_send(
        batch_id=batch_id, now=night, transport=InProcessTransport()
    )

    assert (outcome.status, outcome.acknowledged, outcome.rejected) == ("acknowledged", 4, 1)
    tampered.refresh_from_db()
    assert (tampered.status, tampered.reject_code) == ("rejected", "digest_mismatch")
    assert not ReceivedRecord.objects.filter(record_id=tampered.public_id).exists()
    assert ReceivedRecord.objects.count() == 4


def test_payloads_are_snapshots_with_the_identity_number_encrypted_at_rest(scene: Scene) -> None:
    services.regulator_reports_collect(now=timezone.now())
    report = RegulatorReport.objects.get(kind="prescription_approved")
    number = patient_decrypt_id_number(patient=scene.patient)
    payload = json.loads(decrypt_text(report.payload_encrypted))

    assert number not in report.payload_encrypted
    assert payload["patient"]["id_number"] == number
    assert report.digest == record_digest(payload)
    assert payload["prescription_number"] == scene.prescription.number
    assert [item["atc_code"] for item in payload["items"]] == ["C08CA01", "A10BA02"]
    assert payload["signed_content_sm3"] == sm3_hex(scene.prescription.signed_content.encode())
    assert (
        payload["pharmacist"]["licence_number"]
        == scene.pharmacist.pharmacist_profile.licence_number
    )
    assert report.source_reference == f"{scene.prescription.number}-1"


def test_records_finished_today_wait_for_tomorrows_batch(scene: Scene) -> None:
    now = timezone.now()
    services.regulator_reports_collect(now=now)

    assert services.regulator_batches_build(now=now) == []
    assert set(RegulatorReport.objects.values_list("status", flat=True)) == {"pending"}


def test_records_before_the_start_date_are_never_reported(scene: Scene, settings: Any) -> None:
    settings.REGULATOR_FEED_SINCE = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()

    two_days_later = timezone.now() + datetime.timedelta(days=2)
    assert services.regulator_reports_collect(now=two_days_later) == 0
    assert RegulatorReport.objects.count() == 0


def test_collecting_twice_reports_each_record_once(scene: Scene) -> None:
    now = timezone.now()

    assert services.regulator_reports_collect(now=now) == 5
    assert services.regulator_reports_collect(now=now) == 0
    assert sorted(RegulatorReport.objects.values_list("kind", flat=True)) == SCENE_KINDS


def test_the_daily_task_records_an_unreachable_platform_and_retries_later(
    scene: Scene, settings: Any
) -> None:
    """The task's real HTTP client against a port nothing listens on."""
    settings.REGULATOR_FEED_URL = f"http://127.0.0.1:{free_port()}/api/batches"

    regulator_daily_task.delay()
    services.regulator_reports_collect(now=timezone.now())
    # Everything finished today: nothing to batch before tonight.
    assert RegulatorBatch.objects.count() == 0
    tomorrow = at(timezone.localdate() + datetime.timedelta(days=1), 1, 30)
    [batch_id] = services.regulator_batches_build(now=tomorrow)
    outcome = services.regulator_batch_send(batch_id=batch_id, now=tomorrow)

    batch = RegulatorBatch.objects.get(pk=batch_id)
    assert (outcome.status, batch.status, batch.last_status_code) == ("failed", "failed", None)
    assert batch.last_error.startswith("unreachable: ConnectError")
    assert batch.next_attempt_at > tomorrow


def test_a_disabled_feed_does_nothing(scene: Scene, settings: Any) -> None:
    settings.REGULATOR_FEED_ENABLED = False

    regulator_daily_task.delay()

    assert RegulatorReport.objects.count() == 0
