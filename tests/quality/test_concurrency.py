"""Races against PostgreSQL with real threads: the same survey answered twelve times at once,
twin escalation runs, twin weekly draws. One response, one flag, one sample; never a 500."""

import datetime
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from core.actors import actor_for_user
from notifications.models import Notification
from quality.links import feedback_token
from quality.models import (
    ComplaintEvent,
    FeedbackInvitation,
    FeedbackResponse,
    ReviewAssignment,
    ReviewSample,
)
from quality.services.complaints import complaint_file, complaints_escalate_overdue
from quality.services.feedback import feedback_invitations_send
from quality.services.reviews import review_sample_week
from tests.consultations.builders import make_visit
from tests.factories import make_department, make_patient_user, make_user
from tests.quality.builders import at, completed_at, make_doctor_in, make_site

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ANSWERS = {"overall": 4, "waiting_time": 4, "audio_video": 5, "explanation": 4}


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call at the same moment, each in its own thread with its own connection."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=60)
            result = call()
            with lock:
                results.append(result)
        except BaseException as error:  # reported below; a dead thread must not hide
            with lock:
                failures.append(error)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_a_survey_answered_twelve_times_at_once_is_stored_once() -> None:
    visit = make_visit("completed")
    visit.consultation.ended_at = timezone.now() - datetime.timedelta(minutes=30)
    visit.consultation.save(update_fields=["ended_at"])
    assert feedback_invitations_send() == 1
    invitation = FeedbackInvitation.objects.get()
    url = f"/api/v1/feedback/{feedback_token(invitation.public_id)}/"

    def answer() -> tuple[int, str]:
        response = APIClient().post(url, ANSWERS, format="json")
        return response.status_code, response.json().get("code", "")

    outcomes = Counter(race([answer] * 12))

    assert outcomes == {(201, ""): 1, (409, "feedback_already_submitted"): 11}
    assert FeedbackResponse.objects.count() == 1
    invitation.refresh_from_db()
    assert invitation.responded_at is not None


def test_twin_escalation_runs_flag_and_notify_once() -> None:
    visit = make_visit("completed")
    patient_user = make_patient_user(visit.patient)
    filed_at = timezone.now() - datetime.timedelta(hours=30)
    complaint = complaint_file(
        actor=actor_for_user(patient_user),
        subject_kind="consultation",
        subject_id=visit.consultation.public_id,
        description="医生态度冷淡",
        now=filed_at,
    )
    make_user()
    make_user()

    flagged = race([complaints_escalate_overdue] * 6)

    assert sorted(flagged) == [0, 0, 0, 0, 0, 1]
    assert ComplaintEvent.objects.filter(complaint=complaint, action="escalated").count() == 1
    assert Notification.objects.filter(event="complaint_overdue").count() == 2


def test_twin_weekly_draws_make_one_sample(settings: Any) -> None:
    settings.QUALITY_REVIEW_SAMPLE_RATE = "0.05"
    settings.QUALITY_REVIEW_MIN_PER_DOCTOR = 1
    week = datetime.date(2026, 11, 16)
    department = make_department()
    author = make_doctor_in(department)
    make_doctor_in(department)
    site = make_site()
    for n in range(8):
        completed_at(
            doctor=author,
            site=site,
            ended_at=at(week, "09:00") + datetime.timedelta(minutes=20 * n),
        )

    samples = race([lambda: review_sample_week(week_start=week).pk] * 4)

    assert len(set(samples)) == 1
    assert ReviewSample.objects.count() == 1
    assert ReviewAssignment.objects.count() == 1  # ceil(0.05 × 8)
