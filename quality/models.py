"""Service quality: what patients say after a visit, complaints, the clinical quality review of
sampled work, and the terminal status history behind uptime.

Lifecycles (each with its transitions table and one service per step, see quality.services):

    complaint:  submitted → triaged → responded → closed
                submitted | triaged | responded → withdrawn (by the complainant)
    review:     assigned → completed
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.models import PublicIdModel

# Every survey answer and review checklist item is a score from 1 (poor) to 5 (excellent).
SCORE_MIN = 1
SCORE_MAX = 5


def _score_range(prefix: str, field: str, *, nullable: bool = False) -> models.CheckConstraint:
    in_range = Q(**{f"{field}__gte": SCORE_MIN, f"{field}__lte": SCORE_MAX})
    condition = in_range | Q(**{f"{field}__isnull": True}) if nullable else in_range
    return models.CheckConstraint(condition=condition, name=f"{prefix}_{field}_range")


# --- Post-visit feedback ---------------------------------------------------------------------


class FeedbackInvitation(PublicIdModel):
    """The survey link sent to the patient after a completed consultation (one per consultation).

    The link carries this row's public id signed under SECRET_KEY; it works until `expires_at`.
    Reminders count up in `reminders_sent` and stop once `responded_at` is set.
    """

    consultation = models.OneToOneField(
        "consultations.Consultation", on_delete=models.PROTECT, related_name="feedback_invitation"
    )
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    invited_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-invited_at", "-pk"]
        indexes = [models.Index(fields=["responded_at", "expires_at", "invited_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("invited_at")), name="feedback_invitation_expiry_after"
            ),
        ]

    def __str__(self) -> str:
        return f"feedback invitation {self.consultation_id}"


class FeedbackResponse(models.Model):
    """The patient's answers. One per consultation: the one-to-one columns are unique, so a
    second submission (even a concurrent one) cannot add a row."""

    invitation = models.OneToOneField(
        FeedbackInvitation, on_delete=models.PROTECT, related_name="response"
    )
    consultation = models.OneToOneField(
        "consultations.Consultation", on_delete=models.PROTECT, related_name="feedback_response"
    )
    overall = models.PositiveSmallIntegerField(help_text="Overall satisfaction, 1–5")
    waiting_time = models.PositiveSmallIntegerField(help_text="Satisfaction with the wait, 1–5")
    audio_video = models.PositiveSmallIntegerField(help_text="Video and audio quality, 1–5")
    explanation = models.PositiveSmallIntegerField(help_text="The doctor's explanation, 1–5")
    comment = models.TextField(blank=True)
    language = models.CharField(max_length=8, blank=True)
    submitted_at = models.DateTimeField()

    class Meta:
        ordering = ["-submitted_at", "-pk"]
        constraints = [
            _score_range("feedback", "overall"),
            _score_range("feedback", "waiting_time"),
            _score_range("feedback", "audio_video"),
            _score_range("feedback", "explanation"),
        ]

    def __str__(self) -> str:
        return f"feedback {self.consultation_id}: {self.overall}/5"


# --- Complaints ------------------------------------------------------------------------------


class ComplaintSubject(models.TextChoices):
    CONSULTATION = "consultation", "问诊 consultation"
    PRESCRIPTION = "prescription", "处方 prescription"
    PAYMENT = "payment", "支付 payment"
    DELIVERY = "delivery", "取药配送 pickup or delivery"


class ComplaintStatus(models.TextChoices):
    SUBMITTED = "submitted", "已提交 submitted"
    TRIAGED = "triaged", "已分派 triaged"
    RESPONDED = "responded", "已答复 responded"
    CLOSED = "closed", "已办结 closed"
    WITHDRAWN = "withdrawn", "已撤回 withdrawn"


CS = ComplaintStatus
# The allowed status changes; every complaint service checks this one table. Re-triage, further
# replies and escalation leave the status as it is and are allowed while the complaint is open.
COMPLAINT_TRANSITIONS: dict[str, frozenset[str]] = {
    CS.SUBMITTED: frozenset({CS.TRIAGED, CS.WITHDRAWN}),
    CS.TRIAGED: frozenset({CS.RESPONDED, CS.CLOSED, CS.WITHDRAWN}),
    CS.RESPONDED: frozenset({CS.CLOSED, CS.WITHDRAWN}),
    CS.CLOSED: frozenset(),
    CS.WITHDRAWN: frozenset(),
}
OPEN_COMPLAINT_STATUSES = frozenset({CS.SUBMITTED, CS.TRIAGED, CS.RESPONDED})


class ComplaintCategory(models.TextChoices):
    SERVICE_ATTITUDE = "service_attitude", "服务态度 service attitude"
    WAITING = "waiting", "等候时间 waiting time"
    MEDICAL_CARE = "medical_care", "诊疗质量 medical care"
    MEDICATION = "medication", "处方与用药 prescription and medication"
    BILLING = "billing", "收费与退款 billing and refunds"
    DELIVERY = "delivery", "取药与配送 pickup and delivery"
    TECHNICAL = "technical", "视频与设备 video and equipment"
    PRIVACY = "privacy", "隐私 privacy"
    OTHER = "other", "其他 other"


class ComplaintSeverity(models.TextChoices):
    LOW = "low", "一般 low"
    MEDIUM = "medium", "较重 medium"
    HIGH = "high", "严重 high"
    CRITICAL = "critical", "紧急 critical"


class Complaint(PublicIdModel):
    """A patient's or facility's complaint about one consultation, prescription, payment or
    delivery. The consultation is always recorded (directly, or the one the prescription, order
    or fulfilment belongs to): it places the complaint at a facility, department and doctor."""

    subject_kind = models.CharField(max_length=16, choices=ComplaintSubject.choices)
    consultation = models.ForeignKey(
        "consultations.Consultation", on_delete=models.PROTECT, related_name="complaints"
    )
    prescription = models.ForeignKey(
        "prescriptions.Prescription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="complaints",
    )
    order = models.ForeignKey(
        "payments.PaymentOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="complaints",
    )
    fulfilment = models.ForeignKey(
        "pharmacy.Fulfilment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="complaints",
    )
    facility = models.ForeignKey(
        "clinics.Facility", on_delete=models.PROTECT, related_name="complaints"
    )
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    complainant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="complaints_filed"
    )
    complainant_role = models.CharField(max_length=32)
    description = models.TextField()
    status = models.CharField(
        max_length=16, choices=ComplaintStatus.choices, default=ComplaintStatus.SUBMITTED
    )
    category = models.CharField(max_length=24, choices=ComplaintCategory.choices, blank=True)
    severity = models.CharField(max_length=16, choices=ComplaintSeverity.choices, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="complaints_assigned",
    )
    # The triage deadline until triaged; then the deadline its severity sets (from submission).
    due_at = models.DateTimeField()
    triaged_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True, help_text="The first reply")
    closed_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    escalated_at = models.DateTimeField(
        null=True, blank=True, help_text="Flagged overdue; cleared when a new deadline is set"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["created_at"]),
            models.Index(fields=["closed_at"]),
            models.Index(fields=["complainant", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ComplaintStatus.values), name="complaint_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(subject_kind__in=ComplaintSubject.values),
                name="complaint_subject_valid",
            ),
            models.CheckConstraint(
                condition=Q(category="") | Q(category__in=ComplaintCategory.values),
                name="complaint_category_valid",
            ),
            models.CheckConstraint(
                condition=Q(severity="") | Q(severity__in=ComplaintSeverity.values),
                name="complaint_severity_valid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(subject_kind="consultation", prescription__isnull=True, order__isnull=True)
                    | Q(subject_kind="prescription", prescription__isnull=False)
                    | Q(subject_kind="payment", order__isnull=False)
                    | Q(subject_kind="delivery", fulfilment__isnull=False)
                ),
                name="complaint_subject_fields",
            ),
            # Past triage, a complaint has its category, severity and assignee.
            models.CheckConstraint(
                condition=Q(status__in=["submitted", "withdrawn"])
                | (~Q(category="") & ~Q(severity="") & Q(assignee__isnull=False)),
                name="complaint_triaged_fields",
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | (Q(closed_at__isnull=False) & ~Q(resolution="")),
                name="complaint_closed_with_resolution",
            ),
        ]

    def __str__(self) -> str:
        return f"complaint {self.public_id} ({self.status})"

    @property
    def reference(self) -> str:
        """What people quote on the phone: the first eight characters of the id."""
        return str(self.public_id)[:8].upper()


class ComplaintAction(models.TextChoices):
    SUBMITTED = "submitted", "提交 submitted"
    TRIAGED = "triaged", "分派 triaged"
    RETRIAGED = "retriaged", "重新分派 re-triaged"
    REPLIED = "replied", "答复 replied"
    CLOSED = "closed", "办结 closed"
    WITHDRAWN = "withdrawn", "撤回 withdrawn"
    ESCALATED = "escalated", "超期升级 escalated"


class ComplaintEvent(models.Model):
    """One step of a complaint: who did what, the status before and after, when."""

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(max_length=16, choices=ComplaintAction.choices)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_role = models.CharField(max_length=32)
    detail = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=ComplaintAction.values), name="complaint_event_action_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.complaint_id} {self.action}: {self.from_status} → {self.to_status}"


class ComplaintReply(models.Model):
    """What operations wrote back to the complainant."""

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "complaint replies"

    def __str__(self) -> str:
        return f"reply to {self.complaint_id}"


# --- Clinical quality review -----------------------------------------------------------------


class ReviewSample(models.Model):
    """One week's draw: which week, under which seed and default rate, and what could not be
    assigned (no eligible reviewer)."""

    week_start = models.DateField(unique=True, help_text="The Monday the week starts on")
    seed = models.CharField(max_length=100)
    default_rate = models.DecimalField(max_digits=5, decimal_places=4)
    population = models.PositiveIntegerField(default=0)
    assigned = models.PositiveIntegerField(default=0)
    unassigned = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-week_start"]

    def __str__(self) -> str:
        return f"review sample {self.week_start}"


class DoctorReviewRate(models.Model):
    """A doctor sampled at another rate than QUALITY_REVIEW_SAMPLE_RATE (a new doctor more, a
    long-reviewed one less)."""

    doctor = models.OneToOneField(
        "accounts.DoctorProfile", on_delete=models.PROTECT, related_name="review_rate"
    )
    rate = models.DecimalField(max_digits=5, decimal_places=4)
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(rate__gte=0, rate__lte=1), name="doctor_review_rate_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.doctor_id}: {self.rate}"


class ReviewKind(models.TextChoices):
    CONSULTATION = "consultation", "病历 consultation record"
    PRESCRIPTION = "prescription", "处方 prescription"


class ReviewStatus(models.TextChoices):
    ASSIGNED = "assigned", "待评审 assigned"
    COMPLETED = "completed", "已评审 completed"


REVIEW_TRANSITIONS: dict[str, frozenset[str]] = {
    ReviewStatus.ASSIGNED: frozenset({ReviewStatus.COMPLETED}),
    ReviewStatus.COMPLETED: frozenset(),
}
# The checklist, in the order reviewers see it.
CHECKLIST = ("record_completeness", "diagnosis_consistency", "rule_compliance", "communication")


class ReviewAssignment(PublicIdModel):
    """One sampled consultation record or approved prescription, given to one reviewer.

    `author` is the doctor whose work it is; `co_author` the pharmacist who approved the
    prescription. Neither may review it: the service never picks them, and the database refuses
    the row if anything tried.
    """

    sample = models.ForeignKey(ReviewSample, on_delete=models.PROTECT, related_name="assignments")
    kind = models.CharField(max_length=16, choices=ReviewKind.choices)
    consultation = models.ForeignKey(
        "consultations.Consultation", on_delete=models.PROTECT, related_name="quality_reviews"
    )
    prescription = models.ForeignKey(
        "prescriptions.Prescription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="quality_reviews",
    )
    doctor = models.ForeignKey(
        "accounts.DoctorProfile", on_delete=models.PROTECT, related_name="quality_reviews"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    co_author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="quality_reviews_to_do"
    )
    status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.ASSIGNED
    )
    assigned_at = models.DateTimeField()
    due_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    record_completeness = models.PositiveSmallIntegerField(null=True, blank=True)
    diagnosis_consistency = models.PositiveSmallIntegerField(null=True, blank=True)
    rule_compliance = models.PositiveSmallIntegerField(null=True, blank=True)
    communication = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [
            models.Index(fields=["reviewer", "status", "due_at"]),
            models.Index(fields=["status", "completed_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ReviewKind.values), name="review_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReviewStatus.values), name="review_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind="consultation", prescription__isnull=True)
                | Q(kind="prescription", prescription__isnull=False),
                name="review_kind_fields",
            ),
            # Nobody reviews their own work.
            models.CheckConstraint(condition=~Q(reviewer=F("author")), name="review_not_by_author"),
            models.CheckConstraint(
                condition=Q(co_author__isnull=True) | ~Q(reviewer=F("co_author")),
                name="review_not_by_co_author",
            ),
            # Each piece of work is sampled at most once.
            models.UniqueConstraint(
                fields=["consultation"],
                condition=Q(kind="consultation"),
                name="review_consultation_once",
            ),
            models.UniqueConstraint(
                fields=["prescription"],
                condition=Q(prescription__isnull=False),
                name="review_prescription_once",
            ),
            *(_score_range("review", item, nullable=True) for item in CHECKLIST),
            models.CheckConstraint(
                condition=Q(status="assigned")
                | Q(
                    completed_at__isnull=False,
                    **{f"{item}__isnull": False for item in CHECKLIST},
                ),
                name="review_completed_scored",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} review {self.public_id} ({self.status})"

    @property
    def score(self) -> float | None:
        """The mean of the checklist, once scored."""
        values = [getattr(self, item) for item in CHECKLIST]
        if any(value is None for value in values):
            return None
        return sum(values) / len(values)


# --- Terminal uptime -------------------------------------------------------------------------


class TerminalStatusChange(models.Model):
    """A terminal's status as the sampler saw it change (the clinics app keeps only the current
    status). Uptime over a period is read from these rows: the status holds from one row to
    the next."""

    terminal = models.ForeignKey(
        "clinics.Terminal", on_delete=models.PROTECT, related_name="status_changes"
    )
    status = models.CharField(max_length=16)
    observed_at = models.DateTimeField()

    class Meta:
        ordering = ["terminal", "observed_at", "pk"]
        indexes = [
            models.Index(fields=["terminal", "observed_at"]),
            models.Index(fields=["observed_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.terminal_id} {self.status} @ {self.observed_at:%Y-%m-%d %H:%M}"
