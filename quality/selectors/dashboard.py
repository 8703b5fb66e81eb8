"""The quality dashboard's figures, per facility, city, department or doctor, over a period.

What each figure counts (the period is [start 00:00, end+1 00:00) in Asia/Shanghai):

- consultations: completed consultations that ended in the period. Their patients' feedback
  gives `satisfaction` (mean overall score, 1–5), `very_satisfied_rate` (share of responses
  scoring 5), `response_rate` (responses / invitations sent). Their waiting time is check-in to
  start, their length start to end: median and 90th percentile, by linear interpolation between
  the closest ranks (PostgreSQL's percentile_cont).
- prescriptions: versions the pharmacist decided in the period (`reviewed_at`); the rejection
  rate is rejected / decided, and per reason, rejections citing the reason / decided (a
  rejection may cite several reasons).
- reviews: clinical quality reviews completed in the period; `review_score` is the mean of all
  checklist scores given (1–5), with each item's mean beside it.
- complaints: filed in the period (and of those, flagged overdue), resolved (closed) in the
  period with the median hours from filing to closing.
- terminal uptime (facilities, cities, the whole network): online time / (online + offline)
  time in the period from the recorded status history; maintenance is left out of both.

Everything about a consultation is placed at its facility, city, department and doctor. The
number of queries is fixed (about ten) whatever the number of facilities or rows shown: grouped
aggregates in SQL; per-row data only where a figure is not additive (percentiles on databases
without percentile_cont, complaint durations, terminal timelines).
"""

import datetime
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.utils import timezone

from accounts.models import DoctorProfile, Role
from clinics.models import Department, Facility, Terminal, TerminalStatus
from consultations.models import Consultation, ConsultationStatus
from core.actors import Actor
from core.dates import local_day_start
from core.exceptions import DomainError, PermissionDeniedError
from prescriptions.models import Prescription, PrescriptionStatus, RejectionReason
from quality.models import (
    CHECKLIST,
    Complaint,
    ComplaintStatus,
    ReviewAssignment,
    ReviewStatus,
    TerminalStatusChange,
)

DIMENSIONS = ("facility", "city", "department", "doctor")
# The longest period one request may cover.
MAX_PERIOD_DAYS = 366
TOTAL_KEY = "all"
WAIT = ExpressionWrapper(F("started_at") - F("checked_in_at"), output_field=DurationField())
LENGTH = ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField())


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont over an interval (linear interpolation between ranks)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(
            expression, fraction=repr(float(fraction)), output_field=DurationField(), **extra
        )


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks, as percentile_cont computes it."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower, upper = math.floor(position), math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _ratio(numerator: float, denominator: float, places: int = 4) -> float | None:
    return round(numerator / denominator, places) if denominator else None


def _rounded(value: float | None, places: int) -> float | None:
    return round(value, places) if value is not None else None


@dataclass(frozen=True)
class Period:
    start: datetime.date
    end: datetime.date  # inclusive

    @property
    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        return local_day_start(self.start), local_day_start(self.end + datetime.timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def period_from(start: datetime.date | None, end: datetime.date | None) -> Period:
    """The period asked for; by default the 30 days up to and including today."""
    today = timezone.localdate()
    end = end or today
    start = start or end - datetime.timedelta(days=29)
    if start > end:
        raise DomainError(
            "The period ends before it starts.",
            code="period_invalid",
            fields={"end": ["On or after the start."]},
        )
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise DomainError(
            f"At most {MAX_PERIOD_DAYS} days at a time.",
            code="period_too_long",
            fields={"start": [f"At most {MAX_PERIOD_DAYS} days before the end."]},
        )
    return Period(start, end)


@dataclass
class QualityRow:
    """The figures of one facility, city, department or doctor (or of everything: the totals).
    Counters and sums are kept raw; the figures shown are computed from them."""

    key: Any
    label: str = ""
    detail: str = ""
    consultations: int = 0
    invited: int = 0
    responses: int = 0
    overall_sum: int = 0
    very_satisfied: int = 0
    wait_median_seconds: float | None = None
    wait_p90_seconds: float | None = None
    length_median_seconds: float | None = None
    length_p90_seconds: float | None = None
    prescriptions_reviewed: int = 0
    prescriptions_rejected: int = 0
    rejections_by_reason: Counter[str] = field(default_factory=Counter)
    reviews: int = 0
    review_sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECKLIST, 0))
    complaints_filed: int = 0
    complaints_overdue: int = 0
    complaints_resolved: int = 0
    resolve_median_hours: float | None = None
    online_seconds: float = 0.0
    offline_seconds: float = 0.0
    has_terminals: bool = False

    @property
    def satisfaction(self) -> float | None:
        return _ratio(self.overall_sum, self.responses, 2)

    @property
    def very_satisfied_rate(self) -> float | None:
        return _ratio(self.very_satisfied, self.responses)

    @property
    def response_rate(self) -> float | None:
        return _ratio(self.responses, self.invited)

    @property
    def rejection_rate(self) -> float | None:
        return _ratio(self.prescriptions_rejected, self.prescriptions_reviewed)

    def rejection_rate_for(self, reason: str) -> float | None:
        return _ratio(self.rejections_by_reason.get(reason, 0), self.prescriptions_reviewed)

    @property
    def review_score(self) -> float | None:
        return _ratio(sum(self.review_sums.values()), self.reviews * len(CHECKLIST), 2)

    def review_item_score(self, item: str) -> float | None:
        return _ratio(self.review_sums[item], self.reviews, 2)

    @property
    def terminal_uptime(self) -> float | None:
        observed = self.online_seconds + self.offline_seconds
        return _ratio(self.online_seconds, observed) if self.has_terminals else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "detail": self.detail,
            "consultations": self.consultations,
            "feedback_invited": self.invited,
            "feedback_responses": self.responses,
            "response_rate": self.response_rate,
            "satisfaction": self.satisfaction,
            "very_satisfied_rate": self.very_satisfied_rate,
            "wait_median_seconds": _rounded(self.wait_median_seconds, 1),
            "wait_p90_seconds": _rounded(self.wait_p90_seconds, 1),
            "length_median_seconds": _rounded(self.length_median_seconds, 1),
            "length_p90_seconds": _rounded(self.length_p90_seconds, 1),
            "prescriptions_reviewed": self.prescriptions_reviewed,
            "prescriptions_rejected": self.prescriptions_rejected,
            "rejection_rate": self.rejection_rate,
            "rejections_by_reason": {
                reason: {
                    "count": self.rejections_by_reason.get(reason, 0),
                    "rate": self.rejection_rate_for(reason),
                }
                for reason in RejectionReason.values
            },
            "reviews": self.reviews,
            "review_score": self.review_score,
            "review_items": {item: self.review_item_score(item) for item in CHECKLIST},
            "complaints_filed": self.complaints_filed,
            "complaints_overdue": self.complaints_overdue,
            "complaints_resolved": self.complaints_resolved,
            "resolve_median_hours": _rounded(self.resolve_median_hours, 2),
            "terminal_uptime": self.terminal_uptime,
        }


@dataclass(frozen=True)
class QualityDashboard:
    period: Period
    by: str
    city: str
    rows: list[QualityRow]
    totals: QualityRow


# --- Grouping ------------------------------------------------------------------------------------


def _group(by: str | None, prefix: str = "") -> Any:
    """The group key of a row, reached through `prefix` (the path to its consultation)."""
    if by is None:
        return Value(TOTAL_KEY, output_field=CharField())
    path = {
        "facility": "facility_id",
        "city": "facility__city",
        "department": "department_id",
        "doctor": "doctor_id",
    }[by]
    return F(f"{prefix}{path}")


def _scoped(rows: QuerySet[Any], prefix: str, city: str) -> QuerySet[Any]:
    return rows.filter(**{f"{prefix}facility__city": city}) if city else rows


def _grouped(rows: QuerySet[Any], by: str | None, prefix: str = "") -> QuerySet[Any]:
    # order_by(): no default ordering may sneak into the GROUP BY.
    return rows.annotate(group=_group(by, prefix)).values("group").order_by()


# --- Figures -------------------------------------------------------------------------------------


def _seconds(value: datetime.timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _consultation_figures(
    rows: dict[Any, QualityRow],
    totals: QualityRow,
    *,
    by: str,
    city: str,
    start: datetime.datetime,
    end: datetime.datetime,
) -> None:
    held = _scoped(
        Consultation.objects.filter(
            status=ConsultationStatus.COMPLETED, ended_at__gte=start, ended_at__lt=end
        ),
        "",
        city,
    )
    counts: dict[str, Any] = {
        "consultations": Count("pk"),
        "invited": Count("feedback_invitation"),
        "responses": Count("feedback_response"),
        "overall_sum": Sum("feedback_response__overall", default=0),
        "very_satisfied": Count("feedback_response", filter=Q(feedback_response__overall=5)),
    }
    percentiles: dict[str, Any] = {
        "wait_median_seconds": PercentileCont(WAIT, 0.5),
        "wait_p90_seconds": PercentileCont(WAIT, 0.9),
        "length_median_seconds": PercentileCont(LENGTH, 0.5),
        "length_p90_seconds": PercentileCont(LENGTH, 0.9),
    }
    in_sql = connection.vendor == "postgresql"
    for values in _grouped(held, by).annotate(**counts, **(percentiles if in_sql else {})):
        row = rows[values["group"]]
        for name in counts:
            setattr(row, name, values[name])
            setattr(totals, name, getattr(totals, name) + values[name])
        if in_sql:
            for name in percentiles:
                setattr(row, name, _seconds(values[name]))
    if in_sql:
        for name, value in held.aggregate(**percentiles).items():
            setattr(totals, name, _seconds(value))
        return
    waits: dict[Any, list[float]] = defaultdict(list)
    lengths: dict[Any, list[float]] = defaultdict(list)
    for group, checked_in_at, started_at, ended_at in (
        held.annotate(group=_group(by))
        .order_by()
        .values_list("group", "checked_in_at", "started_at", "ended_at")
    ):
        if started_at is not None and checked_in_at is not None:
            waits[group].append((started_at - checked_in_at).total_seconds())
        if started_at is not None and ended_at is not None:
            lengths[group].append((ended_at - started_at).total_seconds())
    for group in set(waits) | set(lengths):
        _set_duration_percentiles(rows[group], waits[group], lengths[group])
    _set_duration_percentiles(
        totals,
        [value for values in waits.values() for value in values],
        [value for values in lengths.values() for value in values],
    )


def _set_duration_percentiles(row: QualityRow, waits: list[float], lengths: list[float]) -> None:
    row.wait_median_seconds = percentile(waits, 0.5)
    row.wait_p90_seconds = percentile(waits, 0.9)
    row.length_median_seconds = percentile(lengths, 0.5)
    row.length_p90_seconds = percentile(lengths, 0.9)


def _prescription_figures(
    rows: dict[Any, QualityRow],
    totals: QualityRow,
    *,
    by: str,
    city: str,
    start: datetime.datetime,
    end: datetime.datetime,
) -> None:
    decided = _scoped(
        Prescription.objects.filter(
            reviewed_at__gte=start, reviewed_at__lt=end, pharmacist__isnull=False
        ),
        "consultation__",
        city,
    )
    rejected = Q(status=PrescriptionStatus.REJECTED)
    for values in _grouped(decided, by, "consultation__").annotate(
        reviewed=Count("pk"), rejected=Count("pk", filter=rejected)
    ):
        row = rows[values["group"]]
        row.prescriptions_reviewed = values["reviewed"]
        row.prescriptions_rejected = values["rejected"]
        totals.prescriptions_reviewed += values["reviewed"]
        totals.prescriptions_rejected += values["rejected"]
    for group, reasons in (
        decided.filter(rejected)
        .annotate(group=_group(by, "consultation__"))
        .order_by()
        .values_list("group", "rejection_reasons")
    ):
        cited = set(reasons or [])
        rows[group].rejections_by_reason.update(cited)
        totals.rejections_by_reason.update(cited)


def _review_figures(
    rows: dict[Any, QualityRow],
    totals: QualityRow,
    *,
    by: str,
    city: str,
    start: datetime.datetime,
    end: datetime.datetime,
) -> None:
    completed = _scoped(
        ReviewAssignment.objects.filter(
            status=ReviewStatus.COMPLETED, completed_at__gte=start, completed_at__lt=end
        ),
        "consultation__",
        city,
    )
    sums = {item: Sum(item, default=0) for item in CHECKLIST}
    for values in _grouped(completed, by, "consultation__").annotate(reviews=Count("pk"), **sums):
        row = rows[values["group"]]
        row.reviews = values["reviews"]
        totals.reviews += values["reviews"]
        for item in CHECKLIST:
            row.review_sums[item] = values[item]
            totals.review_sums[item] += values[item]


def _complaint_figures(
    rows: dict[Any, QualityRow],
    totals: QualityRow,
    *,
    by: str,
    city: str,
    start: datetime.datetime,
    end: datetime.datetime,
) -> None:
    complaints = _scoped(
        Complaint.objects.filter(
            Q(created_at__gte=start, created_at__lt=end)
            | Q(status=ComplaintStatus.CLOSED, closed_at__gte=start, closed_at__lt=end)
        ),
        "consultation__",
        city,
    )
    hours: dict[Any, list[float]] = defaultdict(list)
    for group, created_at, closed_at, escalated_at, status in (
        complaints.annotate(group=_group(by, "consultation__"))
        .order_by()
        .values_list("group", "created_at", "closed_at", "escalated_at", "status")
    ):
        row = rows[group]
        if start <= created_at < end:
            overdue = int(escalated_at is not None)
            row.complaints_filed += 1
            row.complaints_overdue += overdue
            totals.complaints_filed += 1
            totals.complaints_overdue += overdue
        if status == ComplaintStatus.CLOSED and closed_at is not None and start <= closed_at < end:
            row.complaints_resolved += 1
            totals.complaints_resolved += 1
            hours[group].append((closed_at - created_at).total_seconds() / 3600)
    for group, values in hours.items():
        rows[group].resolve_median_hours = percentile(values, 0.5)
    totals.resolve_median_hours = percentile([v for vs in hours.values() for v in vs], 0.5)


def terminal_online_seconds(
    *,
    initial: str | None,
    changes: Iterable[tuple[str, datetime.datetime]],
    start: datetime.datetime,
    end: datetime.datetime,
) -> tuple[float, float]:
    """(online, offline) seconds of one terminal in [start, end): `initial` is its status at
    `start` (None: not known until its first recorded change), `changes` its recorded changes
    in the period in time order. Maintenance counts as neither."""
    totals: dict[str, float] = {TerminalStatus.ONLINE: 0.0, TerminalStatus.OFFLINE: 0.0}
    status, since = initial, start
    for new_status, at in changes:
        if status in totals:
            totals[status] += (at - since).total_seconds()
        status, since = new_status, at
    if status in totals and end > since:
        totals[status] += (end - since).total_seconds()
    return totals[TerminalStatus.ONLINE], totals[TerminalStatus.OFFLINE]


def _terminal_figures(
    rows: dict[Any, QualityRow],
    totals: QualityRow,
    *,
    by: str,
    city: str,
    start: datetime.datetime,
    end: datetime.datetime,
) -> None:
    end = min(end, timezone.now())
    if end <= start:
        return
    before = (
        TerminalStatusChange.objects.filter(terminal=OuterRef("pk"), observed_at__lt=start)
        .order_by("-observed_at", "-pk")
        .values("status")[:1]
    )
    terminals = _scoped(Terminal.objects.all(), "", city)
    placed: dict[int, tuple[Any, str | None]] = {}
    for pk, facility_id, facility_city, initial in (
        terminals.annotate(initial=Subquery(before))
        .order_by()
        .values_list("pk", "facility_id", "facility__city", "initial")
    ):
        placed[pk] = ({"facility": facility_id, "city": facility_city}.get(by), initial)
    timelines: dict[int, list[tuple[str, datetime.datetime]]] = defaultdict(list)
    for terminal_id, status, observed_at in (
        TerminalStatusChange.objects.filter(
            observed_at__gte=start, observed_at__lt=end, terminal__in=terminals
        )
        .order_by("terminal_id", "observed_at", "pk")
        .values_list("terminal_id", "status", "observed_at")
    ):
        timelines[terminal_id].append((status, observed_at))
    for pk, (group, initial) in placed.items():
        if initial is None and not timelines.get(pk):
            continue  # nothing known about this terminal in the period
        online, offline = terminal_online_seconds(
            initial=initial, changes=timelines.get(pk, []), start=start, end=end
        )
        targets = [totals] if group is None else [totals, rows[group]]
        for row in targets:
            row.online_seconds += online
            row.offline_seconds += offline
            row.has_terminals = True


def _label(rows: dict[Any, QualityRow], by: str) -> None:
    keys = [key for key in rows if key is not None]
    if by == "city":
        for key in keys:
            rows[key].label = str(key)
    elif by == "facility":
        for pk, code, name, city in Facility.objects.filter(pk__in=keys).values_list(
            "pk", "code", "name", "city"
        ):
            rows[pk].label, rows[pk].detail = name, f"{code} · {city}"
    elif by == "department":
        for pk, code, name in Department.objects.filter(pk__in=keys).values_list(
            "pk", "code", "name"
        ):
            rows[pk].label, rows[pk].detail = name, code
    elif by == "doctor":
        for pk, name, title, department in DoctorProfile.objects.filter(pk__in=keys).values_list(
            "pk", "user__full_name", "title", "department__name"
        ):
            rows[pk].label, rows[pk].detail = name, f"{department} · {title}"


def quality_dashboard(
    *,
    actor: Actor,
    period: Period,
    by: str = "facility",
    city: str = "",
) -> QualityDashboard:
    """Operations only. Rows sorted by consultations (most first), then label."""
    if not actor.has_role(Role.OPERATIONS):
        raise PermissionDeniedError("The quality dashboard is for operations.")
    if by not in DIMENSIONS:
        raise DomainError(
            "Group by facility, city, department or doctor.",
            code="dimension_invalid",
            fields={"by": [f"One of {', '.join(DIMENSIONS)}."]},
        )
    start, end = period.bounds
    rows: defaultdict[Any, QualityRow] = defaultdict(lambda: QualityRow(key=None))
    totals = QualityRow(key=TOTAL_KEY)
    for figures in (
        _consultation_figures,
        _prescription_figures,
        _review_figures,
        _complaint_figures,
        _terminal_figures,
    ):
        figures(rows, totals, by=by, city=city, start=start, end=end)
    for key, row in rows.items():
        row.key = key
    rows.pop(None, None)  # consultations a walk-in token left without a doctor
    _label(rows, by)
    ordered = sorted(rows.values(), key=lambda row: (-row.consultations, row.label, str(row.key)))
    return QualityDashboard(period=period, by=by, city=city, rows=ordered, totals=totals)
