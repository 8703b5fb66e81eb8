"""The video room of a consultation, what happened in it, and its text chat.

A consultation has at most one room (`CallSession`): it opens when the doctor starts the
consultation and closes when the consultation completes or is terminated. Two sides meet there:
the doctor, and the facility (its staff at a desk or its terminal console).
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThan, LessThanOrEqual

from core.models import PublicIdModel

# Chat is kept with the consultation's recording references: 3 years (SPEC §4.12).
CHAT_RETENTION_YEARS = 3
CHAT_MAX_CHARS = 2000


class CallSide(models.TextChoices):
    DOCTOR = "doctor", "医生 doctor"
    FACILITY = "facility", "机构 facility"


class CallSession(models.Model):
    """The room of one consultation: open while `closed_at` is null."""

    consultation = models.OneToOneField(
        "consultations.Consultation", on_delete=models.PROTECT, related_name="call_session"
    )
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(closed_at__isnull=True)
                | models.Q(closed_at__gte=models.F("opened_at")),
                name="call_session_closes_after_opening",
            ),
        ]

    def __str__(self) -> str:
        state = "open" if self.closed_at is None else "closed"
        return f"room {self.consultation_id} ({state})"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class CallEventKind(models.TextChoices):
    JOINED = "joined", "加入 joined"
    RECONNECTED = "reconnected", "重新连接 reconnected"
    LEFT = "left", "离开 left"
    MICROPHONE_ON = "microphone_on", "开启麦克风 microphone on"
    MICROPHONE_OFF = "microphone_off", "静音 microphone off"
    CAMERA_ON = "camera_on", "开启摄像头 camera on"
    CAMERA_OFF = "camera_off", "关闭摄像头 camera off"


class CallEvent(models.Model):
    """One thing a participant did in the room, on one socket (`connection_id`).

    A `left` event carries how long that socket was in the room; `reconnected` is a join by
    someone who had already been in this room.
    """

    session = models.ForeignKey(CallSession, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=CallEventKind.choices)
    side = models.CharField(max_length=16, choices=CallSide.choices)
    role = models.CharField(max_length=32)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    terminal = models.ForeignKey(
        "clinics.Terminal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    connection_id = models.UUIDField()
    occurred_at = models.DateTimeField()
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        indexes = [models.Index(fields=["session", "connection_id"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=CallEventKind.values), name="call_event_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(side__in=CallSide.values), name="call_event_side_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, terminal__isnull=True)
                | models.Q(user__isnull=True, terminal__isnull=False),
                name="call_event_one_participant",
            ),
            models.CheckConstraint(
                condition=models.Q(duration_seconds__isnull=True) | models.Q(kind="left"),
                name="call_event_duration_only_on_leave",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} {self.side} {self.kind}"


class ChatMessage(PublicIdModel):
    """A line of the in-call text chat, kept with the consultation for 3 years."""

    consultation = models.ForeignKey(
        "consultations.Consultation", on_delete=models.PROTECT, related_name="chat_messages"
    )
    side = models.CharField(max_length=16, choices=CallSide.choices)
    sender_role = models.CharField(max_length=32)
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sender_terminal = models.ForeignKey(
        "clinics.Terminal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    text = models.CharField(max_length=CHAT_MAX_CHARS)
    sent_at = models.DateTimeField()
    retention_until = models.DateField(help_text="Kept at least until this date (3 years)")

    class Meta:
        ordering = ["sent_at", "pk"]
        indexes = [models.Index(fields=["consultation", "sent_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(side__in=CallSide.values), name="chat_message_side_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(sender_user__isnull=False, sender_terminal__isnull=True)
                | models.Q(sender_user__isnull=True, sender_terminal__isnull=False),
                name="chat_message_one_sender",
            ),
            # VARCHAR enforces the upper bound on PostgreSQL; SQLite needs the check.
            models.CheckConstraint(
                condition=models.Q(
                    GreaterThan(Length("text"), 0), LessThanOrEqual(Length("text"), CHAT_MAX_CHARS)
                ),
                name="chat_message_text_length",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.consultation_id} {self.side} {self.sent_at:%H:%M:%S}"
