"""The quality dashboard against figures worked out by hand on a small dataset (three facilities
in two cities, two departments, three doctors, one week), its CSV export and charts, and a query
count that does not grow with the number of facilities.

The hand computation (seconds; percentiles interpolate between the closest ranks):

facility 1 (广州市): c1 wait 120 len 600 ★5; c2 wait 360 len 900 ★4; c3 wait 60 len 480, no answer
    waits 60,120,360 → median 120, p90 = 120 + 0.8·240 = 312; lengths 480,600,900 → 600, 840
    prescriptions: 4 decided, 2 rejected (dose+interaction, dose) → 0.5; dose 0.5, interaction 0.25
    reviews: (4,5,3,4) and (5,5,5,5) → 36/8 = 4.5; complaints: 3 filed, 1 overdue, 1 resolved in 6 h
    terminals: T1 online 6 days, offline 1; T2 online 2 days, then maintenance → 8/9 = 0.8889
facility 2 (广州市): c4 wait 600 len 1200 ★3; c5 wait 180 len 600, not invited
    waits → median 390, p90 558; lengths → 900, 1140; 1 decided, 0 rejected; review (2,3,3,4) → 3.0
    1 complaint filed, resolved in 72 h; a terminal never recorded → no uptime
facility 3 (深圳市): c6 wait 240 len 720 ★5; 1 decided, rejected (allergy); a complaint filed before
    the week, resolved in it after 72 h; T3 offline 6 days, online 1 → 1/7 = 0.1429
all: 6 consultations, 5 invited, 4 answers (5,4,3,5) → 4.25, rate 0.8, very satisfied 0.5;
    waits 60,120,180,240,360,600 → 210, 480; lengths 480,600,600,720,900,1200 → 660, 1050;
    6 decided, 3 rejected → 0.5; dose 2/6, interaction 1/6, allergy 1/6; 3 reviews → 48/12 = 4.0;
    4 filed, 1 overdue, 3 resolved (6, 72, 72 h) → median 72; uptime (6+2+1)/(6+2+1+1+6) = 0.5625
"""

import csv
import datetime
import io
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import DoctorTitle, PharmacistTitle, User
from clinics.models import Terminal
from consultations.models import Consultation
from core.actors import actor_for_user
from core.exceptions import PermissionDeniedError
from quality.models import (
    Complaint,
    FeedbackInvitation,
    FeedbackResponse,
    ReviewAssignment,
    ReviewSample,
    TerminalStatusChange,
)
from quality.selectors.dashboard import (
    Period,
    percentile,
    quality_dashboard,
    terminal_online_seconds,
)
from tests.factories import api_client, make_department, make_terminal, make_user
from tests.quality.builders import (
    Site,
    at,
    completed_at,
    ended,
    make_consultation,
    make_doctor_in,
    make_reviewed_prescription,
    make_reviewing_pharmacist,
    make_site,
)

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)


def first_day() -> datetime.date:
    """A Monday at least a week in the past, so the whole week has happened."""
    today = timezone.localdate()
    return today - datetime.timedelta(days=today.weekday() + 14)


@dataclass
class Dataset:
    period: Period
    sites: list[Site]
    consultations: list[Consultation]
    doctors: list[User]
    operator: User


def consultation(
    doctor: User, site: Site, day: datetime.date, checked_in: str, started: str, ended: str
) -> Consultation:
    return completed_at(
        doctor=doctor,
        site=site,
        checked_in_at=at(day, checked_in),
        started_at=at(day, started),
        ended_at=at(day, ended),
    )


def feedback(consultation: Consultation, overall: int | None) -> None:
    """An invitation, and the patient's answer when `overall` is given."""
    invitation = FeedbackInvitation.objects.create(
        consultation=consultation,
        patient=consultation.patient,
        invited_at=ended(consultation) + HOUR,
        expires_at=ended(consultation) + 7 * DAY,
    )
    if overall is not None:
        FeedbackResponse.objects.create(
            invitation=invitation,
            consultation=consultation,
            overall=overall,
            waiting_time=3,
            audio_video=3,
            explanation=3,
            submitted_at=ended(consultation) + 2 * HOUR,
        )


def review(
    sample: ReviewSample,
    consultation: Consultation,
    reviewer: User,
    scores: tuple[int, int, int, int] | None,
    completed_at: datetime.datetime,
    prescription: Any = None,
) -> None:
    assert consultation.doctor is not None
    ReviewAssignment.objects.create(
        sample=sample,
        kind="prescription" if prescription else "consultation",
        consultation=consultation,
        prescription=prescription,
        doctor=consultation.doctor,
        author=consultation.doctor.user,
        reviewer=reviewer,
        status="completed" if scores else "assigned",
        assigned_at=completed_at - DAY,
        due_at=completed_at + DAY,
        completed_at=completed_at if scores else None,
        **(
            dict(
                zip(
                    [
                        "record_completeness",
                        "diagnosis_consistency",
                        "rule_compliance",
                        "communication",
                    ],
                    scores,
                    strict=True,
                )
            )
            if scores
            else {}
        ),
    )


def complaint(
    consultation: Consultation,
    operator: User,
    created_at: datetime.datetime,
    closed_at: datetime.datetime | None = None,
    escalated: bool = False,
) -> None:
    Complaint.objects.create(
        subject_kind="consultation",
        consultation=consultation,
        facility=consultation.facility,
        patient=consultation.patient,
        complainant=operator,
        complainant_role="patient",
        description="等候过久",
        status="closed" if closed_at else "triaged",
        category="waiting",
        severity="medium",
        assignee=operator,
        due_at=created_at + 5 * DAY,
        triaged_at=created_at,
        closed_at=closed_at,
        resolution="已致歉" if closed_at else "",
        escalated_at=created_at + 5 * DAY if escalated else None,
        created_at=created_at,
    )


def status_changes(terminal: Terminal, *changes: tuple[datetime.datetime, str]) -> None:
    TerminalStatusChange.objects.bulk_create(
        TerminalStatusChange(terminal=terminal, observed_at=when, status=status)
        for when, status in changes
    )


@pytest.fixture
def dataset() -> Dataset:
    monday = first_day()
    days = [monday + datetime.timedelta(days=n) for n in range(7)]
    start = at(monday, "00:00")
    end = start + 7 * DAY
    d1, d2 = make_department(name="心血管内科"), make_department(name="内分泌科")
    x = make_doctor_in(d1, title=DoctorTitle.ATTENDING, name="李文华")
    y = make_doctor_in(d1, title=DoctorTitle.CHIEF, name="王建国")
    z = make_doctor_in(d2, title=DoctorTitle.ATTENDING, name="陈敏")
    f1 = make_site(city="广州市", name="大参林药店（越秀东风店）")
    f2 = make_site(city="广州市", name="海珠区江海街社区卫生服务站")
    f3 = make_site(city="深圳市", name="南山区蛇口社区健康服务中心")
    operator = make_user()

    c1 = consultation(x, f1, days[0], "09:00:00", "09:02:00", "09:12:00")
    c2 = consultation(x, f1, days[1], "10:00:00", "10:06:00", "10:21:00")
    c3 = consultation(y, f1, days[2], "14:00:00", "14:01:00", "14:09:00")
    c4 = consultation(y, f2, days[3], "09:00:00", "09:10:00", "09:30:00")
    c5 = consultation(z, f2, days[3], "11:00:00", "11:03:00", "11:13:00")
    c6 = consultation(z, f3, days[4], "08:00:00", "08:04:00", "08:16:00")
    # Not in the figures: ended the day before, and cancelled.
    before = completed_at(doctor=x, site=f1, ended_at=start - HOUR)
    feedback(before, 1)
    make_consultation(doctor=x, site=f1, status="cancelled", started_at=start + HOUR)
    for c, overall in ((c1, 5), (c2, 4), (c3, None), (c4, 3), (c6, 5)):
        feedback(c, overall)

    pharmacist = make_reviewing_pharmacist(PharmacistTitle.CHIEF)
    decided = [
        (c1, "approved", ()),
        (c2, "rejected", ("dose", "interaction")),
        (c3, "rejected", ("dose",)),
        (c3, "approved", ()),
        (c4, "approved", ()),
        (c6, "rejected", ("allergy",)),
    ]
    prescriptions = [
        make_reviewed_prescription(
            c, pharmacist=pharmacist, reviewed_at=ended(c) + HOUR, status=s, reasons=r
        )
        for c, s, r in decided
    ]
    make_reviewed_prescription(
        c1, pharmacist=pharmacist, reviewed_at=start - HOUR, status="rejected", reasons=("other",)
    )

    sample = ReviewSample.objects.create(
        week_start=monday - datetime.timedelta(days=7), seed="s", default_rate="0.1"
    )
    reviewer = make_doctor_in(d2, title=DoctorTitle.CHIEF)
    review(sample, c1, reviewer, (4, 5, 3, 4), start + 2 * DAY)
    review(sample, c2, reviewer, (5, 5, 5, 5), start + 3 * DAY, prescription=prescriptions[1])
    review(sample, c4, reviewer, (2, 3, 3, 4), start + 4 * DAY)
    review(sample, c3, reviewer, (1, 1, 1, 1), end + HOUR)  # completed after the week
    review(sample, c6, reviewer, None, start + 4 * DAY)  # not scored yet

    complaint(c1, operator, at(days[1], "10:00"), closed_at=at(days[1], "16:00"))
    complaint(c2, operator, at(days[2], "09:00"), escalated=True)
    complaint(c4, operator, at(days[0], "08:00"), closed_at=at(days[3], "08:00"))
    complaint(c6, operator, start - 2 * DAY + 12 * HOUR, closed_at=at(days[1], "12:00"))
    complaint(c3, operator, at(days[5], "10:00"), closed_at=end + DAY)

    t1 = make_terminal(f1.facility).terminal
    t2 = make_terminal(f1.facility).terminal
    t3 = make_terminal(f3.facility).terminal
    make_terminal(f2.facility)  # never recorded: no figure
    status_changes(
        t1,
        (start - DAY, "online"),
        (start + DAY, "offline"),
        (start + 2 * DAY, "online"),
        (end + HOUR, "offline"),
    )
    status_changes(t2, (start + 3 * DAY, "online"), (start + 5 * DAY, "maintenance"))
    status_changes(t3, (start - 3 * DAY, "offline"), (start + 6 * DAY, "online"))

    return Dataset(
        period=Period(monday, monday + datetime.timedelta(days=6)),
        sites=[f1, f2, f3],
        consultations=[c1, c2, c3, c4, c5, c6],
        doctors=[x, y, z],
        operator=operator,
    )


def figures(dataset: Dataset, by: str = "facility", city: str = "") -> dict[Any, dict[str, Any]]:
    dashboard = quality_dashboard(
        actor=actor_for_user(dataset.operator), period=dataset.period, by=by, city=city
    )
    rows = {row.key: row.as_dict() for row in dashboard.rows}
    rows["all"] = dashboard.totals.as_dict()
    return rows


def reasons(row: dict[str, Any]) -> dict[str, tuple[int, float | None]]:
    return {
        reason: (value["count"], value["rate"])
        for reason, value in row["rejections_by_reason"].items()
        if value["count"]
    }


def test_per_facility_figures_equal_the_hand_computed_ones(dataset: Dataset) -> None:
    rows = figures(dataset)
    f1, f2, f3 = (rows[site.facility.pk] for site in dataset.sites)

    assert set(rows) == {site.facility.pk for site in dataset.sites} | {"all"}
    assert f1["label"] == "大参林药店（越秀东风店）"
    expected_consultations = {
        "consultations": (3, 2, 1, 6),
        "feedback_invited": (3, 1, 1, 5),
        "feedback_responses": (2, 1, 1, 4),
        "satisfaction": (4.5, 3.0, 5.0, 4.25),
        "very_satisfied_rate": (0.5, 0.0, 1.0, 0.5),
        "response_rate": (0.6667, 1.0, 1.0, 0.8),
        "wait_median_seconds": (120.0, 390.0, 240.0, 210.0),
        "wait_p90_seconds": (312.0, 558.0, 240.0, 480.0),
        "length_median_seconds": (600.0, 900.0, 720.0, 660.0),
        "length_p90_seconds": (840.0, 1140.0, 720.0, 1050.0),
    }
    expected_rest = {
        "prescriptions_reviewed": (4, 1, 1, 6),
        "prescriptions_rejected": (2, 0, 1, 3),
        "rejection_rate": (0.5, 0.0, 1.0, 0.5),
        "reviews": (2, 1, 0, 3),
        "review_score": (4.5, 3.0, None, 4.0),
        "complaints_filed": (3, 1, 0, 4),
        "complaints_overdue": (1, 0, 0, 1),
        "complaints_resolved": (1, 1, 1, 3),
        "resolve_median_hours": (6.0, 72.0, 72.0, 72.0),
        "terminal_uptime": (0.8889, None, 0.1429, 0.5625),
    }
    for name, values in {**expected_consultations, **expected_rest}.items():
        assert (f1[name], f2[name], f3[name], rows["all"][name]) == values, name
    assert reasons(f1) == {"dose": (2, 0.5), "interaction": (1, 0.25)}
    assert reasons(f2) == {}
    assert reasons(f3) == {"allergy": (1, 1.0)}
    assert reasons(rows["all"]) == {
        "dose": (2, 0.3333),
        "interaction": (1, 0.1667),
        "allergy": (1, 0.1667),
    }
    assert f1["review_items"] == {
        "record_completeness": 4.5,
        "diagnosis_consistency": 5.0,
        "rule_compliance": 4.0,
        "communication": 4.5,
    }
    assert rows["all"]["review_items"] == {
        "record_completeness": 3.67,
        "diagnosis_consistency": 4.33,
        "rule_compliance": 3.67,
        "communication": 4.33,
    }


def test_per_city_department_and_doctor(dataset: Dataset) -> None:
    x, y, z = (doctor.doctor_profile for doctor in dataset.doctors)

    cities = figures(dataset, by="city")
    departments = figures(dataset, by="department")
    doctors = figures(dataset, by="doctor")

    guangzhou = cities["广州市"]
    assert (guangzhou["consultations"], guangzhou["satisfaction"]) == (5, 4.0)
    assert (guangzhou["very_satisfied_rate"], guangzhou["response_rate"]) == (0.3333, 0.75)
    assert (guangzhou["wait_median_seconds"], guangzhou["wait_p90_seconds"]) == (180.0, 504.0)
    assert (guangzhou["length_median_seconds"], guangzhou["length_p90_seconds"]) == (600.0, 1080.0)
    assert (guangzhou["terminal_uptime"], cities["深圳市"]["terminal_uptime"]) == (0.8889, 0.1429)
    assert (guangzhou["complaints_filed"], guangzhou["complaints_resolved"]) == (4, 2)
    cardiology, endocrinology = departments[x.department_id], departments[z.department_id]
    assert (cardiology["consultations"], cardiology["satisfaction"]) == (4, 4.0)
    assert (cardiology["wait_median_seconds"], cardiology["wait_p90_seconds"]) == (240.0, 528.0)
    assert (cardiology["length_median_seconds"], cardiology["length_p90_seconds"]) == (
        750.0,
        1110.0,
    )
    assert (endocrinology["wait_median_seconds"], endocrinology["wait_p90_seconds"]) == (
        210.0,
        234.0,
    )
    assert (cardiology["terminal_uptime"], departments["all"]["terminal_uptime"]) == (None, 0.5625)
    assert cardiology["label"] == "心血管内科"
    assert (doctors[x.pk]["wait_median_seconds"], doctors[x.pk]["wait_p90_seconds"]) == (
        240.0,
        336.0,
    )
    assert (doctors[y.pk]["satisfaction"], doctors[y.pk]["response_rate"]) == (3.0, 0.5)
    assert (doctors[z.pk]["consultations"], doctors[z.pk]["rejection_rate"]) == (2, 1.0)
    assert doctors[x.pk]["label"] == "李文华"


def test_a_city_filter_keeps_its_facilities_only(dataset: Dataset) -> None:
    rows = figures(dataset, city="深圳市")

    assert set(rows) == {dataset.sites[2].facility.pk, "all"}
    assert rows["all"]["consultations"] == 1
    assert rows["all"]["terminal_uptime"] == 0.1429


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([60, 120, 360], 0.9) == pytest.approx(312)
    assert percentile([1, 2, 3, 4], 0.5) == 2.5


def test_terminal_time_counts_online_and_offline_only() -> None:
    start = timezone.now().replace(microsecond=0)
    changes = [(s, start + n * HOUR) for n, s in enumerate(["online", "maintenance", "offline"], 1)]

    four_hours_later, an_hour_later = start + 4 * HOUR, start + HOUR

    changing = terminal_online_seconds(
        initial=None, changes=changes, start=start, end=four_hours_later
    )
    steady = terminal_online_seconds(initial="online", changes=[], start=start, end=an_hour_later)

    assert changing == (3600.0, 3600.0)
    assert steady == (3600.0, 0.0)


def test_only_operations_read_the_dashboard(dataset: Dataset) -> None:
    for user in (dataset.doctors[0], dataset.sites[0].staff, dataset.sites[0].patient_user):
        with pytest.raises(PermissionDeniedError):
            quality_dashboard(actor=actor_for_user(user), period=dataset.period)


# --- API, CSV and the page -------------------------------------------------------------------


def test_the_api_and_the_csv_carry_the_same_figures(dataset: Dataset) -> None:
    client = api_client(dataset.operator)
    query = f"?start={dataset.period.start}&end={dataset.period.end}&by=facility"

    body = client.get(f"/api/v1/quality/dashboard/{query}").json()
    export = client.get(f"/api/v1/quality/dashboard/export/{query}")

    assert body["totals"]["satisfaction"] == 4.25
    assert [row["consultations"] for row in body["rows"]] == [3, 2, 1]
    assert export.status_code == 200
    assert export["Content-Type"] == "text/csv; charset=utf-8"
    text = export.content.decode("utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [line["label"] for line in lines] == [
        "大参林药店（越秀东风店）",
        "海珠区江海街社区卫生服务站",
        "南山区蛇口社区健康服务中心",
        "",
    ]
    assert [line["facility"] for line in lines][-1] == "all"
    assert [line["satisfaction"] for line in lines] == ["4.5", "3.0", "5.0", "4.25"]
    assert [line["wait_p90_seconds"] for line in lines] == ["312.0", "558.0", "240.0", "480.0"]
    assert [line["rejection_rate_dose"] for line in lines] == ["0.5", "0.0", "0.0", "0.3333"]
    assert [line["terminal_uptime"] for line in lines] == ["0.8889", "", "0.1429", "0.5625"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?start=2026-02-10&end=2026-02-01", "period_invalid"),
        ("?start=2024-01-01&end=2026-01-01", "period_too_long"),
        ("?by=province", "validation_error"),
    ],
)
def test_a_bad_query_is_refused(dataset: Dataset, query: str, code: str) -> None:
    answer = api_client(dataset.operator).get(f"/api/v1/quality/dashboard/{query}")

    assert answer.status_code == 400
    assert answer.json()["code"] == code


def test_the_page_draws_the_charts_and_the_table(dataset: Dataset, client: Any) -> None:
    client.force_login(dataset.operator)
    query = f"?start={dataset.period.start}&end={dataset.period.end}"

    page = client.get(f"/quality/{query}")
    export = client.get(f"/quality/export.csv{query}&by=city")

    assert page.status_code == 200
    content = page.content.decode()
    for chart in ("chart-satisfaction", "chart-waiting", "chart-rejections"):
        assert f'id="{chart}"' in content
    assert content.count("<svg") == 3
    assert "<script>" not in content  # no inline script: the CSP allows none
    assert "大参林药店（越秀东风店）" in content
    assert "4.25" in content  # the network's satisfaction
    assert export.status_code == 200
    assert export.content.decode("utf-8-sig").splitlines()[1].startswith("广州市,广州市,")


# --- Queries stay constant as facilities grow ------------------------------------------------


def grow(facilities: int, doctor: User, operator: User) -> None:
    """Facilities with a consultation answered, a prescription decided, a complaint and a
    recorded terminal each, inside the dataset's week."""
    monday = first_day()
    pharmacist = make_reviewing_pharmacist(PharmacistTitle.CHIEF)
    for n in range(facilities):
        site = make_site(city="佛山市")
        c = consultation(doctor, site, monday, "09:00:00", f"09:{10 + n:02d}:00", "10:00:00")
        feedback(c, 4)
        make_reviewed_prescription(
            c,
            pharmacist=pharmacist,
            reviewed_at=ended(c) + HOUR,
            status="rejected",
            reasons=("dose",),
        )
        complaint(c, operator, ended(c) + HOUR, closed_at=ended(c) + 3 * HOUR)
        status_changes(make_terminal(site.facility).terminal, (at(monday, "00:00"), "online"))


@pytest.mark.parametrize("by", ["facility", "city", "department", "doctor"])
def test_queries_do_not_grow_with_the_facilities(
    dataset: Dataset, by: str, django_assert_max_num_queries: Any
) -> None:
    actor = actor_for_user(dataset.operator)

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            dashboard = quality_dashboard(actor=actor, period=dataset.period, by=by)
        return len(queries.captured_queries), len(dashboard.rows)

    small, small_rows = count()
    grow(12, dataset.doctors[0], dataset.operator)
    with django_assert_max_num_queries(small):
        large, large_rows = count()

    assert large == small
    assert small <= 10
    if by == "facility":
        assert (small_rows, large_rows) == (3, 15)
