"""Post-visit feedback: invitations for completed consultations, reminders until an answer, and
the answer itself (once per consultation)."""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from consultations.models import Consultation, ConsultationStatus
from core.actors import ANONYMOUS_ROLE, Actor
from core.exceptions import ConflictError, DomainError
from core.models import AuditAction
from core.services import audit_record
from notifications.services import notify
from quality.models import SCORE_MAX, SCORE_MIN, FeedbackInvitation, FeedbackResponse
from quality.selectors.feedback import feedback_invitation_from_token

AUDIT_OBJECT_TYPE = "feedback_response"
COMMENT_MAX_CHARS = 2000
QUESTIONS = ("overall", "waiting_time", "audio_video", "explanation")
# Invitations written per collector run at most; the rest wait for the next run.
INVITE_BATCH = 2000


def feedback_invitations_send(*, now: datetime.datetime | None = None) -> int:
    """Invite the patients of consultations completed at least QUALITY_FEEDBACK_DELAY_MINUTES
    ago (within the look-back window) that have no invitation yet; returns how many.

    The invitation and its notification are written in one transaction; the unique consultation
    column makes a twin run (or a run racing this one) add nothing.
    """
    now = now or timezone.now()
    ended_before = now - datetime.timedelta(minutes=settings.QUALITY_FEEDBACK_DELAY_MINUTES)
    ended_after = now - datetime.timedelta(hours=settings.QUALITY_FEEDBACK_LOOKBACK_HOURS)
    due = list(
        Consultation.objects.filter(
            status=ConsultationStatus.COMPLETED,
            ended_at__lte=ended_before,
            ended_at__gt=ended_after,
            feedback_invitation__isnull=True,
        )
        .select_related("patient")
        .order_by("ended_at", "pk")[:INVITE_BATCH]
    )
    written = 0
    for consultation in due:
        with transaction.atomic(durable=True):
            invitation, created = FeedbackInvitation.objects.get_or_create(
                consultation=consultation,
                defaults={
                    "patient": consultation.patient,
                    "invited_at": now,
                    "expires_at": now
                    + datetime.timedelta(days=settings.QUALITY_FEEDBACK_LINK_DAYS),
                },
            )
            if not created:
                continue
            notify(
                event="feedback_request",
                recipient=consultation.patient,
                objects={"invitation": invitation.pk},
                dedupe_key=f"feedback:{invitation.pk}:request",
                now=now,
            )
            written += 1
    return written


def _reminder_offsets() -> list[datetime.timedelta]:
    return [
        datetime.timedelta(hours=hours)
        for hours in sorted(settings.QUALITY_FEEDBACK_REMINDER_HOURS)
    ]


def feedback_reminders_send(*, now: datetime.datetime | None = None) -> int:
    """Remind patients who have not answered: the n-th reminder once the n-th offset of
    QUALITY_FEEDBACK_REMINDER_HOURS has passed since the invitation; returns how many went out.

    Nothing goes for an answered or expired invitation. Each invitation is locked and checked
    again before its reminder is written, and the dedupe key names the reminder, so a twin run
    sends nothing twice. After an outage only the latest reminder due is sent, not a burst.
    """
    now = now or timezone.now()
    offsets = _reminder_offsets()
    if not offsets:
        return 0
    candidates = list(
        FeedbackInvitation.objects.filter(
            responded_at__isnull=True,
            expires_at__gt=now,
            reminders_sent__lt=len(offsets),
            invited_at__lte=now - offsets[0],
        ).order_by("invited_at", "pk")
    )
    sent = 0
    for candidate in candidates:
        if candidate.invited_at + offsets[candidate.reminders_sent] > now:
            continue
        with transaction.atomic(durable=True):
            invitation = (
                FeedbackInvitation.objects.select_for_update()
                .select_related("patient")
                .get(pk=candidate.pk)
            )
            if invitation.responded_at is not None or invitation.expires_at <= now:
                continue
            due = [
                number
                for number, offset in enumerate(offsets, start=1)
                if invitation.invited_at + offset <= now
            ]
            if not due or due[-1] <= invitation.reminders_sent:
                continue
            number = due[-1]
            notify(
                event="feedback_reminder",
                recipient=invitation.patient,
                objects={"invitation": invitation.pk},
                dedupe_key=f"feedback:{invitation.pk}:reminder:{number}",
                now=now,
            )
            invitation.reminders_sent = number
            invitation.last_reminded_at = now
            invitation.save(update_fields=["reminders_sent", "last_reminded_at"])
            sent += 1
    return sent


@dataclass(frozen=True)
class FeedbackAnswers:
    overall: int
    waiting_time: int
    audio_video: int
    explanation: int
    comment: str = ""


def _check_answers(answers: FeedbackAnswers) -> None:
    fields: dict[str, list[str]] = {}
    for question in QUESTIONS:
        value = getattr(answers, question)
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not (SCORE_MIN <= value <= SCORE_MAX)
        ):
            fields[question] = [f"Choose {SCORE_MIN} to {SCORE_MAX}."]
    if len(answers.comment) > COMMENT_MAX_CHARS:
        fields["comment"] = [f"At most {COMMENT_MAX_CHARS} characters."]
    if fields:
        raise DomainError(
            "Some answers are missing or out of range.", code="feedback_invalid", fields=fields
        )


def feedback_submit(
    *,
    token: str,
    answers: FeedbackAnswers,
    language: str = "",
    ip_address: str | None = None,
    now: datetime.datetime | None = None,
) -> FeedbackResponse:
    """Record the patient's answers through the survey link.

    One response per consultation: the invitation is locked and checked, and the unique
    consultation column refuses a second row whatever happens, so of two concurrent
    submissions one is stored and the other is told `feedback_already_submitted` (409).
    """
    now = now or timezone.now()
    _check_answers(answers)
    invitation = feedback_invitation_from_token(token=token)
    with transaction.atomic(durable=True):
        locked = FeedbackInvitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.responded_at is not None:
            raise ConflictError(
                "This visit has already been rated; thank you.", code="feedback_already_submitted"
            )
        if locked.expires_at <= now:
            raise DomainError(
                "This survey link has expired.", code="feedback_link_expired", status_code=410
            )
        try:
            with transaction.atomic():
                response = FeedbackResponse.objects.create(
                    invitation=locked,
                    consultation_id=locked.consultation_id,
                    overall=answers.overall,
                    waiting_time=answers.waiting_time,
                    audio_video=answers.audio_video,
                    explanation=answers.explanation,
                    comment=answers.comment.strip(),
                    language=language[:8],
                    submitted_at=now,
                )
        except IntegrityError as error:
            raise ConflictError(
                "This visit has already been rated; thank you.", code="feedback_already_submitted"
            ) from error
        locked.responded_at = now
        locked.save(update_fields=["responded_at"])
        # The patient answers through a link, not an account: recorded as such, with the address.
        audit_record(
            actor=Actor(role=ANONYMOUS_ROLE, ip_address=ip_address),
            action=AuditAction.CREATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"via": "feedback_link", "consultation": str(invitation.consultation.public_id)},
        )
    return response
