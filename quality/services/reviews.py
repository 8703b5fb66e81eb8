"""Clinical quality review: the weekly sample of each doctor's work, given to reviewers who score
it against the checklist.

The draw: for each doctor and each kind of work (completed consultations, prescriptions the
pharmacist approved) in the week, `ceil(rate × n)` items (at least QUALITY_REVIEW_MIN_PER_DOCTOR,
at most n), where the rate is the doctor's own (DoctorReviewRate) or QUALITY_REVIEW_SAMPLE_RATE.
Which items is decided by a random generator seeded with the sample's seed, the week, the kind
and the doctor, so the same week drawn again with the same seed gives the same sample.

Reviewers: consultation records go to doctors of intermediate title or above
(QUALITY_REVIEWER_DOCTOR_TITLES), preferring the author's department; prescriptions go to
pharmacists of intermediate title or above (QUALITY_REVIEWER_PHARMACIST_TITLES). Never the
author, nor the pharmacist who approved the prescription: they are left out of the candidates
here, and the database refuses such a row. Among the candidates, the one with the fewest
assignments in this sample takes the item (ties broken by the seeded order).
"""

import datetime
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import DoctorProfile, PharmacistProfile, Role, User
from consultations.models import Consultation, ConsultationStatus
from core.actors import SYSTEM_ACTOR, Actor
from core.dates import local_day_start
from core.exceptions import ConflictError, DomainError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from notifications.services import notify
from prescriptions.models import Prescription, PrescriptionStatus
from quality.models import (
    CHECKLIST,
    REVIEW_TRANSITIONS,
    SCORE_MAX,
    SCORE_MIN,
    DoctorReviewRate,
    ReviewAssignment,
    ReviewKind,
    ReviewSample,
    ReviewStatus,
)

AUDIT_OBJECT_TYPE = "quality_review"
COMMENT_MAX_CHARS = 4000


@dataclass(frozen=True)
class Work:
    """One piece of work that may be drawn."""

    kind: str
    pk: int  # the consultation's or the prescription's
    consultation_id: int
    doctor_id: int
    department_id: int
    author_id: int
    co_author_id: int | None


@dataclass(frozen=True)
class Reviewer:
    user_id: int
    department_id: int | None  # doctors only


def week_bounds(week_start: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """[Monday 00:00, next Monday 00:00) in Asia/Shanghai."""
    if week_start.weekday() != 0:
        raise DomainError(
            "A review week starts on a Monday.",
            code="review_week_invalid",
            fields={"week_start": ["Give a Monday."]},
        )
    return local_day_start(week_start), local_day_start(week_start + datetime.timedelta(days=7))


def previous_week_start(today: datetime.date) -> datetime.date:
    """The Monday of the week before the one `today` is in."""
    return today - datetime.timedelta(days=today.weekday() + 7)


def sample_size(*, population: int, rate: Decimal, minimum: int) -> int:
    """ceil(rate × population), at least `minimum`, never more than the population."""
    if population <= 0:
        return 0
    return min(population, max(minimum, math.ceil(rate * population)))


def _work_of_week(start: datetime.datetime, end: datetime.datetime) -> list[Work]:
    consultations = Consultation.objects.filter(
        status=ConsultationStatus.COMPLETED,
        ended_at__gte=start,
        ended_at__lt=end,
        doctor__isnull=False,
    ).values_list("pk", "doctor_id", "department_id", "doctor__user_id")
    prescriptions = (
        Prescription.objects.filter(
            reviewed_at__gte=start, reviewed_at__lt=end, pharmacist__isnull=False
        )
        .exclude(status=PrescriptionStatus.REJECTED)
        .values_list(
            "pk",
            "consultation_id",
            "doctor_id",
            "consultation__department_id",
            "doctor__user_id",
            "pharmacist__user_id",
        )
    )
    work = [
        Work(ReviewKind.CONSULTATION, pk, pk, doctor_id, department_id, author_id, None)
        for pk, doctor_id, department_id, author_id in consultations
    ]
    work += [
        Work(ReviewKind.PRESCRIPTION, pk, consultation_id, doctor_id, dept_id, author_id, co_id)
        for pk, consultation_id, doctor_id, dept_id, author_id, co_id in prescriptions
    ]
    return work


def _reviewers() -> dict[str, list[Reviewer]]:
    doctors = DoctorProfile.objects.filter(
        title__in=settings.QUALITY_REVIEWER_DOCTOR_TITLES,
        user__is_active=True,
        user__role=Role.DOCTOR,
    ).values_list("user_id", "department_id")
    pharmacists = PharmacistProfile.objects.filter(
        title__in=settings.QUALITY_REVIEWER_PHARMACIST_TITLES,
        user__is_active=True,
        user__role=Role.PHARMACIST,
    ).values_list("user_id", flat=True)
    return {
        ReviewKind.CONSULTATION: [Reviewer(uid, dept) for uid, dept in doctors.order_by("user_id")],
        ReviewKind.PRESCRIPTION: [Reviewer(uid, None) for uid in pharmacists.order_by("user_id")],
    }


def _draw(
    work: list[Work], *, seed: str, week_start: datetime.date, default_rate: Decimal
) -> list[Work]:
    """Each doctor's share of each kind, drawn with a generator seeded per doctor and kind."""
    rates = dict(DoctorReviewRate.objects.values_list("doctor_id", "rate"))
    groups: dict[tuple[str, int], list[Work]] = defaultdict(list)
    for item in work:
        groups[(item.kind, item.doctor_id)].append(item)
    drawn: list[Work] = []
    for (kind, doctor_id), items in sorted(groups.items()):
        items.sort(key=lambda item: item.pk)
        size = sample_size(
            population=len(items),
            rate=rates.get(doctor_id, default_rate),
            minimum=settings.QUALITY_REVIEW_MIN_PER_DOCTOR,
        )
        # A sample, not a secret: a seeded generator makes the draw repeatable and auditable.
        generator = random.Random(f"{seed}|{week_start.isoformat()}|{kind}|{doctor_id}")  # noqa: S311
        drawn += sorted(generator.sample(items, size), key=lambda item: item.pk)
    return drawn


def _eligible(item: Work, reviewers: list[Reviewer]) -> list[Reviewer]:
    """Everyone of the kind's pool but the author and the approving pharmacist; for a record,
    colleagues of the author's department when there are any."""
    own = {item.author_id, item.co_author_id}
    candidates = [reviewer for reviewer in reviewers if reviewer.user_id not in own]
    if item.kind == ReviewKind.CONSULTATION:
        same_department = [r for r in candidates if r.department_id == item.department_id]
        return same_department or candidates
    return candidates


def review_sample_week(
    *,
    week_start: datetime.date,
    seed: str | None = None,
    now: datetime.datetime | None = None,
) -> ReviewSample:
    """Draw the week's sample and assign it (once per week: drawing a week again returns the
    sample already drawn). Each reviewer is told in-app how many items they have."""
    start, end = week_bounds(week_start)
    now = now or timezone.now()
    seed = seed if seed is not None else settings.QUALITY_REVIEW_SAMPLE_SEED
    default_rate = Decimal(str(settings.QUALITY_REVIEW_SAMPLE_RATE))
    existing = ReviewSample.objects.filter(week_start=week_start).first()
    if existing is not None:
        return existing
    work = _work_of_week(start, end)
    drawn = _draw(work, seed=seed, week_start=week_start, default_rate=default_rate)
    pools = _reviewers()
    # Ties in load go to reviewers in a seeded order, not always to the oldest account.
    everyone = sorted({reviewer.user_id for pool in pools.values() for reviewer in pool})
    random.Random(f"{seed}|{week_start.isoformat()}|reviewers").shuffle(everyone)  # noqa: S311
    rank = {user_id: position for position, user_id in enumerate(everyone)}
    load: dict[int, int] = defaultdict(int)
    due_at = end + datetime.timedelta(days=settings.QUALITY_REVIEW_DUE_DAYS)
    rows: list[ReviewAssignment] = []
    unassigned = 0
    for item in drawn:
        candidates = _eligible(item, pools[item.kind])
        if not candidates:
            unassigned += 1
            continue
        chosen = min(candidates, key=lambda r: (load[r.user_id], rank[r.user_id]))
        if chosen.user_id in (item.author_id, item.co_author_id):  # never; the rule stated twice
            raise AssertionError("a reviewer was about to review their own work")
        load[chosen.user_id] += 1
        rows.append(
            ReviewAssignment(
                kind=item.kind,
                consultation_id=item.consultation_id,
                prescription_id=item.pk if item.kind == ReviewKind.PRESCRIPTION else None,
                doctor_id=item.doctor_id,
                author_id=item.author_id,
                co_author_id=item.co_author_id,
                reviewer_id=chosen.user_id,
                assigned_at=now,
                due_at=due_at,
            )
        )
    with transaction.atomic(durable=True):
        sample, created = ReviewSample.objects.get_or_create(
            week_start=week_start,
            defaults={
                "seed": seed,
                "default_rate": default_rate,
                "population": len(work),
                "assigned": len(rows),
                "unassigned": unassigned,
            },
        )
        if not created:  # a twin run got there first
            return sample
        for row in rows:
            row.sample = sample
        ReviewAssignment.objects.bulk_create(rows)
        audit_record(
            actor=SYSTEM_ACTOR,
            action=AuditAction.CREATE,
            object_type="quality_review_sample",
            object_ids=[sample.week_start.isoformat()],
            detail={"seed": seed, "population": len(work), "assigned": len(rows)},
        )
        reviewers = User.objects.in_bulk(sorted(load))
        for reviewer_id in sorted(load):
            notify(
                event="review_assigned",
                recipient=reviewers[reviewer_id],
                objects={"sample": sample.pk, "reviewer": reviewer_id},
                dedupe_key=f"review-sample:{sample.pk}:assigned",
                now=now,
            )
    return sample


@dataclass(frozen=True)
class ReviewScores:
    record_completeness: int
    diagnosis_consistency: int
    rule_compliance: int
    communication: int
    comment: str = ""


def review_score(
    *,
    actor: Actor,
    assignment: ReviewAssignment,
    scores: ReviewScores,
    now: datetime.datetime | None = None,
) -> ReviewAssignment:
    """The assigned reviewer scores the checklist (1–5 each), once."""
    fields: dict[str, list[str]] = {}
    for item in CHECKLIST:
        value = getattr(scores, item)
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not (SCORE_MIN <= value <= SCORE_MAX)
        ):
            fields[item] = [f"Score {SCORE_MIN} to {SCORE_MAX}."]
    if len(scores.comment) > COMMENT_MAX_CHARS:
        fields["comment"] = [f"At most {COMMENT_MAX_CHARS} characters."]
    if fields:
        raise DomainError(
            "Score every item of the checklist.", code="review_scores_invalid", fields=fields
        )
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        locked = ReviewAssignment.objects.select_for_update().get(pk=assignment.pk)
        if actor.user_id is None or locked.reviewer_id != actor.user_id:
            raise PermissionDeniedError(
                "Only the assigned reviewer scores this.", code="not_reviewer"
            )
        if locked.reviewer_id in (locked.author_id, locked.co_author_id):
            raise ConflictError("Nobody reviews their own work.", code="review_own_work")
        if ReviewStatus.COMPLETED not in REVIEW_TRANSITIONS[locked.status]:
            raise ConflictError(
                "This review is already scored.",
                code="review_already_completed",
                extra={"status": locked.status},
            )
        for item in CHECKLIST:
            setattr(locked, item, getattr(scores, item))
        locked.comment = scores.comment.strip()
        locked.status = ReviewStatus.COMPLETED
        locked.completed_at = now
        locked.save(update_fields=[*CHECKLIST, "comment", "status", "completed_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"status": [ReviewStatus.ASSIGNED, ReviewStatus.COMPLETED]},
        )
    return locked
