"""Notification writes: `notify` (called by domain services inside their transaction), delivery,
the sweep, reminders, operations' retry, and the in-app inbox.

Guarantees (see docs/architecture.md, "The outbox"):
- at least once: the row is committed with the event; a task is published after commit; the
  sweep republishes rows left pending (broker down, crash before publish) and rows whose sender
  died mid-send (expired lease); retryable failures come back with backoff until
  NOTIFICATION_MAX_ATTEMPTS, then the row is dead and listed for operations.
- at most once per dedupe key: the key is UNIQUE, so a repeated `notify` adds nothing; sending
  requires claiming the row (one conditional UPDATE), so a task delivered twice sends once; a
  send repeated after the lease expired carries the same provider idempotency key.
"""

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Role, User
from core import outbox
from core.actors import Actor
from core.exceptions import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from core.tasks import RETRYABLE_ERRORS
from notifications.channels import CHANNELS
from notifications.events import EVENTS, EventType
from notifications.models import (
    OUTBOX_STATES,
    TRANSITIONS,
    InAppMessage,
    Notification,
    NotificationChannel,
    NotificationPreference,
    NotificationStatus,
)
from notifications.providers import PermanentDeliveryError
from notifications.rendering import render
from patients.models import Patient

logger = logging.getLogger(__name__)

C = NotificationChannel
DEFAULT_CHANNELS: dict[str, tuple[str, ...]] = {Role.PATIENT: (C.SMS, C.IN_APP)}
STAFF_DEFAULT_CHANNELS: tuple[str, ...] = (C.IN_APP,)
# Channels that ring a phone: quiet hours hold deferrable messages back on these.
INTRUSIVE_CHANNELS = frozenset({C.SMS, C.WECHAT})
AUDIT_OBJECT_TYPE = "notification"


# --- Recipients and preferences -----------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    user: User | None
    patient: Patient | None

    @property
    def tag(self) -> str:
        # A patient keeps one identity in dedupe keys whether or not they have an account yet.
        return f"p{self.patient.pk}" if self.patient is not None else f"u{self.user.pk}"  # type: ignore[union-attr]

    @property
    def language(self) -> str:
        return self.user.preferred_language if self.user is not None else settings.LANGUAGE_CODE

    def can_receive(self, channel: str) -> bool:
        if channel == C.SMS:
            return bool((self.patient and self.patient.phone) or (self.user and self.user.phone))
        if channel == C.EMAIL:
            return bool(self.user and self.user.email)
        return self.user is not None


def _recipient(recipient: User | Patient) -> Recipient:
    if isinstance(recipient, Patient):
        user = User.objects.filter(pk=recipient.user_id).first() if recipient.user_id else None
        return Recipient(user=user, patient=recipient)
    patient = (
        Patient.objects.filter(user=recipient).first() if recipient.role == Role.PATIENT else None
    )
    return Recipient(user=recipient, patient=patient)


def preferred_channels(*, user: User | None) -> tuple[str, ...]:
    """The user's chosen channels, or their role's defaults; a patient without an account: SMS."""
    if user is None:
        return (C.SMS,)
    chosen = (
        NotificationPreference.objects.filter(user=user).values_list("channels", flat=True).first()
    )
    if chosen is not None:
        return tuple(channel for channel in chosen if channel in C.values)
    return DEFAULT_CHANNELS.get(user.role, STAFF_DEFAULT_CHANNELS)


def notification_preference_set(*, actor: Actor, channels: Iterable[str]) -> NotificationPreference:
    if actor.user is None:
        raise PermissionDeniedError("Only people have notification preferences.")
    chosen = list(dict.fromkeys(channels))
    unknown = [channel for channel in chosen if channel not in C.values]
    if unknown:
        raise DomainError("Unknown channel.", code="channel_invalid", fields={"channels": unknown})
    preference, _ = NotificationPreference.objects.update_or_create(
        user=actor.user, defaults={"channels": chosen}
    )
    return preference


# --- Quiet hours ---------------------------------------------------------------------------------


def _parse_quiet_hours(value: str) -> tuple[datetime.time, datetime.time] | None:
    if not value:
        return None
    start, end = value.split("-")
    return datetime.time.fromisoformat(start.strip()), datetime.time.fromisoformat(end.strip())


def quiet_hours_end(now: datetime.datetime) -> datetime.datetime | None:
    """When quiet hours (NOTIFICATION_QUIET_HOURS, Asia/Shanghai) end, if `now` is inside them."""
    window = _parse_quiet_hours(settings.NOTIFICATION_QUIET_HOURS)
    if window is None:
        return None
    start, end = window
    local = timezone.localtime(now)
    clock = local.time()
    overnight = start > end
    inside = (clock >= start or clock < end) if overnight else (start <= clock < end)
    if not inside:
        return None
    end_day = (
        local.date() + datetime.timedelta(days=1) if overnight and clock >= start else local.date()
    )
    return timezone.make_aware(datetime.datetime.combine(end_day, end), local.tzinfo)


# --- notify --------------------------------------------------------------------------------------


def _check_objects(objects: dict[str, Any]) -> dict[str, Any]:
    for name, value in objects.items():
        ids = value if isinstance(value, list) else [value]
        if not all(isinstance(item, int | str) and not isinstance(item, bool) for item in ids):
            raise TypeError(f"notify(objects=...) takes ids only; {name!r} is not one")
    return objects


def notify(
    *,
    event: str,
    recipient: User | Patient,
    objects: dict[str, Any],
    dedupe_key: str,
    urgent: bool = False,
    now: datetime.datetime | None = None,
) -> list[Notification]:
    """Write the outbox rows for `event` to `recipient` — one per channel their preferences
    allow — in the caller's transaction, and publish their delivery after commit.

    `objects` maps names to ids (never content); `dedupe_key` names the occurrence (e.g.
    "consultation:42:checked_in"): notifying it again adds nothing.
    """
    spec: EventType = EVENTS[event]
    now = now or timezone.now()
    target = _recipient(recipient)
    channels = spec.channels or preferred_channels(user=target.user)
    urgent = urgent or spec.urgent
    quiet_until = None if urgent or not spec.deferrable else quiet_hours_end(now)
    rows = [
        Notification(
            recipient_user=target.user,
            recipient_patient=target.patient,
            channel=channel,
            event=event,
            language=target.language,
            objects_ids=_check_objects(objects),
            dedupe_key=f"{dedupe_key}|{target.tag}|{channel}",
            urgent=urgent,
            next_attempt_at=quiet_until if quiet_until and channel in INTRUSIVE_CHANNELS else now,
        )
        for channel in channels
        if target.can_receive(channel)
    ]
    if not rows:
        return []
    # ON CONFLICT DO NOTHING: a repeated occurrence leaves the first rows as they are.
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    written = list(Notification.objects.filter(dedupe_key__in=[row.dedupe_key for row in rows]))
    due = [
        row.pk
        for row in written
        if row.status == NotificationStatus.PENDING and row.next_attempt_at <= now
    ]
    _enqueue_after_commit(due)
    return written


def _enqueue_after_commit(ids: list[int]) -> None:
    from notifications.tasks import notification_deliver_task

    outbox.enqueue_after_commit(notification_deliver_task, ids, queue=settings.NOTIFICATIONS_QUEUE)


def enqueue_now(ids: list[int], *, countdown: float | None = None) -> int:
    from notifications.tasks import notification_deliver_task

    return outbox.enqueue_now(
        notification_deliver_task, ids, queue=settings.NOTIFICATIONS_QUEUE, countdown=countdown
    )


# --- Delivery ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str  # "skipped" (not claimed) or the row's new status
    retry_in: float | None = None


def _finish(row: Notification, status: str, **fields: Any) -> bool:
    """Leave the in-flight state, only if this sender still holds the claim (same attempt)."""
    assert status in TRANSITIONS[NotificationStatus.SENDING]
    updated = Notification.objects.filter(
        pk=row.pk, status=NotificationStatus.SENDING, attempts=row.attempts
    ).update(status=status, lease_expires_at=None, updated_at=timezone.now(), **fields)
    if not updated:
        logger.info("notification %s: claim lost before finishing (%s)", row.pk, status)
    return bool(updated)


def _die(row: Notification, error: str) -> DeliveryOutcome:
    now = timezone.now()
    with transaction.atomic():
        finished = _finish(row, NotificationStatus.DEAD, last_error=error[:500], dead_at=now)
        # Operations hear of it in-app (never about their own notices: no loop).
        if finished and row.event != "notification_dead":
            for operator in User.objects.filter(role=Role.OPERATIONS, is_active=True):
                notify(
                    event="notification_dead",
                    recipient=operator,
                    objects={"notification": row.pk},
                    dedupe_key=f"notification:{row.pk}:dead:{row.attempts}",
                    now=now,
                )
    logger.warning("notification %s (%s, %s) is dead: %s", row.pk, row.event, row.channel, error)
    return DeliveryOutcome(NotificationStatus.DEAD)


def notification_deliver(
    *, notification_id: int, now: datetime.datetime | None = None
) -> DeliveryOutcome:
    """Claim the row, render it from its objects, send it on its channel, record the outcome.

    Safe to run any number of times: only a due row (or one whose sender's lease expired) is
    claimed, and the send carries the row's id as the provider's idempotency key.
    """
    now = now or timezone.now()
    lease = datetime.timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS)
    if not outbox.claim(
        Notification, pk=notification_id, states=OUTBOX_STATES, now=now, lease=lease
    ):
        return DeliveryOutcome("skipped")
    row = Notification.objects.select_related("recipient_user", "recipient_patient").get(
        pk=notification_id
    )
    spec = EVENTS.get(row.event)
    try:
        if spec is None or spec.build_context is None:
            raise PermanentDeliveryError(f"No renderer for event {row.event!r} yet.")
        if spec.still_relevant is not None and not spec.still_relevant(row.objects_ids):
            _finish(row, NotificationStatus.CANCELLED, last_error="no longer relevant")
            return DeliveryOutcome(NotificationStatus.CANCELLED)
        message = render(
            event=row.event, language=row.language, context=spec.build_context(row.objects_ids)
        )
        provider_message_id = CHANNELS[row.channel].send(row, message)
    except RETRYABLE_ERRORS as error:
        text = f"{type(error).__name__}: {error}"
        if row.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            return _die(row, f"gave up after {row.attempts} attempts; last: {text}")
        delay = outbox.backoff_seconds(
            attempt=row.attempts,
            base=settings.NOTIFICATION_RETRY_BASE_SECONDS,
            cap=settings.NOTIFICATION_RETRY_MAX_SECONDS,
        )
        _finish(
            row,
            NotificationStatus.FAILED,
            last_error=text[:500],
            next_attempt_at=timezone.now() + datetime.timedelta(seconds=delay),
        )
        return DeliveryOutcome(NotificationStatus.FAILED, retry_in=delay)
    except PermanentDeliveryError as error:
        return _die(row, str(error))
    except Exception as error:  # a bug (template, missing object): dead, visible, retryable by ops
        logger.exception("notification %s failed with an unexpected error", row.pk)
        return _die(row, f"{type(error).__name__}: {error}")
    _finish(
        row,
        NotificationStatus.SENT,
        sent_at=timezone.now(),
        provider_message_id=provider_message_id[:100],
        last_error="",
    )
    return DeliveryOutcome(NotificationStatus.SENT)


def notifications_sweep(
    *,
    now: datetime.datetime | None = None,
    grace_seconds: float | None = None,
    limit: int | None = None,
) -> int:
    """Publish rows left behind: due for longer than the grace period, or in flight with an
    expired lease. Returns how many tasks were published."""
    now = now or timezone.now()
    grace = datetime.timedelta(
        seconds=settings.NOTIFICATION_SWEEP_AFTER_SECONDS
        if grace_seconds is None
        else grace_seconds
    )
    ids = outbox.due_ids(
        Notification,
        states=OUTBOX_STATES,
        now=now,
        grace=grace,
        limit=limit or settings.NOTIFICATION_SWEEP_BATCH,
    )
    return enqueue_now(ids)


def notification_retry_dead(*, actor: Actor, public_id: str) -> Notification:
    """Operations send a dead notification again (after fixing the cause): dead → pending."""
    if not actor.has_role(Role.OPERATIONS):
        raise NotFoundError("Notification not found.")
    now = timezone.now()
    with transaction.atomic(durable=True):
        row = Notification.objects.select_for_update().filter(public_id=public_id).first()
        if row is None:
            raise NotFoundError("Notification not found.")
        if NotificationStatus.PENDING not in TRANSITIONS[row.status]:
            raise ConflictError(
                f"A {row.status} notification cannot be retried.",
                code="invalid_transition",
                extra={"status": row.status},
            )
        row.status = NotificationStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.dead_at = None
        row.save(update_fields=["status", "attempts", "next_attempt_at", "dead_at", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[row.public_id],
            detail={"status": [NotificationStatus.DEAD, NotificationStatus.PENDING]},
        )
        _enqueue_after_commit([row.pk])
    return row


# --- Reminders -----------------------------------------------------------------------------------

REMINDERS: tuple[tuple[str, datetime.timedelta], ...] = (
    ("consultation_reminder_24h", datetime.timedelta(hours=24)),
    ("consultation_reminder_1h", datetime.timedelta(hours=1)),
)


def consultation_reminders_send(*, now: datetime.datetime | None = None) -> int:
    """Remind patients of booked scheduled consultations a day and an hour ahead.

    A consultation gets the 24 h reminder when it starts within 24 h (but more than 1 h away)
    and was booked more than 24 h before its start; the 1 h reminder likewise. Dedupe keys per
    consultation and reminder kind make every run after the first a no-op for it.
    """
    from consultations.models import Consultation, ConsultationKind, ConsultationStatus

    now = now or timezone.now()
    written = 0
    for index, (event, lead) in enumerate(REMINDERS):
        later = REMINDERS[index + 1][1] if index + 1 < len(REMINDERS) else datetime.timedelta(0)
        candidates = list(
            Consultation.objects.filter(
                kind=ConsultationKind.SCHEDULED,
                status=ConsultationStatus.BOOKED,
                scheduled_start__gt=now + later,
                scheduled_start__lte=now + lead,
                created_at__lte=F("scheduled_start") - lead,
            ).select_related("patient")
        )
        keys = {
            f"consultation:{c.pk}:{event}|p{c.patient_id}|{channel}": c.pk
            for c in candidates
            for channel in C.values
        }
        done = {
            keys[key]
            for key in Notification.objects.filter(dedupe_key__in=keys).values_list(
                "dedupe_key", flat=True
            )
        }
        for consultation in candidates:
            if consultation.pk in done:
                continue
            with transaction.atomic():
                written += len(
                    notify(
                        event=event,
                        recipient=consultation.patient,
                        objects={"consultation": consultation.pk},
                        dedupe_key=f"consultation:{consultation.pk}:{event}",
                        now=now,
                    )
                )
    return written


# --- In-app inbox --------------------------------------------------------------------------------


def in_app_message_mark_read(*, actor: Actor, public_id: str) -> InAppMessage:
    from notifications.selectors import in_app_message_get_for_actor

    message = in_app_message_get_for_actor(actor=actor, public_id=public_id)
    if message.read_at is None:
        InAppMessage.objects.filter(pk=message.pk, read_at__isnull=True).update(
            read_at=timezone.now()
        )
        message.refresh_from_db(fields=["read_at"])
    return message
