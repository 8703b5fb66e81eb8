"""Doctor schedules, slots, consultations and their clinical record.

Lifecycle (SPEC §3): booked → checked_in → in_progress → completed; booked|checked_in →
cancelled; booked → no_show; in_progress → terminated. `TRANSITIONS` is the one table every
transition service checks; each transition appends a `ConsultationEvent`.
"""

from django.conf import settings
from django.db import models

from core.models import PublicIdModel

# Medical records are kept 15 years; audio/video recording references 3 years (SPEC §4.12).
RECORD_RETENTION_YEARS = 15
RECORDING_RETENTION_YEARS = 3


class Weekday(models.IntegerChoices):
    MONDAY = 0, "周一 Monday"
    TUESDAY = 1, "周二 Tuesday"
    WEDNESDAY = 2, "周三 Wednesday"
    THURSDAY = 3, "周四 Thursday"
    FRIDAY = 4, "周五 Friday"
    SATURDAY = 5, "周六 Saturday"
    SUNDAY = 6, "周日 Sunday"


class WeeklyAvailability(models.Model):
    """One working window of a doctor's week, in Asia/Shanghai local time.

    A day with a break has two windows (08:30–12:00 and 14:00–17:30): the gap is the break.
    """

    doctor = models.ForeignKey(
        "accounts.DoctorProfile", on_delete=models.PROTECT, related_name="weekly_availability"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts_at = models.TimeField()
    ends_at = models.TimeField()

    class Meta:
        ordering = ["doctor", "weekday", "starts_at"]
        verbose_name_plural = "weekly availability"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weekday__lte=6), name="availability_weekday_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="availability_window_positive",
            ),
        ]

    def __str__(self) -> str:
        window = f"{self.starts_at:%H:%M}-{self.ends_at:%H:%M}"
        return f"{self.doctor_id} {self.get_weekday_display()} {window}"


class ScheduleExceptionKind(models.TextChoices):
    LEAVE = "leave", "请假 leave"
    HOLIDAY = "holiday", "节假日 holiday"
    EXTRA_HOURS = "extra_hours", "加诊 extra hours"


class ScheduleException(models.Model):
    """A day (or part of one) that differs from the weekly pattern.

    Leave and holidays remove hours (a whole day when no times are given); extra hours add a
    window. A holiday with no doctor applies to every doctor.
    """

    doctor = models.ForeignKey(
        "accounts.DoctorProfile",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="schedule_exceptions",
    )
    kind = models.CharField(max_length=16, choices=ScheduleExceptionKind.choices)
    date = models.DateField()
    starts_at = models.TimeField(null=True, blank=True)
    ends_at = models.TimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["date", "starts_at"]
        indexes = [models.Index(fields=["date"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=ScheduleExceptionKind.values),
                name="schedule_exception_kind_valid",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(starts_at__isnull=True, ends_at__isnull=True)
                    | models.Q(
                        starts_at__isnull=False,
                        ends_at__isnull=False,
                        ends_at__gt=models.F("starts_at"),
                    )
                ),
                name="schedule_exception_window_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="extra_hours")
                | models.Q(starts_at__isnull=False, doctor__isnull=False),
                name="schedule_exception_extra_needs_window",
            ),
            models.CheckConstraint(
                condition=models.Q(doctor__isnull=False) | models.Q(kind="holiday"),
                name="schedule_exception_doctor_unless_holiday",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.date}"


class Slot(PublicIdModel):
    """A bookable period of one doctor, produced from the schedule (never entered by hand).

    A slot the schedule no longer covers is withdrawn, not deleted, so history stays intact.
    """

    doctor = models.ForeignKey(
        "accounts.DoctorProfile", on_delete=models.PROTECT, related_name="slots"
    )
    department = models.ForeignKey(
        "clinics.Department", on_delete=models.PROTECT, related_name="slots"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    is_withdrawn = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "doctor"]
        indexes = [
            models.Index(fields=["department", "starts_at"]),
            models.Index(fields=["starts_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["doctor", "starts_at"], name="slot_doctor_start_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="slot_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.doctor_id} {self.starts_at:%Y-%m-%d %H:%M}"


class ConsultationKind(models.TextChoices):
    SCHEDULED = "scheduled", "预约 scheduled"
    WALK_IN = "walk_in", "当日挂号 walk-in"


class ConsultationStatus(models.TextChoices):
    BOOKED = "booked", "已预约 booked"
    CHECKED_IN = "checked_in", "已签到 checked in"
    IN_PROGRESS = "in_progress", "就诊中 in progress"
    COMPLETED = "completed", "已完成 completed"
    CANCELLED = "cancelled", "已取消 cancelled"
    NO_SHOW = "no_show", "爽约 no-show"
    TERMINATED = "terminated", "终止转诊 terminated"


# The allowed transitions; every transition service checks this one table.
TRANSITIONS: dict[str, frozenset[str]] = {
    ConsultationStatus.BOOKED: frozenset(
        {ConsultationStatus.CHECKED_IN, ConsultationStatus.CANCELLED, ConsultationStatus.NO_SHOW}
    ),
    ConsultationStatus.CHECKED_IN: frozenset(
        {ConsultationStatus.IN_PROGRESS, ConsultationStatus.CANCELLED}
    ),
    ConsultationStatus.IN_PROGRESS: frozenset(
        {ConsultationStatus.COMPLETED, ConsultationStatus.TERMINATED}
    ),
    ConsultationStatus.COMPLETED: frozenset(),
    ConsultationStatus.CANCELLED: frozenset(),
    ConsultationStatus.NO_SHOW: frozenset(),
    ConsultationStatus.TERMINATED: frozenset(),
}
# Statuses in which the patient is still expected (overlap and future-booking limits count these).
ACTIVE_STATUSES = frozenset(
    {ConsultationStatus.BOOKED, ConsultationStatus.CHECKED_IN, ConsultationStatus.IN_PROGRESS}
)


class TerminationReason(models.TextChoices):
    CONDITION_CHANGED = "condition_changed", "病情变化 condition changed"
    FIRST_VISIT = "first_visit", "实为初诊 actually a first visit"
    UNSUITABLE = "unsuitable", "不适宜互联网诊疗 unsuitable for online care"
    EMERGENCY = "emergency", "急诊 emergency"


class Consultation(PublicIdModel):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consultations"
    )
    department = models.ForeignKey(
        "clinics.Department", on_delete=models.PROTECT, related_name="consultations"
    )
    # Null only for a walk-in token until a doctor of the department starts it.
    doctor = models.ForeignKey(
        "accounts.DoctorProfile",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consultations",
    )
    facility = models.ForeignKey(
        "clinics.Facility", on_delete=models.PROTECT, related_name="consultations"
    )
    kind = models.CharField(max_length=16, choices=ConsultationKind.choices)
    slot = models.ForeignKey(
        Slot, null=True, blank=True, on_delete=models.PROTECT, related_name="consultations"
    )
    # For scheduled consultations, the slot's period; for walk-ins, the day's date at 00:00–24:00.
    scheduled_start = models.DateTimeField()
    scheduled_end = models.DateTimeField()
    walk_in_date = models.DateField(null=True, blank=True)
    walk_in_token = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ConsultationStatus.choices, default=ConsultationStatus.BOOKED
    )
    fee_fen = models.PositiveIntegerField(help_text="The department's fee when booked")
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_terminal = models.ForeignKey(
        "clinics.Terminal",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consultations",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)
    termination_reason = models.CharField(
        max_length=32, choices=TerminationReason.choices, blank=True
    )
    referral_note = models.TextField(blank=True)
    recording_reference = models.CharField(max_length=200, blank=True)
    recording_retention_until = models.DateField(null=True, blank=True)
    retention_until = models.DateField(help_text="Kept at least until this date (15 years)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scheduled_start", "walk_in_token", "pk"]
        indexes = [
            models.Index(fields=["facility", "scheduled_start"]),
            models.Index(fields=["doctor", "status", "scheduled_start"]),
            models.Index(fields=["department", "walk_in_date", "status"]),
            models.Index(fields=["patient", "status"]),
            models.Index(fields=["status", "scheduled_end"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ConsultationStatus.values),
                name="consultation_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=ConsultationKind.values), name="consultation_kind_valid"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        kind="scheduled",
                        slot__isnull=False,
                        doctor__isnull=False,
                        walk_in_token__isnull=True,
                    )
                    | models.Q(
                        kind="walk_in",
                        slot__isnull=True,
                        walk_in_token__isnull=False,
                        walk_in_date__isnull=False,
                    )
                ),
                name="consultation_kind_fields",
            ),
            # A slot is never booked twice: only a cancelled booking frees it.
            models.UniqueConstraint(
                fields=["slot"],
                condition=models.Q(slot__isnull=False) & ~models.Q(status="cancelled"),
                name="consultation_one_booking_per_slot",
            ),
            models.UniqueConstraint(
                fields=["department", "walk_in_date", "walk_in_token"],
                condition=models.Q(walk_in_token__isnull=False),
                name="consultation_walk_in_token_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(termination_reason="") | models.Q(status="terminated"),
                name="consultation_termination_reason_only_when_terminated",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"


class WalkInCounter(models.Model):
    """The last token number handed out per department and day (locked while incremented)."""

    department = models.ForeignKey("clinics.Department", on_delete=models.PROTECT, related_name="+")
    date = models.DateField()
    last_token = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["department", "date"], name="walk_in_counter_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.date}: {self.last_token}"


class ConsultationEvent(models.Model):
    """One transition: who moved the consultation from what to what, when, and why."""

    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_role = models.CharField(max_length=32)
    terminal = models.ForeignKey(
        "clinics.Terminal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "pk"]

    def __str__(self) -> str:
        return f"{self.consultation_id}: {self.from_status or '∅'} → {self.to_status}"


class ClinicalNote(models.Model):
    """The SOAP note of a consultation, written by its doctor."""

    consultation = models.OneToOneField(Consultation, on_delete=models.PROTECT, related_name="note")
    subjective = models.TextField(blank=True)
    objective = models.TextField(blank=True)
    assessment = models.TextField(blank=True)
    plan = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"note {self.consultation_id}"


class ConsultationDiagnosis(models.Model):
    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="diagnoses"
    )
    code = models.ForeignKey("terminology.Icd10Code", on_delete=models.PROTECT, related_name="+")
    is_primary = models.BooleanField(default=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_primary", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["consultation", "code"], name="diagnosis_code_once"),
            models.UniqueConstraint(
                fields=["consultation"],
                condition=models.Q(is_primary=True),
                name="diagnosis_one_primary",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.consultation_id} {self.code_id}"


class VitalKind(models.TextChoices):
    BLOOD_PRESSURE = "blood_pressure", "血压 blood pressure (mmHg)"
    HEART_RATE = "heart_rate", "心率 heart rate (/min)"
    TEMPERATURE = "temperature", "体温 temperature (°C)"
    SPO2 = "spo2", "血氧饱和度 SpO2 (%)"
    GLUCOSE = "glucose", "血糖 glucose (mmol/L)"
    WEIGHT = "weight", "体重 weight (kg)"


class VitalSign(models.Model):
    """A peripheral reading taken at the terminal for the consultation checked in there."""

    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="vitals")
    terminal = models.ForeignKey(
        "clinics.Terminal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=VitalKind.choices)
    value = models.DecimalField(
        max_digits=6, decimal_places=2, help_text="Systolic for blood pressure"
    )
    value_secondary = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Diastolic for blood pressure",
    )
    unit = models.CharField(max_length=16)
    is_abnormal = models.BooleanField(default=False)
    measured_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["measured_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=VitalKind.values), name="vital_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"
