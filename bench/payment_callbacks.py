"""Provider callbacks per second through the full handler, against a bare handler that only
verifies the signature (and decrypts) and replies, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \
        .venv/bin/python bench/payment_callbacks.py [--count 500] [--threads 4]

Works in a fresh database `test_<name>` on the DATABASE_URL server (created and migrated as the
test runner does, dropped at the end) and a throwaway `redis-server` as the broker, with no
worker: what a paid order sets off is published, as in production, not run in the handler.
For each provider (WeChat Pay: SHA256-RSA over the headers and body, then AES-256-GCM; Alipay:
RSA2 over the form), it prepares `--count` pending orders whose payer has paid at the emulated
provider, and one genuine signed callback for each (signed just before the clock starts).
Then, timed, on `--threads` threads:

1. bare: `callback_bare_handle` — verify and reply, nothing stored;
2. full: `callback_handle` — verify, store the callback, lock the order, check merchant, app,
   order and amount, pay the order through the ledger (with its notification rows), reply;
3. full again: the same callbacks redelivered (stored once, found, answered from the first
   outcome, no second effect).

Prints callbacks/s for each, the full/bare ratio, and checks that every order was paid once.

`--profile` instead runs the first deliveries one after another on this thread under cProfile
and prints where the time goes (the functions with the most cumulative and own time).
"""

import argparse
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings.base")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profile", action="store_true", help="profile the full handler")
    options = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://... (a scratch database server).")

    import tempfile

    import django
    from django.test.utils import setup_databases, teardown_databases

    from tests.support.processes import RedisServer

    workdir = Path(tempfile.mkdtemp(prefix="bench-payment-callbacks-"))
    # Keys of their own for this run. A throwaway broker with no worker: as in production, the
    # handler only publishes what a paid order sets off (notifications, fulfilment) after commit.
    os.environ["PAYMENT_KEYS_DIR"] = str(workdir / "keys")
    redis_server = RedisServer(workdir)
    os.environ["REDIS_URL"] = redis_server.url
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    try:
        django.setup()
        databases = setup_databases(verbosity=0, interactive=False, serialized_aliases=set())
        try:
            for provider in ("wechatpay", "alipay"):
                _run(provider, options)
        finally:
            teardown_databases(databases, verbosity=0)
    finally:
        redis_server.kill()


def _prepare(provider: str, count: int) -> list[Any]:
    """`count` pending orders paid at the provider, and one signed callback for each."""
    from bench.load.prepare import paid_at_provider, signed_callbacks
    from payments.services import order_choose_fulfilment
    from tests.consultations.builders import make_visit
    from tests.factories import make_patient_user
    from tests.payments.factories import Sale, create_order, make_drug, make_prescription

    visit = make_visit("completed")
    user = make_patient_user(visit.patient)
    drug = make_drug()
    attempts = []
    for _ in range(count):
        prescription = make_prescription(visit, items=((drug, 1),))
        sale = Sale(
            visit=visit,
            prescription=prescription,
            order=create_order(prescription),
            patient_user=user,
        )
        order_choose_fulfilment(actor=sale.patient_actor, order=sale.order, method="pickup")
        sale.refresh()
        attempts.append(paid_at_provider(sale, provider=provider))
    # Signed last: the handler refuses callbacks older than PAYMENT_NOTIFICATION_MAX_AGE_SECONDS.
    return list(signed_callbacks(attempts))


def _timed(label: str, handle: Callable[[Any], bool], callbacks: list[Any], threads: int) -> float:
    from django.db import connection

    def work(callback: Any) -> bool:
        try:
            return handle(callback)
        finally:
            connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        accepted = sum(pool.map(work, callbacks))
    seconds = time.perf_counter() - started
    rate = len(callbacks) / seconds
    print(
        f"  {label:<44} {len(callbacks)} in {seconds:6.2f}s  {rate:8.1f} callbacks/s  "
        f"(accepted {accepted})"
    )
    return rate


def _profile(handle: Callable[[Any], bool], callbacks: list[Any]) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    accepted = sum(handle(callback) for callback in callbacks)
    profiler.disable()
    seconds = time.perf_counter() - started
    print(
        f"  profiled {len(callbacks)} first deliveries on one thread: {seconds:.2f}s, "
        f"{1000 * seconds / len(callbacks):.1f} ms each (accepted {accepted})"
    )
    for order in ("cumulative", "tottime"):
        pstats.Stats(profiler).strip_dirs().sort_stats(order).print_stats(18)


def _run(provider: str, options: argparse.Namespace) -> None:
    from payments.models import PaymentEvent, PaymentOrder
    from payments.services.callbacks import callback_bare_handle, callback_handle

    started = time.perf_counter()
    callbacks = _prepare(provider, options.count)
    print(
        f"{provider}: {options.count} signed callbacks prepared in "
        f"{time.perf_counter() - started:.1f}s; {options.threads} threads"
    )

    def bare(callback: Any) -> bool:
        reply = callback_bare_handle(
            provider=provider, headers=callback.headers, body=callback.body
        )
        return reply.status in (200, 204) and reply.body != b"failure"

    def full(callback: Any) -> bool:
        reply = callback_handle(provider=provider, headers=callback.headers, body=callback.body)
        return reply.status in (200, 204) and reply.body != b"failure"

    if options.profile:
        _profile(full, callbacks)
        return
    bare_rate = _timed("bare (verify + reply)", bare, callbacks, options.threads)
    full_rate = _timed(
        "full handler, first delivery (pays the order)", full, callbacks, options.threads
    )
    again_rate = _timed(
        "full handler, redelivery (no second effect)", full, callbacks, options.threads
    )
    paid = PaymentOrder.objects.filter(status="paid", attempts__provider=provider).count()
    effects = PaymentEvent.objects.filter(kind="paid", provider=provider).count()
    print(
        f"  full/bare: {full_rate / bare_rate:.2f} (first), {again_rate / bare_rate:.2f} "
        f"(redelivery); orders paid {paid}/{options.count}, ledger effects {effects}"
    )


if __name__ == "__main__":
    main()
