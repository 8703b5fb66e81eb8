"""`python -m bench.load`: run the scenarios against the platform started as in production."""

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.load.stats import Summary, ratio

# Working set per side of the scenarios that consume theirs, sized for the default 20 s on two
# cores (more is prepared than a side uses: preparing costs 0.03-0.2 s an item).
DEFAULT_ITEMS = {
    "booking": 1500,
    "sign": 600,
    "callback-wechatpay": 400,
    "callback-alipay": 400,
    "pickup": 400,
    "mixed": 800,
}
# The keys of bench.load.scenarios.SCENARIOS, known before Django is set up.
SCENARIO_NAMES = (
    "slot-search",
    "booking",
    "doctor-queue",
    "sign",
    "callback-wechatpay",
    "callback-alipay",
    "pickup",
    "tracking-page",
    "mixed",
)


def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description="Load benchmarks of the hot paths, each against its bare baseline, on an "
        "existing populated database (never created or dropped here).",
    )
    parser.add_argument(
        "--database-url", required=True, help="postgres://user@host:port/name (populated)"
    )
    parser.add_argument("--scenario", default="all", choices=["all", *SCENARIO_NAMES])
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--duration", type=float, default=20.0, help="recorded seconds per side")
    parser.add_argument("--warmup", type=float, default=3.0, help="unrecorded seconds first")
    parser.add_argument(
        "--items",
        type=int,
        default=None,
        help="working set per side of the scenarios that consume theirs (bookings, drafts, "
        f"payments, pickups; default {DEFAULT_ITEMS}); a side that runs out stops and says so",
    )
    parser.add_argument(
        "--pin", help="the doctors' signing PIN (default: seed_demo's and seed_scale's)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args(argv)
    if not options.database_url.startswith("postgres"):
        parser.error("--database-url must be a postgres:// URL (a populated database)")
    return options


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _side(summary: Summary) -> str:
    return (
        f"{summary.requests:>6} req {summary.errors:>4} err {summary.throughput:>7.1f}/s "
        f"p50/95/99 {_ms(summary.p50_ms)}/{_ms(summary.p95_ms)}/{_ms(summary.p99_ms)} ms"
    )


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _line(name: str, real: Summary, baseline: Summary) -> str:
    line = (
        f"{name:<19} real {_side(real)} | baseline {_side(baseline)} | real/baseline "
        f"throughput {_ratio(ratio(real.throughput, baseline.throughput))} "
        f"p50 {_ratio(ratio(real.p50_ms, baseline.p50_ms))}"
    )
    for side, summary in (("real", real), ("baseline", baseline)):
        if summary.ran_out:
            line += f" [{side}: {summary.ran_out}]"
        if summary.error_kinds:
            line += f" [{side} errors: {summary.error_kinds}]"
    return line


def main(argv: list[str] | None = None) -> None:
    options = _options(argv)
    from bench.load.stack import running_stack

    with running_stack(database_url=options.database_url) as stack:
        import django

        django.setup()
        _run(options, stack.base_url)


def _run(options: argparse.Namespace, base_url: str) -> None:
    from django.db import connection

    from bench.load import prepare
    from bench.load.driver import drive
    from bench.load.scenarios import SCENARIOS, Options
    from bench.load.stack import wait_for_idle_worker

    names = list(SCENARIO_NAMES) if options.scenario == "all" else [options.scenario]
    sizes = prepare.counts()
    database = connection.settings_dict["NAME"]
    print(
        f"database {database}: {sizes['consultations']} consultations, "
        f"{sizes['patients']} patients; server {base_url} (uvicorn x2, DEBUG off, Celery "
        f"worker); concurrency {options.concurrency}, warm-up {options.warmup:g} s, "
        f"{options.duration:g} s per side; load average {_load()}",
        flush=True,
    )
    # A desk (staff at a facility) and a doctor per request in flight, and more: requests that
    # share a doctor's signing credential or a facility's shelf wait for each other's locks.
    context = prepare.load_context(
        sites=max(4, options.concurrency), doctors=max(8, 2 * options.concurrency)
    )
    pin = options.pin or prepare.DEMO_SIGNING_PIN
    results: dict[str, Any] = {}
    for name in names:
        started = time.monotonic()
        items = options.items or DEFAULT_ITEMS.get(name, 0)
        sides = SCENARIOS[name](context, Options(items=items, pin=pin))
        prepared_in = time.monotonic() - started
        print(f"{name}: prepared {sides.prepared} in {prepared_in:.1f} s", flush=True)
        summaries = {}
        for side, calls in (("real", sides.real), ("baseline", sides.baseline)):
            wait_for_idle_worker()
            summaries[side] = drive(
                base_url,
                calls,
                concurrency=options.concurrency,
                warmup=options.warmup,
                duration=options.duration,
            )
        real, baseline = summaries["real"], summaries["baseline"]
        print(_line(name, real, baseline), flush=True)
        results[name] = {
            "prepared": sides.prepared,
            "prepare_seconds": round(prepared_in, 1),
            "load_average": os.getloadavg(),
            "real": real.as_json(),
            "baseline": baseline.as_json(),
            "ratio": {
                "throughput": ratio(real.throughput, baseline.throughput),
                "p50": ratio(real.p50_ms, baseline.p50_ms),
            },
        }
    print(f"load average {_load()}", flush=True)
    if options.json:
        options.json.write_text(
            json.dumps(
                {
                    "database": {"name": database, **sizes},
                    "options": {
                        "concurrency": options.concurrency,
                        "duration": options.duration,
                        "warmup": options.warmup,
                        "items": options.items or DEFAULT_ITEMS,
                    },
                    "scenarios": results,
                },
                indent=2,
            )
        )


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
