"""Post-visit feedback: one invitation per completed consultation with a signed link in the SMS,
one response per consultation, reminders at 24 h and 72 h that stop once the patient answers."""

import datetime
import json
import re
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consultations.models import Consultation
from core.models import AuditEvent
from notifications.models import Notification, NotificationStatus
from notifications.providers.sms_emulator import MessagingEmulator
from notifications.services import notification_deliver
from quality.links import feedback_token
from quality.models import FeedbackInvitation, FeedbackResponse
from quality.services.feedback import feedback_invitations_send, feedback_reminders_send
from tests.consultations.builders import make_visit

LINK_LIFETIME = datetime.timedelta(days=7)  # QUALITY_FEEDBACK_LINK_DAYS by default

pytestmark = pytest.mark.django_db

ANSWERS = {"overall": 5, "waiting_time": 4, "audio_video": 3, "explanation": 5, "comment": "很好"}
HOUR = datetime.timedelta(hours=1)


def completed(ended_ago: datetime.timedelta = datetime.timedelta(minutes=30)) -> Consultation:
    visit = make_visit("completed")
    consultation = visit.consultation
    consultation.ended_at = timezone.now() - ended_ago
    consultation.save(update_fields=["ended_at"])
    return consultation


def invite(ended_ago: datetime.timedelta = datetime.timedelta(minutes=30)) -> FeedbackInvitation:
    consultation = completed(ended_ago)
    assert feedback_invitations_send() == 1
    return FeedbackInvitation.objects.get(consultation=consultation)


def url_for(invitation: FeedbackInvitation) -> str:
    return f"/api/v1/feedback/{feedback_token(invitation.public_id)}/"


def sms_texts(emulator: MessagingEmulator) -> list[str]:
    return [json.loads(sms["TemplateParam"])["text"] for sms in emulator.snapshot()["sms"]]


# --- Invitations -----------------------------------------------------------------------------


def test_a_completed_consultation_gets_one_invitation_and_its_sms_carries_a_working_link(
    emulator: MessagingEmulator, django_capture_on_commit_callbacks: Any
) -> None:
    consultation = completed()

    with django_capture_on_commit_callbacks(execute=True):
        assert feedback_invitations_send() == 1
    assert feedback_invitations_send() == 0  # a second run adds nothing

    invitation = FeedbackInvitation.objects.get()
    assert invitation.consultation_id == consultation.pk
    link_lifetime = invitation.expires_at - invitation.invited_at
    assert link_lifetime == LINK_LIFETIME
    rows = Notification.objects.filter(event="feedback_request")
    assert [(row.channel, row.status) for row in rows] == [("sms", NotificationStatus.SENT)]
    assert rows[0].objects_ids == {"invitation": invitation.pk}
    [text] = sms_texts(emulator)
    link = re.search(r"http://\S+/quality/feedback/(\S+)/", text)
    assert link is not None
    answer = APIClient().get(f"/api/v1/feedback/{link.group(1)}/")
    assert answer.status_code == 200
    assert consultation.doctor is not None
    assert answer.json()["doctor_name"] == consultation.doctor.user.full_name
    assert answer.json()["answered"] is False
    assert consultation.patient.name not in json.dumps(answer.json(), ensure_ascii=False)


@pytest.mark.parametrize(
    ("status", "ended_ago"),
    [
        ("completed", datetime.timedelta(minutes=5)),  # too soon: the patient is still there
        ("completed", datetime.timedelta(hours=49)),  # beyond the look-back window
        ("terminated", datetime.timedelta(minutes=30)),  # referred, not a completed visit
    ],
)
def test_consultations_not_due_are_not_invited(status: str, ended_ago: datetime.timedelta) -> None:
    consultation = completed(ended_ago)
    Consultation.objects.filter(pk=consultation.pk).update(status=status)

    assert feedback_invitations_send() == 0

    assert FeedbackInvitation.objects.count() == 0
    assert Notification.objects.filter(event="feedback_request").count() == 0


# --- Answering -------------------------------------------------------------------------------


def test_one_response_per_consultation_the_second_is_a_409() -> None:
    invitation = invite()
    client = APIClient()

    first = client.post(url_for(invitation), ANSWERS, format="json")
    second = client.post(url_for(invitation), {**ANSWERS, "overall": 1}, format="json")

    assert first.status_code == 201
    assert first.json()["overall"] == 5
    assert second.status_code == 409
    assert second.json()["code"] == "feedback_already_submitted"
    response = FeedbackResponse.objects.get()
    assert (response.overall, response.waiting_time, response.audio_video) == (5, 4, 3)
    assert (response.explanation, response.comment) == (5, "很好")
    invitation.refresh_from_db()
    assert invitation.responded_at == response.submitted_at
    assert client.get(url_for(invitation)).json()["answered"] is True
    audit = AuditEvent.objects.get(object_type="feedback_response")
    assert (audit.action, audit.actor_role, audit.object_id) == (
        "create",
        "anonymous",
        str(invitation.public_id),
    )


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "AAAAAAAAAAAAAAAAAAAAAA:forged-signature-forged-signature-forged-si"],
)
def test_a_forged_link_is_not_found_and_stores_nothing(token: str) -> None:
    invite()

    answer = APIClient().post(f"/api/v1/feedback/{token}/", ANSWERS, format="json")

    assert answer.status_code == 404
    assert answer.json()["code"] == "feedback_link_invalid"
    assert FeedbackResponse.objects.count() == 0


def test_a_link_altered_by_one_character_is_refused() -> None:
    invitation = invite()
    token = feedback_token(invitation.public_id)
    altered = ("B" if token[0] != "B" else "C") + token[1:]

    answer = APIClient().get(f"/api/v1/feedback/{altered}/")

    assert answer.status_code == 404


def test_an_expired_link_is_gone_and_stores_nothing() -> None:
    invitation = invite()
    FeedbackInvitation.objects.filter(pk=invitation.pk).update(
        invited_at=timezone.now() - datetime.timedelta(days=8),
        expires_at=timezone.now() - datetime.timedelta(days=1),
    )

    answer = APIClient().post(url_for(invitation), ANSWERS, format="json")

    assert answer.status_code == 410
    assert answer.json()["code"] == "feedback_link_expired"
    assert FeedbackResponse.objects.count() == 0
    invitation.refresh_from_db()
    assert invitation.responded_at is None


@pytest.mark.parametrize(
    "change",
    [{"overall": 0}, {"overall": 6}, {"audio_video": None}, {"explanation": "5 stars"}],
)
def test_answers_out_of_range_are_refused(change: dict[str, Any]) -> None:
    invitation = invite()

    answer = APIClient().post(url_for(invitation), {**ANSWERS, **change}, format="json")

    assert answer.status_code == 400
    assert answer.json()["code"] == "validation_error"
    assert list(answer.json()["fields"]) == list(change)
    assert FeedbackResponse.objects.count() == 0


# --- Reminders -------------------------------------------------------------------------------


def reminder_keys() -> list[str]:
    return sorted(
        row.dedupe_key.split("|")[0]
        for row in Notification.objects.filter(event="feedback_reminder")
    )


def test_reminders_go_at_24_and_72_hours_once_each() -> None:
    invitation = invite()
    start = invitation.invited_at

    assert feedback_reminders_send(now=start + 23 * HOUR) == 0
    assert feedback_reminders_send(now=start + 24 * HOUR) == 1
    assert feedback_reminders_send(now=start + 25 * HOUR) == 0
    assert feedback_reminders_send(now=start + 71 * HOUR) == 0
    assert feedback_reminders_send(now=start + 72 * HOUR) == 1
    assert feedback_reminders_send(now=start + 100 * HOUR) == 0

    assert reminder_keys() == [
        f"feedback:{invitation.pk}:reminder:1",
        f"feedback:{invitation.pk}:reminder:2",
    ]
    invitation.refresh_from_db()
    assert invitation.reminders_sent == 2


def test_after_an_outage_only_the_latest_reminder_due_is_sent() -> None:
    invitation = invite()

    assert feedback_reminders_send(now=invitation.invited_at + 80 * HOUR) == 1

    assert reminder_keys() == [f"feedback:{invitation.pk}:reminder:2"]


def test_reminders_stop_after_a_response() -> None:
    invitation = invite()
    assert APIClient().post(url_for(invitation), ANSWERS, format="json").status_code == 201

    assert feedback_reminders_send(now=invitation.invited_at + 24 * HOUR) == 0
    assert feedback_reminders_send(now=invitation.invited_at + 72 * HOUR) == 0

    assert reminder_keys() == []


def test_no_reminder_for_an_expired_invitation() -> None:
    invitation = invite()

    assert feedback_reminders_send(now=invitation.expires_at + HOUR) == 0

    assert reminder_keys() == []


def test_a_reminder_still_pending_when_the_patient_answers_is_withdrawn(settings: Any) -> None:
    """Written at 23:00, the SMS waits for the end of quiet hours; the patient answers through
    the first message meanwhile; at 07:00 the outbox's relevance check withdraws it."""
    settings.NOTIFICATION_QUIET_HOURS = "22:00-07:00"
    invitation = invite()
    late_evening = timezone.localtime(invitation.invited_at + 24 * HOUR).replace(
        hour=23, minute=0, second=0, microsecond=0
    )
    if late_evening < invitation.invited_at + 24 * HOUR:
        late_evening += datetime.timedelta(days=1)
    assert feedback_reminders_send(now=late_evening) == 1
    reminder = Notification.objects.get(event="feedback_reminder")
    assert reminder.status == NotificationStatus.PENDING
    assert timezone.localtime(reminder.next_attempt_at).hour == 7

    assert APIClient().post(url_for(invitation), ANSWERS, format="json").status_code == 201
    outcome = notification_deliver(
        notification_id=reminder.pk, now=reminder.next_attempt_at + datetime.timedelta(minutes=1)
    )

    assert outcome.status == NotificationStatus.CANCELLED
    reminder.refresh_from_db()
    assert (reminder.status, reminder.last_error) == (
        NotificationStatus.CANCELLED,
        "no longer relevant",
    )


# --- The survey page -------------------------------------------------------------------------


def page_url(invitation: FeedbackInvitation) -> str:
    return f"/quality/feedback/{feedback_token(invitation.public_id)}/"


def test_the_survey_page_needs_no_sign_in_and_records_the_answers(client: Any) -> None:
    invitation = invite()

    form = client.get(page_url(invitation))
    sent = client.post(page_url(invitation), ANSWERS)
    after = client.get(page_url(invitation))
    again = client.post(page_url(invitation), ANSWERS)

    assert form.status_code == 200
    assert b'name="overall"' in form.content
    assert sent.status_code == 302
    assert sent["Location"] == page_url(invitation)
    assert after.status_code == 200
    assert b'class="thanks"' in after.content
    assert again.status_code == 200  # already answered: the thanks page, nothing stored
    assert FeedbackResponse.objects.count() == 1


def test_the_survey_page_in_english(client: Any) -> None:
    invitation = invite()
    client.cookies["django_language"] = "en"

    page = client.get(page_url(invitation), HTTP_ACCEPT_LANGUAGE="en")

    assert page.status_code == 200
    assert b"Rate your visit" in page.content


def test_the_survey_page_in_chinese_by_default(client: Any) -> None:
    invitation = invite()

    page = client.get(page_url(invitation))

    assert "评价本次就诊".encode() in page.content


@pytest.mark.parametrize(("expired", "status"), [(False, 404), (True, 410)])
def test_the_survey_page_for_a_bad_or_expired_link(client: Any, expired: bool, status: int) -> None:
    invitation = invite()
    url = page_url(invitation) if expired else "/quality/feedback/forged:link/"
    if expired:
        FeedbackInvitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())

    page = client.post(url, ANSWERS)

    assert page.status_code == status
    assert FeedbackResponse.objects.count() == 0


def test_the_survey_page_refuses_a_missing_answer(client: Any) -> None:
    invitation = invite()

    page = client.post(page_url(invitation), {**ANSWERS, "overall": ""})

    assert page.status_code == 400
    assert FeedbackResponse.objects.count() == 0
