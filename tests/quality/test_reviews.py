"""Clinical quality review: the weekly sampler over a seeded week (the configured rate per doctor
and kind, repeatable from its seed, never a reviewer's own work), the database's refusal of
self-review, and scoring by the assigned reviewer only."""

import datetime
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from accounts.models import DoctorTitle, PharmacistTitle, User
from clinics.models import Department
from consultations.models import Consultation
from core.models import AuditEvent
from notifications.events import EVENTS
from notifications.models import Notification
from notifications.rendering import render
from prescriptions.models import Prescription
from quality.models import DoctorReviewRate, ReviewAssignment, ReviewSample
from quality.services.reviews import review_sample_week, sample_size
from tests.factories import api_client, make_department, make_user
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

WEEK = datetime.date(2026, 11, 16)  # a Monday
URL = "/api/v1/quality-reviews/"


@dataclass
class Week:
    cardiology: Department
    endocrinology: Department
    site: Site
    attending: User  # cardiology, reviews
    chief: User  # cardiology, reviews
    resident: User  # cardiology, too junior to review
    endocrinologist: User  # endocrinology (associate chief), reviews
    supervising: User  # pharmacist, reviews
    chief_pharmacist: User  # reviews
    junior_pharmacist: User  # too junior to review


def work(doctor: User, site: Site, count: int, *, day_offset: int = 0) -> list[Consultation]:
    """`count` consultations of the doctor completed during WEEK (spread over the days)."""
    return [
        completed_at(
            doctor=doctor,
            site=site,
            ended_at=at(WEEK + datetime.timedelta(days=(n + day_offset) % 7), "09:00")
            + datetime.timedelta(minutes=20 * n),
            record=True,
        )
        for n in range(count)
    ]


def approve(consultations: list[Consultation], pharmacists: list[User]) -> list[Prescription]:
    return [
        make_reviewed_prescription(
            consultation,
            pharmacist=pharmacists[n % len(pharmacists)],
            reviewed_at=ended(consultation) + datetime.timedelta(minutes=30),
        )
        for n, consultation in enumerate(consultations)
    ]


@pytest.fixture
def week(settings: Any) -> Week:
    settings.QUALITY_REVIEW_SAMPLE_RATE = "0.25"
    settings.QUALITY_REVIEW_MIN_PER_DOCTOR = 1
    settings.QUALITY_REVIEW_SAMPLE_SEED = "seed-a"
    cardiology, endocrinology = make_department(), make_department()
    w = Week(
        cardiology=cardiology,
        endocrinology=endocrinology,
        site=make_site(),
        attending=make_doctor_in(cardiology, title=DoctorTitle.ATTENDING),
        chief=make_doctor_in(cardiology, title=DoctorTitle.CHIEF),
        resident=make_doctor_in(cardiology, title=DoctorTitle.RESIDENT),
        endocrinologist=make_doctor_in(endocrinology, title=DoctorTitle.ASSOCIATE_CHIEF),
        supervising=make_reviewing_pharmacist(PharmacistTitle.SUPERVISING),
        chief_pharmacist=make_reviewing_pharmacist(PharmacistTitle.CHIEF),
        junior_pharmacist=make_reviewing_pharmacist(PharmacistTitle.PHARMACIST),
    )
    pharmacists = [w.supervising, w.chief_pharmacist, w.junior_pharmacist]
    attending = work(w.attending, w.site, 20)
    approve(attending[:10], pharmacists)
    chief = work(w.chief, w.site, 7, day_offset=2)
    approve(chief[:3], pharmacists)
    work(w.resident, w.site, 13, day_offset=4)
    endocrinology_work = work(w.endocrinologist, w.site, 4, day_offset=1)
    approve(endocrinology_work[:2], [w.chief_pharmacist])
    make_reviewed_prescription(
        endocrinology_work[3],
        pharmacist=w.supervising,
        reviewed_at=ended(endocrinology_work[3]) + datetime.timedelta(minutes=5),
        status="rejected",
        reasons=("dose",),
    )
    # Outside the week, or not completed: never drawn.
    completed_at(
        doctor=w.attending, site=w.site, ended_at=at(WEEK, "00:00") - datetime.timedelta(seconds=1)
    )
    completed_at(
        doctor=w.attending, site=w.site, ended_at=at(WEEK + datetime.timedelta(days=7), "00:00")
    )
    make_consultation(doctor=w.attending, site=w.site, status="cancelled")
    DoctorReviewRate.objects.create(doctor=w.resident.doctor_profile, rate=Decimal("0.5"))
    return w


def drawn(sample: ReviewSample) -> Counter[tuple[int, str]]:
    return Counter(sample.assignments.values_list("author_id", "kind").order_by())


def test_sample_size_rounds_up_with_a_minimum() -> None:
    assert [
        sample_size(population=n, rate=Decimal("0.25"), minimum=1) for n in (0, 1, 3, 4, 5, 20)
    ] == [
        0,
        1,
        1,
        1,
        2,
        5,
    ]
    assert (
        sample_size(population=2, rate=Decimal("0.1"), minimum=3) == 2
    )  # never more than there is


def test_the_week_is_sampled_at_the_configured_rate_per_doctor_and_kind(week: Week) -> None:
    sample = review_sample_week(week_start=WEEK)

    assert drawn(sample) == {
        (week.attending.pk, "consultation"): 5,  # ceil(0.25 × 20)
        (week.attending.pk, "prescription"): 3,  # ceil(0.25 × 10)
        (week.chief.pk, "consultation"): 2,  # ceil(0.25 × 7)
        (week.chief.pk, "prescription"): 1,  # ceil(0.25 × 3)
        (week.resident.pk, "consultation"): 7,  # their own rate: ceil(0.5 × 13)
        (week.endocrinologist.pk, "consultation"): 1,  # ceil(0.25 × 4)
        (
            week.endocrinologist.pk,
            "prescription",
        ): 1,  # ceil(0.25 × 2): the rejected one is not drawn
    }
    assert (sample.population, sample.assigned, sample.unassigned) == (44 + 15, 20, 0)
    assert sample.seed == "seed-a"
    assert sample.default_rate == Decimal("0.25")
    in_week = (
        ReviewAssignment.objects.filter(
            sample=sample, consultation__ended_at__gte=at(WEEK, "00:00")
        )
        .filter(consultation__ended_at__lt=at(WEEK + datetime.timedelta(days=7), "00:00"))
        .count()
    )
    assert in_week == 20


def test_nobody_reviews_their_own_work(week: Week) -> None:
    sample = review_sample_week(week_start=WEEK)
    senior_doctors = {week.attending.pk, week.chief.pk, week.endocrinologist.pk}
    senior_pharmacists = {week.supervising.pk, week.chief_pharmacist.pk}

    for assignment in sample.assignments.all():
        assert assignment.reviewer_id != assignment.author_id
        assert assignment.reviewer_id != assignment.co_author_id
        if assignment.kind == "consultation":
            assert assignment.reviewer_id in senior_doctors
            assert assignment.co_author_id is None
        else:
            assert assignment.reviewer_id in senior_pharmacists
            approved_by = Prescription.objects.get(pk=assignment.prescription_id or 0).pharmacist
            assert approved_by is not None
            assert assignment.co_author_id == approved_by.user_id
    by_author = {
        author: set(reviewers)
        for author, reviewers in _reviewers_by_author(sample, "consultation").items()
    }
    # Colleagues of the same department first: the two cardiology seniors review each other.
    assert by_author[week.attending.pk] == {week.chief.pk}
    assert by_author[week.chief.pk] == {week.attending.pk}
    assert by_author[week.resident.pk] <= {week.attending.pk, week.chief.pk}
    # Endocrinology has no other senior: a senior of another department reviews.
    assert by_author[week.endocrinologist.pk] <= {week.attending.pk, week.chief.pk}


def _reviewers_by_author(sample: ReviewSample, kind: str) -> dict[int, list[int]]:
    result: dict[int, list[int]] = {}
    for author, reviewer in sample.assignments.filter(kind=kind).values_list(
        "author_id", "reviewer_id"
    ):
        result.setdefault(author, []).append(reviewer)
    return result


def test_load_is_spread_among_eligible_reviewers(week: Week) -> None:
    sample = review_sample_week(week_start=WEEK)

    load = Counter(
        sample.assignments.filter(kind="prescription").values_list("reviewer_id", flat=True)
    )

    assert sum(load.values()) == 5
    assert max(load.values()) - min(load.values()) <= 1 or len(load) == 1


def test_the_draw_is_repeatable_from_its_seed(week: Week) -> None:
    def draw(seed: str) -> set[tuple[str, int, int]]:
        sample = review_sample_week(week_start=WEEK, seed=seed)
        rows = sample.assignments.values_list(
            "kind", "consultation_id", "prescription_id", "reviewer_id"
        )
        picked = {
            (kind, prescription_id or consultation_id, reviewer_id)
            for kind, consultation_id, prescription_id, reviewer_id in rows
        }
        Notification.objects.all().delete()
        sample.assignments.all().delete()
        sample.delete()
        return picked

    first, again, other = draw("seed-a"), draw("seed-a"), draw("seed-b")

    assert first == again
    assert other != first
    assert len(other) == len(first) == 20


def test_drawing_a_week_twice_adds_nothing(week: Week) -> None:
    first = review_sample_week(week_start=WEEK)
    second = review_sample_week(week_start=WEEK, seed="another")

    assert second.pk == first.pk
    assert ReviewAssignment.objects.count() == 20
    assert ReviewSample.objects.count() == 1


def test_a_week_must_start_on_monday() -> None:
    from core.exceptions import DomainError

    with pytest.raises(DomainError) as refused:
        review_sample_week(week_start=WEEK + datetime.timedelta(days=1))

    assert refused.value.code == "review_week_invalid"
    assert ReviewSample.objects.count() == 0


def test_work_without_an_eligible_reviewer_is_counted_not_assigned(settings: Any) -> None:
    settings.QUALITY_REVIEW_SAMPLE_RATE = "1"
    department = make_department()
    lone = make_doctor_in(department, title=DoctorTitle.CHIEF)
    work(lone, make_site(), 2)

    sample = review_sample_week(week_start=WEEK)

    assert (sample.population, sample.assigned, sample.unassigned) == (2, 0, 2)
    assert ReviewAssignment.objects.count() == 0


def test_the_database_refuses_self_review(week: Week) -> None:
    sample = review_sample_week(week_start=WEEK)
    assignment = sample.assignments.filter(kind="prescription").first()
    assert assignment is not None

    for reviewer_id in (assignment.author_id, assignment.co_author_id):
        with pytest.raises(IntegrityError), transaction.atomic():
            ReviewAssignment.objects.filter(pk=assignment.pk).update(reviewer_id=reviewer_id)

    assignment.refresh_from_db()
    assert assignment.reviewer_id not in (assignment.author_id, assignment.co_author_id)


def test_each_reviewer_is_told_once_how_much_they_have(week: Week) -> None:
    sample = review_sample_week(week_start=WEEK)

    rows = Notification.objects.filter(event="review_assigned")
    load = Counter(sample.assignments.values_list("reviewer_id", flat=True))

    assert sorted(row.recipient_user_id or 0 for row in rows) == sorted(load)
    assert {row.channel for row in rows} == {"in_app"}
    row = rows.get(recipient_user=week.chief)
    context = EVENTS["review_assigned"].build_context(row.objects_ids)  # type: ignore[misc]
    body = render(event="review_assigned", language="en", context=context).body
    assert f"{load[week.chief.pk]} consultation records or prescriptions" in body
    assert "2026-11-16" in body


# --- Scoring ---------------------------------------------------------------------------------

SCORES = {
    "record_completeness": 4,
    "diagnosis_consistency": 5,
    "rule_compliance": 3,
    "communication": 4,
    "comment": "病历书写规范，建议补充用药教育记录。",
}


def assigned_to(user: User) -> ReviewAssignment:
    assignment = ReviewAssignment.objects.filter(reviewer=user).order_by("pk").first()
    assert assignment is not None
    return assignment


def test_the_assigned_reviewer_scores_once(week: Week) -> None:
    review_sample_week(week_start=WEEK)
    assignment = assigned_to(week.chief)
    client = api_client(week.chief)
    url = f"{URL}{assignment.public_id}/"

    detail = client.get(url)
    scored = client.post(f"{url}score/", SCORES, format="json")
    again = client.post(f"{url}score/", SCORES, format="json")

    assert detail.status_code == 200
    assert detail.json()["material"]["note"]["assessment"] == "血压控制欠佳"
    assert AuditEvent.objects.filter(
        object_type="consultation",
        object_id=str(assignment.consultation.public_id),
        detail__via="quality_review",
    ).exists()
    assert scored.status_code == 200
    assert scored.json()["status"] == "completed"
    assert scored.json()["score"] == 4.0
    assert scored.json()["scores"] == {
        "record_completeness": 4,
        "diagnosis_consistency": 5,
        "rule_compliance": 3,
        "communication": 4,
    }
    assert (again.status_code, again.json()["code"]) == (409, "review_already_completed")


def test_others_cannot_score_or_read_the_material(week: Week) -> None:
    review_sample_week(week_start=WEEK)
    assignment = assigned_to(week.chief)
    url = f"{URL}{assignment.public_id}/"
    author = User.objects.get(pk=assignment.author_id)

    as_author = api_client(author).post(f"{url}score/", SCORES, format="json")
    as_other_reviewer = api_client(week.endocrinologist).get(url)
    as_operations = api_client(make_user())
    operations_view = as_operations.get(url)
    operations_score = as_operations.post(f"{url}score/", SCORES, format="json")
    as_patient = api_client(week.site.patient_user).get(url)

    assert as_author.status_code == 404
    assert as_other_reviewer.status_code == 404
    assert operations_view.status_code == 200
    assert "material" not in operations_view.json()
    assert (operations_score.status_code, operations_score.json()["code"]) == (403, "not_reviewer")
    assert as_patient.status_code == 404
    assignment.refresh_from_db()
    assert assignment.status == "assigned"


@pytest.mark.parametrize(
    "change", [{"communication": 0}, {"rule_compliance": 6}, {"record_completeness": None}]
)
def test_scores_out_of_range_are_refused(week: Week, change: dict[str, Any]) -> None:
    review_sample_week(week_start=WEEK)
    assignment = assigned_to(week.chief)

    answer = api_client(week.chief).post(
        f"{URL}{assignment.public_id}/score/", {**SCORES, **change}, format="json"
    )

    assert answer.status_code == 400
    assignment.refresh_from_db()
    assert assignment.status == "assigned"


def test_reviewers_list_only_their_own(week: Week) -> None:
    review_sample_week(week_start=WEEK)

    mine = api_client(week.chief).get(URL).json()
    everything = api_client(make_user()).get(URL).json()

    assert mine["count"] == ReviewAssignment.objects.filter(reviewer=week.chief).count()
    assert {row["reviewer"]["id"] for row in mine["results"]} == {str(week.chief.public_id)}
    assert everything["count"] == 20
    for user in (week.resident, week.junior_pharmacist, week.site.staff, week.site.patient_user):
        assert api_client(user).get(URL).json()["count"] == 0


def test_the_reviewer_scores_on_the_page(week: Week, client: Any) -> None:
    review_sample_week(week_start=WEEK)
    assignment = assigned_to(week.supervising)
    client.force_login(week.supervising)
    page = f"/quality/reviews/{assignment.public_id}/"

    listing = client.get("/quality/reviews/")
    form = client.get(page)
    saved = client.post(page, SCORES)

    assert listing.status_code == 200
    assert form.status_code == 200
    assert b'name="rule_compliance"' in form.content
    assert saved.status_code == 302
    assignment.refresh_from_db()
    assert (assignment.status, assignment.rule_compliance) == ("completed", 3)


def test_the_task_draws_last_week(week: Week) -> None:
    from quality.tasks import reviews_sample_task

    result = reviews_sample_task.apply(kwargs={"week_start": WEEK.isoformat()}).get()

    assert result == {"week_start": "2026-11-16", "population": 59, "assigned": 20, "unassigned": 0}
    assert ReviewAssignment.objects.count() == 20
