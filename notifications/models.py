"""Notifications: the outbox rows, the in-app inbox, channel preferences, patient login codes.

A `Notification` is one message to one recipient on one channel. It carries ids only (event
type, object ids); the text is rendered from the objects when it is sent. Lifecycle (SPEC §3,
with the claim's in-flight state and a withdrawal):

    pending → sending → sent
                      → failed → sending …   (retryable error, backoff)
                      → dead                  (permanent error or attempts used up)
    dead → pending                            (operations retry)
    pending|sending → cancelled               (the event no longer holds, e.g. a reminder for a
                                               consultation cancelled meanwhile)
    sending → sending                         (the sender's lease expired: another one reclaims)
"""

from django.conf import settings
from django.db import models

from core.models import PublicIdModel
from core.outbox import OutboxStates


class NotificationChannel(models.TextChoices):
    SMS = "sms", "短信 SMS"
    EMAIL = "email", "电子邮件 email"
    WECHAT = "wechat", "微信模板消息 WeChat template message"
    IN_APP = "in_app", "站内消息 in-app"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "待发送 pending"
    SENDING = "sending", "发送中 sending"
    SENT = "sent", "已发送 sent"
    FAILED = "failed", "失败待重试 failed (will retry)"
    DEAD = "dead", "发送失败 dead"
    CANCELLED = "cancelled", "已撤销 cancelled"


S = NotificationStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.SENDING, S.CANCELLED}),
    S.SENDING: frozenset({S.SENT, S.FAILED, S.DEAD, S.CANCELLED, S.SENDING}),
    S.FAILED: frozenset({S.SENDING}),
    S.DEAD: frozenset({S.PENDING}),
    S.SENT: frozenset(),
    S.CANCELLED: frozenset(),
}
OUTBOX_STATES = OutboxStates(ready=(S.PENDING, S.FAILED), in_flight=S.SENDING)

LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]


class Notification(PublicIdModel):
    """One outbox row. `public_id` doubles as the provider's idempotency key (SMS OutId,
    WeChat client_msg_id, e-mail Message-ID)."""

    recipient_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
    )
    # Patients may have no account: an SMS goes to the patient's phone, looked up at send time.
    recipient_patient = models.ForeignKey(
        "patients.Patient",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
    )
    channel = models.CharField(max_length=16, choices=NotificationChannel.choices)
    event = models.CharField(max_length=64)
    language = models.CharField(max_length=8, choices=LANGUAGES, default="zh-hans")
    objects_ids = models.JSONField(
        default=dict, help_text="Ids of the objects the message is about; never their content"
    )
    dedupe_key = models.CharField(max_length=200, unique=True)
    urgent = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["status", "lease_expires_at"]),
            models.Index(fields=["status", "dead_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=NotificationStatus.values),
                name="notification_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=NotificationChannel.values),
                name="notification_channel_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(recipient_user__isnull=False)
                | models.Q(recipient_patient__isnull=False),
                name="notification_has_recipient",
            ),
            models.CheckConstraint(
                condition=models.Q(channel="sms") | models.Q(recipient_user__isnull=False),
                name="notification_user_unless_sms",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.channel} ({self.status})"


class InAppMessage(PublicIdModel):
    """What the in-app channel delivers: the rendered message in the user's own inbox."""

    notification = models.OneToOneField(
        Notification, on_delete=models.PROTECT, related_name="in_app_message"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="in_app_messages"
    )
    event = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "read_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.title}"


class NotificationPreference(models.Model):
    """The channels a user wants. Without a row, the role's defaults apply
    (patients: SMS + in-app; everyone else: in-app)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    channels = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"{self.user_id}: {', '.join(self.channels)}"


class LoginCode(models.Model):
    """A one-time sign-in code sent to a patient's phone (SPEC §7).

    The code is stored as a keyed hash for checking and, until it is used or expires, encrypted
    so the SMS can be rendered when it is sent (the outbox row carries only this row's id).
    """

    phone = models.CharField(max_length=20, db_index=True)
    code_hash = models.CharField(max_length=64)
    code_encrypted = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["phone", "created_at"])]

    def __str__(self) -> str:
        return f"login code {self.pk} ({self.created_at:%Y-%m-%d %H:%M})"
