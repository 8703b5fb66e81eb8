"""Notifications end to end, against a no-op Celery task baseline, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \
        .venv/bin/python bench/notifications_throughput.py [--count 10000] [--concurrency 2]

Starts a throwaway `redis-server` (or uses REDIS_URL when set), the SMS emulator as its own HTTP
process and a real Celery worker (prefork, `--concurrency`, sized for 2 cores). Works in a fresh
database `test_<name>` on the DATABASE_URL server (created and migrated as the test runner does,
dropped at the end), then:

1. baseline: publishes `--count` no-op tasks (`bench.noop`, one Redis INCR each) through the
   same broker and worker and times them until the last has run;
2. notifications: `--count` calls of `notify()` (booking_confirmed by SMS, each in its own
   transaction, published after commit as in production), timed until every row is `sent`.

Prints throughput (notifications/s), enqueue→sent latency p50/p95/p99 (row created → sent_at),
the error count (rows that needed a retry or died) and the ratio to the baseline.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings.base")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--patients", type=int, default=100)
    options = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit(
            "Set DATABASE_URL=postgres://... (a scratch database): SQLite cannot take a worker."
        )

    workdir = Path(tempfile.mkdtemp(prefix="bench-notifications-"))
    children: list[subprocess.Popen[bytes]] = []
    from tests.support.processes import RedisServer, free_port, stop_process

    redis_server = None
    if not os.environ.get("REDIS_URL"):
        redis_server = RedisServer(workdir)
        os.environ["REDIS_URL"] = redis_server.url
    sms_port = free_port()
    os.environ["SMS_API_BASE_URL"] = f"http://127.0.0.1:{sms_port}"
    os.environ["NOTIFICATION_QUIET_HOURS"] = ""
    # As in production (.env.example): workers keep their database connection between tasks.
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
    try:
        children.append(
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [
                    sys.executable,
                    "-m",
                    "notifications.providers.sms_emulator",
                    "--port",
                    str(sms_port),
                ],
                cwd=BASE_DIR,
            )
        )
        import django
        from django.test.utils import setup_databases, teardown_databases

        django.setup()
        databases = setup_databases(verbosity=0, interactive=False)
        try:
            _run(options, workdir, children)
        finally:
            for child in reversed(children):
                stop_process(child, grace=30)
            teardown_databases(databases, verbosity=0)
    finally:
        for child in reversed(children):
            stop_process(child, grace=30)
        if redis_server is not None:
            redis_server.kill()


def _run(
    options: argparse.Namespace, workdir: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    import redis
    from django.conf import settings
    from django.db import transaction

    from bench.tasks import noop
    from notifications.models import Notification
    from notifications.services import notify
    from telehealth.celery import app
    from tests.factories import (
        make_consultation,
        make_doctor,
        make_facility,
        make_patient,
        make_staff,
        resident_id,
    )
    from tests.support.processes import wait_until

    count = options.count
    wait_until(lambda: _answers(settings.SMS_API_BASE_URL), timeout=15, what="the SMS emulator")
    from tests.support.processes import worker_database_url

    os.environ["DATABASE_URL"] = worker_database_url()
    print(f"broker {settings.REDIS_URL}, database {settings.DATABASES['default']['NAME']}")

    log = workdir / "worker.log"
    worker_name = f"bench-{uuid.uuid4().hex[:8]}@localhost"
    with log.open("wb") as log_file:
        children.append(
            subprocess.Popen(  # noqa: S603 - the virtualenv's celery
                [
                    str(Path(sys.executable).with_name("celery")),
                    "-A",
                    "telehealth",
                    "worker",
                    "-Q",
                    f"{settings.NOTIFICATIONS_QUEUE},bench",
                    "-n",
                    worker_name,
                    "--concurrency",
                    str(options.concurrency),
                    "--pool",
                    "prefork",
                    "--without-heartbeat",
                    "--without-mingle",
                    "--without-gossip",
                    "--loglevel",
                    "WARNING",
                    "--include",
                    "bench.tasks",
                ],
                cwd=BASE_DIR,
                env=dict(os.environ),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        )
    wait_until(
        lambda: bool(app.control.ping(destination=[worker_name], timeout=0.5)),
        timeout=60,
        what="the worker",
    )

    # 1. Baseline: no-op tasks through the same broker and worker.
    client = redis.Redis.from_url(settings.REDIS_URL)
    counter = f"bench:noop:{uuid.uuid4().hex}"
    started = time.monotonic()
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            noop.apply_async(args=[counter], queue="bench", producer=producer)
    published = time.monotonic() - started
    wait_until(
        lambda: int(client.get(counter) or 0) >= count,
        timeout=1800,
        interval=0.1,
        what="the no-op tasks",
    )
    baseline_seconds = time.monotonic() - started
    baseline_rate = count / baseline_seconds
    print(
        f"baseline: {count} no-op tasks in {baseline_seconds:.1f}s "
        f"({baseline_rate:.0f} tasks/s; publishing took {published:.1f}s)"
    )

    # 2. Notifications end to end.
    facility = make_facility()
    staff = make_staff(facility=facility)
    doctor = make_doctor()
    run = uuid.uuid4().hex[:8]
    consultations = []
    for n in range(options.patients):
        patient = make_patient(staff, id_number=resident_id(sequence=n % 1000), phone=f"135{n:08d}")
        consultations.append(
            make_consultation(patient=patient, doctor_user=doctor, facility=facility)
        )
    started = time.monotonic()
    for n in range(count):
        consultation = consultations[n % len(consultations)]
        with transaction.atomic():
            notify(
                event="booking_confirmed",
                recipient=consultation.patient,
                objects={"consultation": consultation.pk},
                dedupe_key=f"bench:{run}:{n}",
            )
    created_seconds = time.monotonic() - started
    rows = Notification.objects.filter(dedupe_key__startswith=f"bench:{run}:")
    wait_until(
        lambda: rows.filter(status__in=["sent", "dead"]).count() >= count,
        timeout=3600,
        interval=0.5,
        what="every notification sent",
    )
    total_seconds = time.monotonic() - started
    rate = count / total_seconds
    latencies = [
        (sent_at - created_at).total_seconds()
        for created_at, sent_at in rows.filter(status="sent").values_list("created_at", "sent_at")
        if sent_at is not None
    ]
    errors = rows.exclude(status="sent").count() + rows.filter(attempts__gt=1).count()
    accepted = httpx.get(f"{settings.SMS_API_BASE_URL}/_emulator/sms", timeout=30).json()
    print(
        f"notifications: {count} created in {created_seconds:.1f}s, all sent after "
        f"{total_seconds:.1f}s ({rate:.0f} notifications/s)"
    )
    print(
        f"enqueue→sent latency: p50 {_percentile(latencies, 0.5):.3f}s, "
        f"p95 {_percentile(latencies, 0.95):.3f}s, p99 {_percentile(latencies, 0.99):.3f}s, "
        f"mean {statistics.fmean(latencies):.3f}s"
    )
    print(
        f"errors: {errors}; SMS accepted by the emulator: {len(accepted['messages'])}, "
        f"duplicates refused: {accepted['duplicates']}"
    )
    print(
        f"ratio: notifications run at {rate / baseline_rate:.2f}× the no-op task rate "
        f"({baseline_rate / rate:.1f}× slower)"
    )


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_emulator/health", timeout=0.5).status_code == 200
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    main()
