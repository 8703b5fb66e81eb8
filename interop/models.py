"""System clients of the FHIR facade, and the regulator feed's outbox.

Regulator feed lifecycle. A report (one finished record):

    pending → batched → acknowledged          (the regulator accepted it, or already had it)
                      → rejected              (the regulator refused it; a person looks at it)

A batch (the reports of one day, sent together; the transactional-outbox states of core.outbox):

    pending → sending → acknowledged          (every report answered)
                      → failed → sending …    (unreachable, 5xx, or reports left unanswered:
                                               backoff, then again with the unanswered ones)
    sending → sending                         (the sender's lease expired: another one reclaims)
"""

from django.db import models
from django.db.models import Q

from core.models import PublicIdModel
from core.outbox import OutboxStates


class SystemClient(PublicIdModel):
    """A system-to-system caller of the FHIR facade (an insurer, a regional platform, the
    regulator): SMART-style client credentials and the scopes it may be granted.

    The secret is 256 random bits shown once when issued; only its SHA-256 is stored (no
    password stretching needed at that entropy, as for terminal credentials).
    """

    name = models.CharField(max_length=150)
    client_id = models.CharField(max_length=64, unique=True)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(
        default=list, help_text='SMART scopes, e.g. ["system/Patient.read", "system/*.read"]'
    )
    sees_full_identifiers = models.BooleanField(
        default=False, help_text="Whether identity-document numbers reach it unmasked"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_token_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["client_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_active=True, revoked_at__isnull=True)
                | Q(is_active=False, revoked_at__isnull=False),
                name="system_client_revoked_at_matches_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"


class RegulatorReportKind(models.TextChoices):
    CONSULTATION_COMPLETED = "consultation_completed", "问诊完成 consultation completed"
    CONSULTATION_TERMINATED = "consultation_terminated", "问诊终止转诊 consultation terminated"
    PRESCRIPTION_APPROVED = "prescription_approved", "处方审核通过 prescription approved"
    PRESCRIPTION_DISPENSED = "prescription_dispensed", "处方已发药 prescription dispensed"
    DISPENSE_RECORDED = "dispense_recorded", "发药记录 dispense recorded"


class RegulatorReportStatus(models.TextChoices):
    PENDING = "pending", "待打包 pending"
    BATCHED = "batched", "已打包待确认 batched"
    ACKNOWLEDGED = "acknowledged", "监管平台已确认 acknowledged"
    REJECTED = "rejected", "监管平台拒收 rejected"


class RegulatorBatchStatus(models.TextChoices):
    PENDING = "pending", "待发送 pending"
    SENDING = "sending", "发送中 sending"
    FAILED = "failed", "失败待重试 failed (will retry)"
    ACKNOWLEDGED = "acknowledged", "已确认 acknowledged"


BATCH_OUTBOX_STATES = OutboxStates(
    ready=(RegulatorBatchStatus.PENDING, RegulatorBatchStatus.FAILED),
    in_flight=RegulatorBatchStatus.SENDING,
)


class RegulatorBatch(models.Model):
    """The reports of one day, sent to the supervision platform in one request (re-sent with
    the reports still unanswered until every one is)."""

    batch_no = models.CharField(max_length=40, unique=True)
    report_date = models.DateField(help_text="The day whose records it carries (and older ones)")
    sequence = models.PositiveSmallIntegerField(help_text="1, 2, … when a day needs several")
    status = models.CharField(
        max_length=16, choices=RegulatorBatchStatus.choices, default=RegulatorBatchStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    first_sent_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-report_date", "-sequence"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="regulator_batch_due_idx"),
            models.Index(fields=["status", "lease_expires_at"], name="regulator_batch_lease_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["report_date", "sequence"], name="regulator_batch_day_sequence_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=RegulatorBatchStatus.values),
                name="regulator_batch_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status=RegulatorBatchStatus.ACKNOWLEDGED)
                | Q(acknowledged_at__isnull=False),
                name="regulator_batch_acknowledged_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch_no} ({self.status})"


class RegulatorReport(PublicIdModel):
    """One finished record for the supervision platform, exactly once per record and kind.

    The payload is a snapshot taken when the record is collected (finished records do not
    change), kept encrypted because it carries the patient's identity-document number; `digest`
    is SM3 over its canonical JSON, and `public_id` is the record id the regulator deduplicates
    on, so a re-sent record is recognised rather than stored twice.
    """

    kind = models.CharField(max_length=32, choices=RegulatorReportKind.choices)
    source_id = models.BigIntegerField(help_text="The record's primary key in its own table")
    source_reference = models.CharField(
        max_length=64, help_text="How the regulator names the record (public id or number)"
    )
    occurred_at = models.DateTimeField(help_text="When the record finished")
    payload_encrypted = models.TextField(editable=False)
    digest = models.CharField(max_length=64, help_text="SM3 of the canonical payload (hex)")
    status = models.CharField(
        max_length=16, choices=RegulatorReportStatus.choices, default=RegulatorReportStatus.PENDING
    )
    batch = models.ForeignKey(
        RegulatorBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="reports"
    )
    ack_status = models.CharField(max_length=16, blank=True, help_text="accepted or duplicate")
    reject_code = models.CharField(max_length=64, blank=True)
    reject_message = models.CharField(max_length=300, blank=True)
    collected_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        indexes = [
            models.Index(fields=["status", "occurred_at"], name="regulator_report_status_idx"),
        ]
        constraints = [
            # Exactly one report per record and kind: the collector inserts with ON CONFLICT
            # DO NOTHING, so concurrent or repeated runs cannot report a record twice.
            models.UniqueConstraint(fields=["kind", "source_id"], name="regulator_report_once"),
            models.CheckConstraint(
                condition=Q(kind__in=RegulatorReportKind.values),
                name="regulator_report_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RegulatorReportStatus.values),
                name="regulator_report_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status=RegulatorReportStatus.PENDING, batch__isnull=True)
                | (~Q(status=RegulatorReportStatus.PENDING) & Q(batch__isnull=False)),
                name="regulator_report_batched_has_batch",
            ),
            models.CheckConstraint(
                condition=~Q(status=RegulatorReportStatus.REJECTED) | ~Q(reject_code=""),
                name="regulator_report_rejected_has_code",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_reference} ({self.status})"
