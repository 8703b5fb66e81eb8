"""The load benchmark's scenarios: for each, the working sets of the real endpoint and of its
bare baseline (bench/baselines.py), made before the clock starts, as iterators of HTTP calls
carrying the credentials the real clients carry (a staff member's or a doctor's JWT, the
provider's signed notification, the patient's session cookie).

Read-only scenarios cycle through their working set; the others consume it (a slot is booked
once, a draft signed once, a payment notified once, a pickup handed over once) and stop the run
when it runs out.
"""

import datetime
import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from django.utils import timezone

from bench.load import prepare
from bench.load.driver import Call
from bench.load.prepare import Context
from clinics.selectors import departments_active
from consultations.models import ConsultationStatus

API = "/api/v1"
BASELINE = "/bench/baseline"


@dataclass(frozen=True)
class Sides:
    real: Iterator[Call]
    baseline: Iterator[Call]
    prepared: str  # what the working sets are, for the report


@dataclass(frozen=True)
class Options:
    items: int  # per side, for the working sets a run consumes
    pin: str


def _split(calls: list[tuple[Call, Call]]) -> tuple[list[Call], list[Call]]:
    return [real for real, _ in calls], [baseline for _, baseline in calls]


# --- Read-only ---------------------------------------------------------------------------------


def slot_search(context: Context, options: Options) -> Sides:
    """Staff look for a department's free slots on one of the next seven days."""
    today = timezone.localdate()
    departments = [department.public_id for department in departments_active()]
    queries = [
        f"?department={department}&date={today + datetime.timedelta(days=d)}&available=true"
        for department in departments
        for d in range(7)
    ]
    context.rng.shuffle(queries)
    headers = [prepare.bearer(site.staff) for site in context.sites]
    pairs = [
        (
            Call("GET", f"{API}/slots/{query}", headers[n % len(headers)]),
            Call("GET", f"{BASELINE}/slots/{query}", headers[n % len(headers)]),
        )
        for n, query in enumerate(queries)
    ]
    real, baseline = _split(pairs)
    return Sides(
        itertools.cycle(real),
        itertools.cycle(baseline),
        f"{len(departments)} departments x 7 days, {len(headers)} staff",
    )


def doctor_queue(context: Context, options: Options) -> Sides:
    """Doctors refresh their queue; each has patients checked in and one in progress."""
    waiting_per_doctor = 4
    prepare.visits(
        context,
        len(context.doctors) * waiting_per_doctor,
        status=ConsultationStatus.CHECKED_IN,
    )
    prepare.visits(context, len(context.doctors))
    headers = [prepare.bearer(doctor) for doctor in context.doctors]
    return Sides(
        itertools.cycle([Call("GET", f"{API}/consultations/queue/", h) for h in headers]),
        itertools.cycle([Call("GET", f"{BASELINE}/consultations/queue/", h) for h in headers]),
        f"{len(headers)} doctors, each with {waiting_per_doctor} checked in and 1 in progress",
    )


def tracking_page(context: Context, options: Options) -> Sides:
    """Patients look at their delivery's tracking page (signed in on their phone)."""
    count = 2 * len(context.sites)
    visits = prepare.visits(context, count)
    fulfilments = prepare.tracked_deliveries(context, visits, steps=3)
    cookies = {
        f.pk: prepare.session_cookie(prepare.patient_account(f.patient)) for f in fulfilments
    }
    real = [Call("GET", f"/m/fulfilments/{f.public_id}/", cookies[f.pk]) for f in fulfilments]
    baseline = [
        Call("GET", f"{BASELINE}/m/fulfilments/{f.public_id}/", cookies[f.pk]) for f in fulfilments
    ]
    return Sides(
        itertools.cycle(real),
        itertools.cycle(baseline),
        f"{count} deliveries dispatched, 3 tracking reports each",
    )


# --- Consumed ------------------------------------------------------------------------------------


def booking(context: Context, options: Options) -> Sides:
    """Staff book a new patient into a free slot (up to 3 upcoming bookings each)."""

    # One draw for both sides: no slot is in both working sets.
    drawn = prepare.bookings(context, 2 * options.items)
    per_side = len(drawn) // 2

    def calls(prefix: str, triples: list[prepare.Booking]) -> list[Call]:
        return [
            Call(
                "POST",
                f"{prefix}/consultations/",
                prepare.bearer(b.site.staff),
                json={"patient": str(b.patient.public_id), "slot": str(b.slot.public_id)},
            )
            for b in triples
        ]

    real = calls(API, drawn[:per_side])
    baseline = calls(BASELINE, drawn[per_side : 2 * per_side])
    return Sides(iter(real), iter(baseline), f"{len(real)} + {len(baseline)} free slots")


def sign(context: Context, options: Options) -> Sides:
    """Doctors sign a draft prescription with their signing PIN."""
    per_visit = 10

    def calls(prefix: str) -> list[Call]:
        visits = prepare.visits(context, -(-options.items // per_visit))
        headers = {visit.doctor.pk: prepare.bearer(visit.doctor) for visit in visits}
        drafts = prepare.drafts(context, visits, per_visit)[: options.items]
        context.rng.shuffle(drafts)  # doctors interleaved, as in a clinic
        return [
            Call(
                "POST",
                f"{prefix}/prescriptions/{draft.public_id}/sign/",
                headers[draft.doctor.user_id],
                json={"pin": options.pin},
            )
            for draft in drafts
        ]

    real, baseline = calls(API), calls(BASELINE)
    return Sides(
        iter(real),
        iter(baseline),
        f"{len(real)} + {len(baseline)} drafts of {len(context.doctors)} doctors",
    )


def _accepted(provider: str) -> Callable[[httpx.Response], str]:
    """WeChat Pay reads 204; Alipay reads the body, exactly `success`."""

    def check(response: httpx.Response) -> str:
        if provider == "alipay" and response.content != b"success":
            return f"answered {response.content[:20]!r}"
        return ""

    return check


def _payment_callback(provider: str) -> Callable[[Context, Options], Sides]:
    def scenario(context: Context, options: Options) -> Sides:
        visits = prepare.visits(context, len(context.sites))

        def attempts() -> list[Any]:
            return prepare.pending_payments(context, visits, options.items, provider=provider)

        real_attempts, baseline_attempts = attempts(), attempts()
        # Signed last: the handler refuses notifications older than five minutes.
        real = [
            Call(
                "POST",
                f"{API}/payments/notify/{provider}",
                c.headers,
                body=c.body,
                check=_accepted(provider),
            )
            for c in prepare.signed_callbacks(real_attempts)
        ]
        baseline = [
            Call(
                "POST",
                f"{BASELINE}/payments/notify/{provider}/{attempt.out_trade_no}",
                c.headers,
                body=c.body,
            )
            for attempt, c in zip(
                baseline_attempts, prepare.signed_callbacks(baseline_attempts), strict=True
            )
        ]
        return Sides(
            iter(real),
            iter(baseline),
            f"{len(real)} + {len(baseline)} pending orders paid at the {provider} emulator",
        )

    scenario.__doc__ = f"{provider} notifies the payment of a pickup order (signed)."
    return scenario


def pickup(context: Context, options: Options) -> Sides:
    """Staff of the pickup facility type the patient's pickup code."""

    def calls(prefix: str) -> list[Call]:
        visits = prepare.visits(context, len(context.sites))
        staff = {visit.facility.pk: prepare.bearer(visit.staff) for visit in visits}
        fulfilments = prepare.paid_pickups(context, visits, options.items)
        return [
            Call(
                "POST",
                f"{prefix}/fulfilments/pickup/",
                staff[f.facility_id],
                json={"code": f.pickup_code},
            )
            for f in fulfilments
        ]

    real, baseline = calls(API), calls(BASELINE)
    return Sides(iter(real), iter(baseline), f"{len(real)} + {len(baseline)} paid pickups")


# --- The mix -----------------------------------------------------------------------------------

# A clinic day's proportions: many reads (queues refreshed, slots searched, tracking pages),
# fewer writes.
MIX_WEIGHTS = {
    "slot-search": 25,
    "doctor-queue": 25,
    "tracking-page": 15,
    "booking": 10,
    "sign": 5,
    "callback-wechatpay": 5,
    "callback-alipay": 5,
    "pickup": 10,
}


def _mixed(sources: dict[str, Iterator[Call]], seed: int) -> Iterator[Call]:
    """Draw each call's kind by MIX_WEIGHTS; stops when any kind's working set runs out."""
    rng = random.Random(seed)  # noqa: S311 - a request mix, not secrets
    names = list(sources)
    weights = [MIX_WEIGHTS[name] for name in names]
    while True:
        name = rng.choices(names, weights)[0]
        call = next(sources[name], None)
        if call is None:
            return
        yield call


def mixed_journey(context: Context, options: Options) -> Sides:
    """Every scenario at once, in clinic-day proportions."""
    total = sum(MIX_WEIGHTS.values())
    sides: dict[str, Sides] = {}
    # Payment notifications last: they must be younger than five minutes when sent.
    for name, weight in sorted(MIX_WEIGHTS.items(), key=lambda kv: kv[0].startswith("callback")):
        items = max(20, -(-options.items * weight // total))
        sides[name] = SCENARIOS[name](context, Options(items=items, pin=options.pin))
    return Sides(
        _mixed({name: s.real for name, s in sides.items()}, seed=1),
        _mixed({name: s.baseline for name, s in sides.items()}, seed=1),
        ", ".join(f"{name} {weight}" for name, weight in MIX_WEIGHTS.items()),
    )


SCENARIOS: dict[str, Callable[[Context, Options], Sides]] = {
    "slot-search": slot_search,
    "booking": booking,
    "doctor-queue": doctor_queue,
    "sign": sign,
    "callback-wechatpay": _payment_callback("wechatpay"),
    "callback-alipay": _payment_callback("alipay"),
    "pickup": pickup,
    "tracking-page": tracking_page,
    "mixed": mixed_journey,
}
