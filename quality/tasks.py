"""Quality tasks: thin wrappers over the services, all periodic (beat), all safe to run twice."""

import datetime
from typing import Any

from django.utils import timezone

from core.tasks import project_task
from quality.services import complaints, feedback, reviews, terminals


@project_task(name="quality.feedback_invite")
def feedback_invite_task() -> int:
    """Invite the patients of recently completed consultations to rate them."""
    return feedback.feedback_invitations_send()


@project_task(name="quality.feedback_reminders")
def feedback_reminders_task() -> int:
    return feedback.feedback_reminders_send()


@project_task(name="quality.complaints_escalate")
def complaints_escalate_task() -> int:
    return complaints.complaints_escalate_overdue()


@project_task(name="quality.reviews_sample", soft_time_limit=300, time_limit=360)
def reviews_sample_task(week_start: str | None = None) -> dict[str, Any]:
    """Draw last week's sample (or the week starting on `week_start`, an ISO Monday)."""
    day = (
        datetime.date.fromisoformat(week_start)
        if week_start
        else reviews.previous_week_start(timezone.localdate())
    )
    sample = reviews.review_sample_week(week_start=day)
    return {
        "week_start": sample.week_start.isoformat(),
        "population": sample.population,
        "assigned": sample.assigned,
        "unassigned": sample.unassigned,
    }


@project_task(name="quality.terminal_status_sample")
def terminal_status_sample_task() -> int:
    return terminals.terminal_status_sample()
