"""The outbox in-process: rows written with the event, sent once per dedupe key, retried with
backoff, dead after a refusal, swept when left behind; reminders and quiet hours; the
consultation transitions that notify."""

import datetime
import json
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from consultations.models import Consultation, ConsultationStatus
from consultations.services import lifecycle
from core.actors import actor_for_user
from notifications import services
from notifications.models import (
    InAppMessage,
    Notification,
    NotificationPreference,
    NotificationStatus,
)
from notifications.providers.sms_emulator import MessagingEmulator
from tests.consultations.builders import make_visit
from tests.factories import (
    make_consultation,
    make_doctor,
    make_facility,
    make_patient,
    make_patient_user,
    make_staff,
    make_user,
    resident_id,
)

pytestmark = pytest.mark.django_db

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def _booked(**kwargs: Any) -> Consultation:
    facility = make_facility()
    staff = make_staff(facility=facility)
    return make_consultation(
        patient=make_patient(staff, **kwargs), doctor_user=make_doctor(), facility=facility
    )


def _notify_booking(consultation: Consultation, **kwargs: Any) -> list[Notification]:
    return services.notify(
        event="booking_confirmed",
        recipient=consultation.patient,
        objects={"consultation": consultation.pk},
        dedupe_key=f"consultation:{consultation.pk}:booked",
        **kwargs,
    )


def _status(row: Notification) -> str:
    row.refresh_from_db()
    return row.status


def test_notify_writes_one_row_per_preferred_channel_with_ids_only(
    django_capture_on_commit_callbacks: Any,
) -> None:
    consultation = _booked()
    patient_user = make_patient_user(consultation.patient)

    with django_capture_on_commit_callbacks() as callbacks:
        rows = _notify_booking(consultation)

    assert sorted(row.channel for row in rows) == ["in_app", "sms"]
    assert {row.recipient_user for row in rows} == {patient_user}
    assert {json.dumps(row.objects_ids) for row in rows} == {
        json.dumps({"consultation": consultation.pk})
    }
    assert all(row.status == NotificationStatus.PENDING for row in rows)
    assert len(callbacks) == 1  # one publish after commit, for both rows


def test_a_patient_without_an_account_gets_sms_only(emulator: MessagingEmulator) -> None:
    consultation = _booked()
    rows = _notify_booking(consultation)
    assert [row.channel for row in rows] == ["sms"]
    assert rows[0].recipient_user is None


def test_staff_default_to_in_app_and_preferences_are_respected() -> None:
    doctor = make_doctor(email="li@example.org", phone="+8613900000001")
    consultation = _booked()
    rows = services.notify(
        event="patient_checked_in",
        recipient=doctor,
        objects={"consultation": consultation.pk},
        dedupe_key="k1",
    )
    assert [row.channel for row in rows] == ["in_app"]

    NotificationPreference.objects.create(user=doctor, channels=["email", "wechat"])
    rows = services.notify(
        event="patient_checked_in",
        recipient=doctor,
        objects={"consultation": consultation.pk},
        dedupe_key="k2",
    )
    assert sorted(row.channel for row in rows) == ["email", "wechat"]


def test_notify_twice_with_one_dedupe_key_adds_nothing() -> None:
    consultation = _booked()
    first = _notify_booking(consultation)
    second = _notify_booking(consultation)
    assert [row.pk for row in second] == [row.pk for row in first]
    assert Notification.objects.count() == 1


def test_notify_refuses_content_in_the_payload() -> None:
    consultation = _booked()
    with pytest.raises(TypeError, match="ids only"):
        services.notify(
            event="booking_confirmed",
            recipient=consultation.patient,
            objects={"consultation": {"patient_name": "陈志强"}},
            dedupe_key="x",
        )
    assert Notification.objects.count() == 0


def test_rows_are_sent_after_commit_and_never_on_rollback(
    django_capture_on_commit_callbacks: Any, emulator: MessagingEmulator
) -> None:
    consultation = _booked()

    def booking_that_fails() -> None:
        with transaction.atomic():
            _notify_booking(consultation)
            raise RuntimeError("the booking failed")

    with pytest.raises(RuntimeError):
        booking_that_fails()
    assert Notification.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        (row,) = _notify_booking(consultation)

    assert _status(row) == NotificationStatus.SENT
    assert row.attempts == 1
    assert row.provider_message_id
    (sms,) = emulator.snapshot()["sms"]
    assert sms["OutId"] == str(row.public_id)
    assert sms["PhoneNumbers"] == "+8613800138000"
    assert sms["TemplateCode"] == "TH_BOOKING_CONFIRMED_ZH-HANS"
    text = json.loads(sms["TemplateParam"])["text"]
    assert consultation.facility.name in text
    assert "陈志强" not in text


def test_delivering_twice_sends_once(emulator: MessagingEmulator) -> None:
    (row,) = _notify_booking(_booked())

    first = services.notification_deliver(notification_id=row.pk)
    second = services.notification_deliver(notification_id=row.pk)

    assert (first.status, second.status) == ("sent", "skipped")
    assert len(emulator.snapshot()["sms"]) == 1
    assert emulator.snapshot()["requests"] == 1


def test_a_row_in_flight_is_not_taken_until_its_lease_expires(
    emulator: MessagingEmulator, settings: Any
) -> None:
    """A sender died after the provider accepted the message but before recording it: the
    row stays `sending`; after the lease the sweep's retry sends with the same OutId, which
    the provider answers without sending again."""
    (row,) = _notify_booking(_booked())
    now = timezone.now()
    services.notification_deliver(notification_id=row.pk, now=now)
    Notification.objects.filter(pk=row.pk).update(
        status=NotificationStatus.SENDING,
        lease_expires_at=now + datetime.timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS),
        sent_at=None,
    )

    assert services.notification_deliver(notification_id=row.pk).status == "skipped"
    after_lease = now + datetime.timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS + 1)
    assert services.notifications_sweep(now=after_lease) == 1
    # the sweep's task ran in-process at the real clock, before the lease ran out: a no-op
    assert _status(row) == NotificationStatus.SENDING
    assert services.notification_deliver(notification_id=row.pk, now=after_lease).status == "sent"

    snapshot = emulator.snapshot()
    assert len(snapshot["sms"]) == 1
    assert snapshot["duplicates"] == 1
    row.refresh_from_db()
    assert row.attempts == 2
    assert row.provider_message_id == snapshot["sms"][0]["BizId"]


def test_transient_failures_are_retried_with_backoff_then_sent(
    emulator: MessagingEmulator, settings: Any
) -> None:
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 10
    emulator.configure({"transient_failures": 2, "transient_mode": "throttle"})
    (row,) = _notify_booking(_booked())
    now = timezone.now()

    outcome = services.notification_deliver(notification_id=row.pk, now=now)
    assert outcome.status == "failed"
    assert outcome.retry_in is not None
    assert 5 <= outcome.retry_in <= 10
    row.refresh_from_db()
    assert row.status == NotificationStatus.FAILED
    assert "isv.BUSINESS_LIMIT_CONTROL" in row.last_error
    assert row.next_attempt_at > now
    # not due yet: nothing happens
    assert services.notification_deliver(notification_id=row.pk, now=now).status == "skipped"

    later = now + datetime.timedelta(minutes=5)
    second = services.notification_deliver(notification_id=row.pk, now=later)
    assert second.status == "failed"
    assert second.retry_in is not None
    assert 10 <= second.retry_in <= 20
    assert (
        services.notification_deliver(
            notification_id=row.pk, now=later + datetime.timedelta(minutes=5)
        ).status
        == "sent"
    )
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")
    assert len(emulator.snapshot()["sms"]) == 1


def test_a_permanent_refusal_is_dead_at_once_and_operations_are_told(
    emulator: MessagingEmulator,
) -> None:
    operator = make_user(role=Role.OPERATIONS)
    emulator.configure({"invalid_recipients": ["+8613800138000"]})
    (row,) = _notify_booking(_booked())

    assert services.notification_deliver(notification_id=row.pk).status == "dead"

    row.refresh_from_db()
    assert row.status == NotificationStatus.DEAD
    assert row.attempts == 1
    assert "isv.MOBILE_NUMBER_ILLEGAL" in row.last_error
    notice = Notification.objects.get(event="notification_dead")
    assert (notice.recipient_user, notice.channel) == (operator, "in_app")
    services.notification_deliver(notification_id=notice.pk)
    (message,) = InAppMessage.objects.filter(user=operator)
    assert str(row.public_id) in message.body
    assert emulator.snapshot()["sms"] == []


def test_attempts_used_up_make_the_row_dead(emulator: MessagingEmulator, settings: Any) -> None:
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    emulator.configure({"transient_failures": 5})
    (row,) = _notify_booking(_booked())
    now = timezone.now()
    assert services.notification_deliver(notification_id=row.pk, now=now).status == "failed"
    later = now + datetime.timedelta(hours=2)
    assert services.notification_deliver(notification_id=row.pk, now=later).status == "dead"
    row.refresh_from_db()
    assert row.last_error.startswith("gave up after 2 attempts")


def test_the_sweep_sends_rows_left_pending_and_ignores_fresh_ones(
    emulator: MessagingEmulator, settings: Any
) -> None:
    """Rows whose publish never happened (broker down): the sweep publishes them once they
    have been due for NOTIFICATION_SWEEP_AFTER_SECONDS."""
    rows = [_notify_booking(_booked())[0] for _ in range(3)]  # no commit here: nothing published
    now = timezone.now()

    assert services.notifications_sweep(now=now) == 0
    later = now + datetime.timedelta(seconds=settings.NOTIFICATION_SWEEP_AFTER_SECONDS + 1)
    assert services.notifications_sweep(now=later) == 3

    assert {_status(row) for row in rows} == {NotificationStatus.SENT}
    assert len(emulator.snapshot()["sms"]) == 3
    assert services.notifications_sweep(now=later) == 0


def test_channels_email_wechat_and_in_app(emulator: MessagingEmulator) -> None:
    doctor = make_doctor(email="dr.li@example.org")
    NotificationPreference.objects.create(user=doctor, channels=["email", "wechat", "in_app"])
    visit = make_visit(doctor=doctor)
    rows = services.notify(
        event="patient_checked_in",
        recipient=doctor,
        objects={"consultation": visit.consultation.pk},
        dedupe_key="checked-in",
    )
    for row in rows:
        assert services.notification_deliver(notification_id=row.pk).status == "sent"

    (email,) = mail.outbox
    assert email.to == ["dr.li@example.org"]
    assert email.subject == "患者已签到"
    (wechat,) = emulator.snapshot()["wechat"]
    assert wechat["touser"] == str(doctor.public_id)
    (inbox,) = InAppMessage.objects.filter(user=doctor)
    assert inbox.title == "患者已签到"
    assert visit.facility.name in inbox.body


def test_english_speakers_get_english() -> None:
    doctor = make_doctor(preferred_language="en")
    visit = make_visit(doctor=doctor)
    (row,) = services.notify(
        event="patient_checked_in",
        recipient=doctor,
        objects={"consultation": visit.consultation.pk},
        dedupe_key="en",
    )
    services.notification_deliver(notification_id=row.pk)
    assert InAppMessage.objects.get(user=doctor).title == "Patient checked in"


# --- Quiet hours and reminders --------------------------------------------------------------


def test_quiet_hours_defer_reminders_by_sms_to_the_morning(settings: Any) -> None:
    settings.NOTIFICATION_QUIET_HOURS = "22:00-07:00"
    consultation = _booked()
    make_patient_user(consultation.patient)
    night = datetime.datetime(2026, 11, 25, 23, 30, tzinfo=SHANGHAI)

    rows = services.notify(
        event="consultation_reminder_24h",
        recipient=consultation.patient,
        objects={"consultation": consultation.pk},
        dedupe_key="r",
        now=night,
    )

    by_channel = {row.channel: row for row in rows}
    assert by_channel["sms"].next_attempt_at == datetime.datetime(
        2026, 11, 26, 7, 0, tzinfo=SHANGHAI
    )
    assert by_channel["in_app"].next_attempt_at == night  # silent: not held back
    # urgent messages ignore quiet hours
    urgent = services.notify(
        event="consultation_reminder_1h",
        recipient=consultation.patient,
        objects={"consultation": consultation.pk},
        dedupe_key="u",
        urgent=True,
        now=night,
    )
    assert {row.next_attempt_at for row in urgent} == {night}


@pytest.mark.parametrize(
    ("clock", "deferred_to"),
    [
        ((6, 59), (26, 7, 0)),
        ((7, 0), None),
        ((21, 59), None),
        ((22, 0), (27, 7, 0)),
    ],
)
def test_quiet_hours_edges(
    settings: Any, clock: tuple[int, int], deferred_to: tuple[int, int, int] | None
) -> None:
    settings.NOTIFICATION_QUIET_HOURS = "22:00-07:00"
    now = datetime.datetime(2026, 11, 26, *clock, tzinfo=SHANGHAI)
    expected = (
        datetime.datetime(2026, 11, deferred_to[0], *deferred_to[1:], tzinfo=SHANGHAI)
        if deferred_to
        else None
    )
    assert services.quiet_hours_end(now) == expected


def _booked_long_ago(starts_in: datetime.timedelta) -> Consultation:
    consultation = _booked()
    start = timezone.now() + starts_in
    slot = consultation.slot
    assert slot is not None
    slot.starts_at = start
    slot.ends_at = start + datetime.timedelta(minutes=15)
    slot.save()
    Consultation.objects.filter(pk=consultation.pk).update(
        scheduled_start=start,
        scheduled_end=start + datetime.timedelta(minutes=15),
        created_at=timezone.now() - datetime.timedelta(days=3),
    )
    consultation.refresh_from_db()
    return consultation


def test_reminders_go_once_a_day_and_an_hour_ahead(emulator: MessagingEmulator) -> None:
    tomorrow = _booked_long_ago(datetime.timedelta(hours=20))
    soon = _booked_long_ago(datetime.timedelta(minutes=40))
    far = _booked_long_ago(datetime.timedelta(hours=30))
    booked_late = _booked()  # starts in an hour, booked just now: the confirmation was enough
    Consultation.objects.filter(pk=booked_late.pk).update(
        scheduled_start=timezone.now() + datetime.timedelta(hours=3)
    )

    assert services.consultation_reminders_send() == 2
    assert services.consultation_reminders_send() == 0  # a second run sends nothing more

    events = dict(Notification.objects.values_list("objects_ids__consultation", "event"))
    assert events == {
        tomorrow.pk: "consultation_reminder_24h",
        soon.pk: "consultation_reminder_1h",
    }
    assert far.pk not in events


def test_a_reminder_for_a_consultation_cancelled_meanwhile_is_withdrawn(
    emulator: MessagingEmulator,
) -> None:
    consultation = _booked_long_ago(datetime.timedelta(minutes=40))
    services.consultation_reminders_send()
    Consultation.objects.filter(pk=consultation.pk).update(status=ConsultationStatus.CANCELLED)

    (row,) = Notification.objects.all()
    assert services.notification_deliver(notification_id=row.pk).status == "cancelled"
    assert emulator.snapshot()["sms"] == []


# --- The consultation transitions that notify -----------------------------------------------


def test_check_in_tells_the_doctor(django_capture_on_commit_callbacks: Any) -> None:
    visit = make_visit()
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.consultation_check_in(
            actor=actor_for_user(visit.staff), consultation=visit.consultation
        )
    (row,) = Notification.objects.all()
    assert (row.event, row.recipient_user, row.status) == (
        "patient_checked_in",
        visit.doctor,
        "sent",
    )
    assert InAppMessage.objects.get(user=visit.doctor).title == "患者已签到"


def test_start_tells_the_facility_staff(django_capture_on_commit_callbacks: Any) -> None:
    visit = make_visit("checked_in")
    colleague = make_staff(facility=visit.facility)
    make_staff()  # another facility's staff hear nothing
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.consultation_start(
            actor=actor_for_user(visit.doctor), consultation=visit.consultation
        )
    recipients = set(
        Notification.objects.filter(event="doctor_ready").values_list("recipient_user", flat=True)
    )
    assert recipients == {visit.staff.pk, colleague.pk}
    assert InAppMessage.objects.filter(event="doctor_ready").count() == 2


def test_terminate_tells_the_patient(
    django_capture_on_commit_callbacks: Any, emulator: MessagingEmulator
) -> None:
    visit = make_visit("in_progress")
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.consultation_terminate(
            actor=actor_for_user(visit.doctor),
            consultation=visit.consultation,
            reason_code="emergency",
            referral_note="胸痛，立即线下急诊",
        )
    (row,) = Notification.objects.all()
    assert (row.event, row.recipient_patient, row.status) == (
        "consultation_terminated",
        visit.patient,
        "sent",
    )
    text = json.loads(emulator.snapshot()["sms"][0]["TemplateParam"])["text"]
    assert "胸痛" not in text


def test_a_refused_transition_notifies_nobody() -> None:
    visit = make_visit("completed")
    with pytest.raises(Exception, match="cannot become"):
        lifecycle.consultation_check_in(
            actor=actor_for_user(visit.staff), consultation=visit.consultation
        )
    assert Notification.objects.count() == 0


def test_a_booking_is_confirmed_to_the_patient(
    django_capture_on_commit_callbacks: Any, emulator: MessagingEmulator
) -> None:
    from consultations.services.booking import consultation_book
    from core.exceptions import ConflictError
    from tests.factories import make_slot

    facility = make_facility()
    staff = make_staff(facility=facility)
    doctor = make_doctor()
    slot = make_slot(doctor)
    patient = make_patient(staff)
    with django_capture_on_commit_callbacks(execute=True):
        consultation = consultation_book(actor=actor_for_user(staff), patient=patient, slot=slot)

    (row,) = Notification.objects.all()
    assert (row.event, row.recipient_patient, row.status) == (
        "booking_confirmed",
        patient,
        NotificationStatus.SENT,
    )
    assert row.objects_ids == {"consultation": consultation.pk}
    assert len(emulator.snapshot()["sms"]) == 1

    other = make_patient(staff, name="林美玲", id_number=resident_id())
    with pytest.raises(ConflictError):
        consultation_book(actor=actor_for_user(staff), patient=other, slot=slot)
    assert Notification.objects.count() == 1  # a refused booking announces nothing
