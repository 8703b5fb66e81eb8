"""Nothing is lost and nothing is sent twice, under faults, with real processes: a private
`redis-server`, a real Celery worker (`celery -A telehealth worker`) consuming the notifications
queue, the SMS emulator as its own HTTP process, and the test database on PostgreSQL.

(a) Redis is down while 100 consultations are booked: every booking succeeds, its notification
    waits as `pending`; Redis comes back (same port), the sweep publishes them, each is sent
    exactly once.
(b) The worker is SIGKILLed while the provider is answering a send: the message was accepted
    but never recorded as sent. A new worker and the sweep (after the lease) finish the job; the
    resend carries the same OutId, which the provider answers without sending again.
(c) A provider failing transiently: retried with backoff, then sent. Failing permanently: dead
    at once, listed for operations at GET /api/v1/notifications/dead/.
"""

import datetime
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import transaction

from accounts.models import Role
from consultations.services.booking import consultation_book
from core.actors import actor_for_user
from notifications import services
from notifications.models import InAppMessage, Notification, NotificationStatus
from telehealth.celery import app
from tests.factories import (
    api_client,
    make_consultation,
    make_doctor,
    make_facility,
    make_patient,
    make_slot,
    make_staff,
    make_user,
    resident_id,
)
from tests.support.celery_broker import celery_broker
from tests.support.processes import (
    CeleryBeat,
    CeleryWorker,
    RedisServer,
    free_port,
    service_env,
    stop_process,
    wait_until,
    worker_database_url,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3


class SmsEmulatorProcess:
    """`python -m notifications.providers.sms_emulator` on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "notifications.providers.sms_emulator",
                "--port",
                str(self.port),
            ],
            cwd=settings.BASE_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=15, what="the SMS emulator")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"SMS emulator exited with {self.process.returncode}")
        try:
            return httpx.get(f"{self.url}/_emulator/health", timeout=0.5).status_code == 200
        except httpx.TransportError:
            return False

    def configure(self, **options: Any) -> None:
        httpx.post(f"{self.url}/_emulator/config", json=options, timeout=5).raise_for_status()

    def snapshot(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_emulator/sms", timeout=5).json()

    def stop(self) -> None:
        stop_process(self.process, grace=5)


@pytest.fixture(scope="module")
def sms_emulator() -> Iterator[SmsEmulatorProcess]:
    started = SmsEmulatorProcess()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def sms(sms_emulator: SmsEmulatorProcess) -> SmsEmulatorProcess:
    httpx.post(f"{sms_emulator.url}/_emulator/reset", timeout=5).raise_for_status()
    return sms_emulator


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    try:
        with celery_broker(server.url):
            yield server
    finally:
        server.kill()


def _start_worker(
    redis: RedisServer, sms: SmsEmulatorProcess, log_path: Path, queues: str = ""
) -> CeleryWorker:
    worker = CeleryWorker(
        queue=queues or settings.NOTIFICATIONS_QUEUE,
        env=service_env(
            DATABASE_URL=worker_database_url(),
            REDIS_URL=redis.url,
            CELERY_BROKER_URL=None,
            CELERY_RESULT_BACKEND=None,
            SMS_API_BASE_URL=sms.url,
            NOTIFICATION_RETRY_BASE_SECONDS="0.2",
            NOTIFICATION_RETRY_MAX_SECONDS="1",
            NOTIFICATION_LEASE_SECONDS=str(LEASE_SECONDS),
            NOTIFICATION_QUIET_HOURS="",
        ),
        log_path=log_path,
    )
    worker.wait_ready(app)
    return worker


@pytest.fixture
def worker_log(tmp_path: Path) -> Path:
    return tmp_path / "worker.log"


@pytest.fixture
def workers() -> Iterator[list[CeleryWorker]]:
    started: list[CeleryWorker] = []
    yield started
    for worker in started:
        worker.stop()


def _wait_for_statuses(
    rows: list[int], wanted: set[str], workers: list[CeleryWorker], timeout: float = 90
) -> None:
    def done() -> bool:
        statuses = set(Notification.objects.filter(pk__in=rows).values_list("status", flat=True))
        return statuses <= wanted

    try:
        wait_until(done, timeout=timeout, interval=0.2, what=f"notifications {wanted}")
    except TimeoutError:
        counts = list(Notification.objects.filter(pk__in=rows).values_list("status", "last_error"))
        logs = "\n".join(worker.log()[-3000:] for worker in workers)
        pytest.fail(f"not all {wanted}: {counts[:10]}\n{logs}")


def _assert_sent_exactly_once(rows: list[Notification], sms: SmsEmulatorProcess) -> dict[str, Any]:
    snapshot = sms.snapshot()
    out_ids = [message["OutId"] for message in snapshot["messages"]]
    assert len(out_ids) == len(rows)
    assert len(set(out_ids)) == len(out_ids)
    assert set(out_ids) == {str(row.public_id) for row in rows}
    fresh = {row.pk: row for row in Notification.objects.filter(pk__in=[row.pk for row in rows])}
    by_out_id = {message["OutId"]: message["BizId"] for message in snapshot["messages"]}
    for row in fresh.values():
        assert row.status == NotificationStatus.SENT
        assert row.provider_message_id == by_out_id[str(row.public_id)]
    return snapshot


def test_bookings_made_while_redis_is_down_are_notified_exactly_once_after_it_returns(
    redis_server: RedisServer,
    sms: SmsEmulatorProcess,
    worker_log: Path,
    workers: list[CeleryWorker],
    tmp_path: Path,
) -> None:
    workers.append(_start_worker(redis_server, sms, worker_log))
    facility = make_facility()
    staff = make_staff(facility=facility)
    doctor = make_doctor()
    slots = [
        make_slot(doctor, starts_in=datetime.timedelta(days=2, minutes=15 * n)) for n in range(100)
    ]
    patients = [
        make_patient(staff, id_number=resident_id(sequence=n), phone=f"139{n:08d}")
        for n in range(100)
    ]

    redis_server.kill()
    booked = [
        consultation_book(actor=actor_for_user(staff), patient=patient, slot=slot)
        for patient, slot in zip(patients, slots, strict=True)
    ]

    assert len(booked) == 100
    assert all(consultation.status == "booked" for consultation in booked)
    rows = list(Notification.objects.filter(event="booking_confirmed"))
    assert len(rows) == 100
    assert {row.status for row in rows} == {NotificationStatus.PENDING}
    assert sms.snapshot()["messages"] == []

    restarted = RedisServer(tmp_path, port=redis_server.port)
    try:
        assert services.notifications_sweep(grace_seconds=0) == 100
        _wait_for_statuses([row.pk for row in rows], {NotificationStatus.SENT}, workers)
        snapshot = _assert_sent_exactly_once(rows, sms)
        assert snapshot["duplicates"] == 0
        # a second sweep finds nothing to do, and nothing more is sent
        assert services.notifications_sweep(grace_seconds=0) == 0
        assert len(sms.snapshot()["messages"]) == 100
    finally:
        for worker in workers:
            worker.stop()
        workers.clear()
        restarted.kill()


def _notify_many(count: int) -> list[Notification]:
    facility = make_facility()
    staff = make_staff(facility=facility)
    doctor = make_doctor()
    rows: list[Notification] = []
    for n in range(count):
        patient = make_patient(staff, id_number=resident_id(sequence=n), phone=f"137{n:08d}")
        consultation = make_consultation(patient=patient, doctor_user=doctor, facility=facility)
        with transaction.atomic():
            rows += services.notify(
                event="booking_confirmed",
                recipient=patient,
                objects={"consultation": consultation.pk},
                dedupe_key=f"consultation:{consultation.pk}:booked",
            )
    return rows


def test_a_worker_killed_mid_send_loses_nothing_and_sends_nothing_twice(
    redis_server: RedisServer,
    sms: SmsEmulatorProcess,
    workers: list[CeleryWorker],
    tmp_path: Path,
) -> None:
    sms.configure(delay_seconds=2.0)  # the provider records the message, then answers late
    first = _start_worker(redis_server, sms, tmp_path / "first.log")
    workers.append(first)
    rows = _notify_many(20)

    wait_until(
        lambda: len(sms.snapshot()["messages"]) >= 3, timeout=60, what="three accepted messages"
    )
    first.process.kill()  # SIGKILL while the third answer is still on its way
    first.process.wait(timeout=10)
    accepted = {message["OutId"] for message in sms.snapshot()["messages"]}
    (in_flight,) = Notification.objects.filter(pk__in=[row.pk for row in rows], status="sending")
    assert str(in_flight.public_id) in accepted  # accepted by the provider, not recorded

    sms.configure(delay_seconds=0)
    workers.append(_start_worker(redis_server, sms, tmp_path / "second.log"))
    others = [row.pk for row in rows if row.pk != in_flight.pk]
    _wait_for_statuses(others, {NotificationStatus.SENT}, workers)

    time.sleep(LEASE_SECONDS + 0.5)  # the dead worker's lease runs out
    assert services.notifications_sweep(grace_seconds=0) == 1
    _wait_for_statuses([row.pk for row in rows], {NotificationStatus.SENT}, workers)

    snapshot = _assert_sent_exactly_once(rows, sms)
    assert snapshot["duplicates"] == 1  # the resend was recognised by its OutId


def test_transient_failures_are_retried_and_permanent_ones_are_dead_for_operations(
    redis_server: RedisServer,
    sms: SmsEmulatorProcess,
    workers: list[CeleryWorker],
    tmp_path: Path,
) -> None:
    operator = make_user(role=Role.OPERATIONS)
    workers.append(_start_worker(redis_server, sms, tmp_path / "worker.log"))

    sms.configure(transient_failures=3, transient_mode="http_503")
    (flaky,) = _notify_many(1)
    _wait_for_statuses([flaky.pk], {NotificationStatus.SENT}, workers)
    flaky.refresh_from_db()
    assert flaky.attempts == 4
    assert sms.snapshot()["requests"] == 4
    _assert_sent_exactly_once([flaky], sms)

    facility = make_facility()
    staff = make_staff(facility=facility)
    patient = make_patient(staff, id_number=resident_id(sequence=999), phone="13600000000")
    consultation = make_consultation(patient=patient, doctor_user=make_doctor(), facility=facility)
    sms.configure(invalid_recipients=["+8613600000000"])
    with transaction.atomic():
        (refused,) = services.notify(
            event="booking_confirmed",
            recipient=patient,
            objects={"consultation": consultation.pk},
            dedupe_key="refused",
        )
    _wait_for_statuses([refused.pk], {NotificationStatus.DEAD}, workers)
    refused.refresh_from_db()
    assert refused.attempts == 1
    assert len(sms.snapshot()["messages"]) == 1  # only the flaky one

    response = api_client(operator).get("/api/v1/notifications/dead/")
    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["id"] == str(refused.public_id)
    assert "isv.MOBILE_NUMBER_ILLEGAL" in item["last_error"]
    # operations were told in their inbox, by the same worker
    wait_until(
        lambda: InAppMessage.objects.filter(user=operator, event="notification_dead").exists(),
        timeout=30,
        what="the operations notice",
    )


def test_a_real_beat_process_sweeps_what_the_broker_missed(
    redis_server: RedisServer,
    sms: SmsEmulatorProcess,
    worker_log: Path,
    workers: list[CeleryWorker],
    tmp_path: Path,
) -> None:
    """Nobody calls the sweep here: `celery beat`, as deployed, schedules it, and the worker
    consumes both queues as in docker-compose."""
    queues = f"{settings.NOTIFICATIONS_QUEUE},{settings.CELERY_TASK_DEFAULT_QUEUE}"
    workers.append(_start_worker(redis_server, sms, worker_log, queues))
    staff = make_staff(facility=make_facility())
    doctor = make_doctor()
    redis_server.kill()
    booked = [
        consultation_book(
            actor=actor_for_user(staff),
            patient=make_patient(staff, id_number=resident_id(sequence=n), phone=f"137{n:08d}"),
            slot=make_slot(doctor, starts_in=datetime.timedelta(days=3, minutes=15 * n)),
        )
        for n in range(5)
    ]
    rows = list(Notification.objects.filter(event="booking_confirmed"))
    assert len(booked) == len(rows) == 5
    assert {row.status for row in rows} == {NotificationStatus.PENDING}

    restarted = RedisServer(tmp_path, port=redis_server.port)
    beat = CeleryBeat(
        env=service_env(
            REDIS_URL=restarted.url,
            CELERY_BROKER_URL=None,
            CELERY_RESULT_BACKEND=None,
            NOTIFICATION_SWEEP_INTERVAL_SECONDS="1",
            NOTIFICATION_SWEEP_AFTER_SECONDS="0",
        ),
        workdir=tmp_path,
    )
    try:
        _wait_for_statuses([row.pk for row in rows], {NotificationStatus.SENT}, workers)
        _assert_sent_exactly_once(rows, sms)
        assert "notifications.sweep" in beat.log()
    finally:
        beat.stop()
        for worker in workers:
            worker.stop()
        workers.clear()
        restarted.kill()
