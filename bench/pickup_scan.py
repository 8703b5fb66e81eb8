"""Pickup scans per second through the API, and the same code scanned by many desks at once.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \
        .venv/bin/python bench/pickup_scan.py [--count 300] [--threads 4] [--desks 20 --rounds 10]

Works in a fresh database `test_<name>` on the DATABASE_URL server (created and migrated as the
test runner does, dropped at the end) with a throwaway `redis-server` as the broker and no
worker (what a transaction sets off is published, not run). Prepares `--count` paid pickups at
one pharmacy (two drugs each, shelves stocked), then, timed:

1. distinct codes: every pickup scanned once over `POST /api/v1/fulfilments/pickup/` by staff
   of the facility on `--threads` threads (each scan: prescription, order, fulfilment and two
   shelf rows locked, prescription dispensed, dispense, movements, events, audit rows);
2. one code, many desks: `--rounds` pickups, each scanned by `--desks` desks at the same moment
   (one dispense, the others `409 already_dispensed`).

Prints scans/s and latency p50/p95 for 1, the time a round takes for 2, and checks the outcome
(every pickup dispensed once, no shelf below zero, no server error).
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings.base")
# The production request path: DEBUG makes whitenoise rescan the static files on every request.
os.environ.setdefault("DJANGO_DEBUG", "false")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--desks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    options = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://... (a scratch database server).")

    import django
    from django.test.utils import setup_databases, teardown_databases

    from tests.support.processes import RedisServer

    workdir = Path(tempfile.mkdtemp(prefix="bench-pickup-scan-"))
    redis_server = RedisServer(workdir)
    os.environ["REDIS_URL"] = redis_server.url
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    try:
        django.setup()
        databases = setup_databases(verbosity=0, interactive=False)
        try:
            _run(options)
        finally:
            teardown_databases(databases, verbosity=0)
    finally:
        redis_server.kill()


def _run(options: argparse.Namespace) -> None:
    from django.db import connection
    from django.test import Client
    from rest_framework_simplejwt.tokens import RefreshToken

    from pharmacy.models import Dispense, FacilityStock, Fulfilment
    from tests.consultations.builders import make_visit
    from tests.factories import make_staff
    from tests.pharmacy.builders import make_paid_order, make_prescription, start, stock_up
    from tests.prescriptions.builders import make_drug

    visit = make_visit("completed")
    drugs = [make_drug(), make_drug()]
    total = options.count + options.rounds
    for drug in drugs:
        stock_up(visit.facility, drug, total * 2)
    codes = []
    for _ in range(total):
        rx = make_prescription(visit, items=[(drugs[0], 1), (drugs[1], 1)])
        codes.append(start(make_paid_order(rx)).pickup_code)
    desks = max(options.threads, options.desks)
    tokens = [
        f"Bearer {RefreshToken.for_user(make_staff(facility=visit.facility)).access_token}"
        for _ in range(desks)
    ]
    connection.close()
    database = connection.settings_dict["NAME"]
    print(f"{total} paid pickups ready at {visit.facility.code}; database {database}")

    def scan(desk: int, code: str) -> tuple[int, str, float]:
        client = Client(raise_request_exception=False, SERVER_NAME="localhost")
        started = time.perf_counter()
        response = client.post(
            "/api/v1/fulfilments/pickup/",
            {"code": code},
            content_type="application/json",
            headers={"Authorization": tokens[desk]},
        )
        elapsed = time.perf_counter() - started
        connection.close()
        body = response.json()
        return response.status_code, body.get("code", ""), elapsed

    # 1. Distinct codes on --threads threads.
    distinct = codes[: options.count]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=options.threads) as pool:
        results = list(
            pool.map(lambda n: scan(n % options.threads, distinct[n]), range(len(distinct)))
        )
    seconds = time.perf_counter() - started
    outcomes = Counter((status, code) for status, code, _ in results)
    latencies = [elapsed * 1000 for _, _, elapsed in results]
    print(
        f"distinct codes: {len(distinct)} scans on {options.threads} threads in {seconds:.1f}s "
        f"= {len(distinct) / seconds:.0f} scans/s; latency p50 "
        f"{statistics.median(latencies):.0f} ms, p95 {_percentile(latencies, 0.95):.0f} ms; "
        f"outcomes {dict(outcomes)}"
    )

    # 2. One code, many desks at once, round after round.
    round_seconds = []
    contested: Counter[tuple[int, str]] = Counter()
    for code in codes[options.count :]:
        barrier = threading.Barrier(options.desks)

        def desk_scan(
            desk: int, code: str = code, barrier: Any = barrier
        ) -> tuple[int, str, float]:
            barrier.wait(timeout=60)
            return scan(desk, code)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=options.desks) as pool:
            answers = list(pool.map(desk_scan, range(options.desks)))
        round_seconds.append(time.perf_counter() - started)
        contested.update((status, reason) for status, reason, _ in answers)
    print(
        f"one code, {options.desks} desks: {options.rounds} rounds, median "
        f"{statistics.median(round_seconds) * 1000:.0f} ms a round; outcomes {dict(contested)}"
    )

    dispensed = Dispense.objects.count()
    negative = FacilityStock.objects.filter(quantity__lt=0).count()
    picked_up = Fulfilment.objects.filter(status="picked_up").count()
    ok = (
        dispensed == picked_up == total
        and negative == 0
        and contested[(200, "")] == options.rounds
        and not any(status >= 500 for status, _ in outcomes | contested)
    )
    print(
        f"check: {dispensed} dispenses for {total} pickups, shelves below zero: {negative}: "
        f"{'OK' if ok else 'FAILED'}"
    )
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
