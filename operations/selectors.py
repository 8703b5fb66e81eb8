"""The operations dashboard's figures: reads across the network, for operations only.

Each function is a fixed number of queries whatever the number of rows (aggregates in the
database, related rows prefetched), so a page of 9,000 facilities costs what a page of ten does.
Lists that carry patient data go through their apps' selectors, which scope and audit them.
"""

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Role
from clinics.models import Facility, Terminal, TerminalStatus
from consultations.models import Consultation, ConsultationStatus
from core.actors import Actor
from core.dates import local_day_bounds, local_day_start
from core.exceptions import PermissionDeniedError
from core.models import AuditEvent
from payments.models import RECEIPT_KINDS, LedgerKind, OrderStatus, PaymentEvent, PaymentOrder

# Consultations that did not take place: left out of the per-day chart.
NOT_HELD = (ConsultationStatus.CANCELLED, ConsultationStatus.NO_SHOW)


def require_operations(actor: Actor) -> None:
    if not actor.has_role(Role.OPERATIONS):
        raise PermissionDeniedError("The dashboard is for operations.")


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


def _counts_by_status(
    rows: Iterable[Mapping[str, Any]], choices: list[tuple[str, str]]
) -> list[StatusCount]:
    """Every status of the choices, in their order, zero where there were none."""
    found = {str(row["status"]): int(row["n"]) for row in rows}
    return [StatusCount(value, label, found.get(value, 0)) for value, label in choices]


def consultations_today_by_status(*, actor: Actor, today: datetime.date) -> list[StatusCount]:
    require_operations(actor)
    start, end = local_day_bounds(today)
    rows = (
        Consultation.objects.filter(scheduled_start__gte=start, scheduled_start__lt=end)
        .values("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return _counts_by_status(rows, ConsultationStatus.choices)


def terminals_by_status(*, actor: Actor) -> list[StatusCount]:
    require_operations(actor)
    rows = Terminal.objects.values("status").annotate(n=Count("pk")).order_by()
    return _counts_by_status(rows, TerminalStatus.choices)


@dataclass(frozen=True)
class PaymentsToday:
    received_fen: int
    receipts: int
    refunded_fen: int
    refunds: int
    pending_orders: int
    orders_needing_attention: int


def payments_today(*, actor: Actor, today: datetime.date) -> PaymentsToday:
    """Money in and out today by the ledger (not the orders' cached amounts), and the orders
    that wait: on the payer, or on a person (late or duplicate payments, failed refunds)."""
    require_operations(actor)
    start, end = local_day_bounds(today)
    ledger = PaymentEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end).aggregate(
        received=Sum("amount_fen", filter=Q(kind__in=RECEIPT_KINDS), default=0),
        receipts=Count("pk", filter=Q(kind__in=RECEIPT_KINDS, amount_fen__gt=0)),
        refunded=Sum("amount_fen", filter=Q(kind=LedgerKind.REFUND_SUCCEEDED), default=0),
        refunds=Count("pk", filter=Q(kind=LedgerKind.REFUND_SUCCEEDED)),
    )
    orders = PaymentOrder.objects.aggregate(
        pending=Count("pk", filter=Q(status=OrderStatus.PENDING)),
        attention=Count("pk", filter=Q(needs_attention=True)),
    )
    return PaymentsToday(
        received_fen=ledger["received"],
        receipts=ledger["receipts"],
        refunded_fen=ledger["refunded"],
        refunds=ledger["refunds"],
        pending_orders=orders["pending"],
        orders_needing_attention=orders["attention"],
    )


@dataclass(frozen=True)
class DailySeries:
    days: list[datetime.date]
    values: list[int]


def _last_days(today: datetime.date, days: int) -> list[datetime.date]:
    return [today - datetime.timedelta(days=back) for back in range(days - 1, -1, -1)]


def _series(days: list[datetime.date], rows: Iterable[Mapping[str, Any]]) -> DailySeries:
    found = {row["day"]: int(row["value"] or 0) for row in rows}
    return DailySeries(days=days, values=[found.get(day, 0) for day in days])


def consultations_per_day(*, actor: Actor, today: datetime.date, days: int = 30) -> DailySeries:
    """Consultations held or booked per local day of their slot (cancelled and no-shows left
    out), the last `days` days up to today."""
    require_operations(actor)
    span = _last_days(today, days)
    tz = timezone.get_default_timezone()
    rows = (
        Consultation.objects.filter(
            scheduled_start__gte=local_day_start(span[0]),
            scheduled_start__lt=local_day_bounds(today)[1],
        )
        .exclude(status__in=NOT_HELD)
        .annotate(day=TruncDate("scheduled_start", tzinfo=tz))
        .values("day")
        .annotate(value=Count("pk"))
        .order_by()
    )
    return _series(span, rows)


def ledger_per_day(
    *, actor: Actor, today: datetime.date, kinds: Iterable[str], days: int = 30
) -> DailySeries:
    """Fen per local day of the ledger entries of `kinds` (receipts: revenue; refund_succeeded:
    money returned), the last `days` days up to today."""
    require_operations(actor)
    span = _last_days(today, days)
    tz = timezone.get_default_timezone()
    rows = (
        PaymentEvent.objects.filter(
            kind__in=list(kinds),
            occurred_at__gte=local_day_start(span[0]),
            occurred_at__lt=local_day_bounds(today)[1],
        )
        .annotate(day=TruncDate("occurred_at", tzinfo=tz))
        .values("day")
        .annotate(value=Sum("amount_fen"))
        .order_by()
    )
    return _series(span, rows)


def facilities_with_terminals(
    *, actor: Actor, city: str = "", facility_type: str = "", offline_only: bool = False
) -> QuerySet[Facility]:
    """Facilities (filtered) with their terminal counts, and their terminals prefetched by the
    page that is shown: one query for the page, one for its terminals."""
    require_operations(actor)
    facilities = Facility.objects.annotate(
        terminals_total=Count("terminals", distinct=True),
        terminals_offline=Count(
            "terminals", filter=Q(terminals__status=TerminalStatus.OFFLINE), distinct=True
        ),
    ).prefetch_related(Prefetch("terminals", Terminal.objects.order_by("serial")))
    if city:
        facilities = facilities.filter(city=city)
    if facility_type:
        facilities = facilities.filter(facility_type=facility_type)
    if offline_only:
        facilities = facilities.filter(terminals_offline__gt=0)
    return facilities.order_by("code")


def facility_cities(*, actor: Actor) -> list[str]:
    require_operations(actor)
    return list(Facility.objects.values_list("city", flat=True).distinct().order_by("city"))


def audit_events(
    *, actor: Actor, object_type: str = "", object_id: str = "", actor_username: str = ""
) -> QuerySet[AuditEvent]:
    """The audit log, newest first, filtered by what was touched and by whom."""
    require_operations(actor)
    events = AuditEvent.objects.select_related("actor").order_by("-occurred_at", "-pk")
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    if actor_username:
        events = events.filter(actor__username=actor_username)
    return events
