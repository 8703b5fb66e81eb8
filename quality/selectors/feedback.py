"""Reads of post-visit feedback: the invitation behind a survey link, and whether its messages
are still worth sending."""

import datetime

from django.utils import timezone

from core.exceptions import NotFoundError
from quality.links import read_feedback_token
from quality.models import FeedbackInvitation


def feedback_invitation_from_token(*, token: str) -> FeedbackInvitation:
    """The invitation a survey link stands for; a forged or unknown link is not found."""
    public_id = read_feedback_token(token)
    invitation = (
        FeedbackInvitation.objects.select_related(
            "consultation__doctor__user", "consultation__department", "consultation__facility"
        )
        .filter(public_id=public_id)
        .first()
        if public_id is not None
        else None
    )
    if invitation is None:
        raise NotFoundError("This survey link is not valid.", code="feedback_link_invalid")
    return invitation


def feedback_still_open(*, invitation_id: int, now: datetime.datetime | None = None) -> bool:
    """Whether a request or reminder for the invitation should still go out (the outbox's
    `still_relevant` hook): not answered and not expired."""
    return FeedbackInvitation.objects.filter(
        pk=invitation_id, responded_at__isnull=True, expires_at__gt=now or timezone.now()
    ).exists()
