"""The formulary, e-prescriptions, their signatures and the pharmacist's review."""

from decimal import Decimal

from django.conf import settings
from django.db import models

from core.models import PublicIdModel


class ControlClass(models.TextChoices):
    NONE = "none", "普通 none"
    NARCOTIC = "narcotic", "麻醉药品 narcotic"
    PSYCHOTROPIC_1 = "psychotropic_1", "第一类精神药品 psychotropic I"
    PSYCHOTROPIC_2 = "psychotropic_2", "第二类精神药品 psychotropic II"
    TOXIC = "toxic", "医疗用毒性药品 toxic"
    RADIOACTIVE = "radioactive", "放射性药品 radioactive"
    PRECURSOR = "precursor", "药品类易制毒化学品 precursor"
    VACCINE = "vaccine", "疫苗 vaccine"
    BLOOD_PRODUCT = "blood_product", "血液制品 blood product"


# SPEC §4 rule 5: never prescribed online, whatever the formulary row says.
BANNED_CONTROL_CLASSES = frozenset(ControlClass.values) - {ControlClass.NONE}


class Drug(models.Model):
    """One formulary product (generic name, form, strength, pack) at its current price."""

    code = models.CharField(max_length=40, unique=True)
    name_zh = models.CharField(max_length=100, help_text="通用名")
    name_en = models.CharField(max_length=120)
    atc_code = models.CharField(max_length=7, db_index=True)
    dosage_form = models.CharField(max_length=32)
    strength = models.CharField(max_length=60, help_text="As printed, e.g. '5 mg'")
    dose_unit = models.CharField(max_length=16, help_text="What one dose is counted in: mg, IU…")
    strength_per_unit = models.DecimalField(
        max_digits=12, decimal_places=3, help_text="Dose units in one tablet, pen, tube…"
    )
    units_per_pack = models.PositiveIntegerField()
    pack_unit = models.CharField(max_length=8, help_text="盒, 瓶, 支…")
    price_fen = models.PositiveIntegerField(help_text="Price of one pack")
    control_class = models.CharField(
        max_length=16, choices=ControlClass.choices, default=ControlClass.NONE
    )
    online_prescribable = models.BooleanField(default=True)
    cold_chain = models.BooleanField(default=False, help_text="Pickup only")
    long_term_eligible = models.BooleanField(default=False)
    max_daily_dose = models.DecimalField(
        max_digits=12, decimal_places=3, null=True, blank=True, help_text="In dose units per day"
    )
    default_route = models.CharField(max_length=16)
    allergy_classes = models.JSONField(
        default=list,
        blank=True,
        help_text="Allergy terms the drug belongs to (青霉素, 磺胺类药物…)",
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["atc_code", "code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(control_class__in=ControlClass.values),
                name="drug_control_class_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(strength_per_unit__gt=0), name="drug_strength_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(units_per_pack__gt=0), name="drug_pack_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name_zh} {self.strength} ({self.code})"

    @property
    def atc_group(self) -> str:
        """ATC level 4 (chemical subgroup): two drugs in one group are duplicate therapy."""
        return self.atc_code[:5]

    @property
    def pack_content(self) -> Decimal:
        return self.strength_per_unit * self.units_per_pack


class InteractionSeverity(models.TextChoices):
    MAJOR = "major", "严重 major"
    MODERATE = "moderate", "中度 moderate"


class DrugInteraction(models.Model):
    """A well-known dangerous pair, by ATC code (stored with atc_a < atc_b)."""

    atc_a = models.CharField(max_length=7)
    atc_b = models.CharField(max_length=7)
    severity = models.CharField(max_length=16, choices=InteractionSeverity.choices)
    description_zh = models.CharField(max_length=300)
    description_en = models.CharField(max_length=300)

    class Meta:
        ordering = ["atc_a", "atc_b"]
        constraints = [
            models.UniqueConstraint(fields=["atc_a", "atc_b"], name="interaction_pair_unique"),
            models.CheckConstraint(
                condition=models.Q(atc_a__lt=models.F("atc_b")), name="interaction_pair_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.atc_a} × {self.atc_b} ({self.severity})"


class PrescriptionStatus(models.TextChoices):
    DRAFT = "draft", "草稿 draft"
    SIGNED = "signed", "已签名待审核 signed"
    APPROVED = "approved", "审核通过 approved"
    REJECTED = "rejected", "审核驳回 rejected"
    DISPENSED = "dispensed", "已发药 dispensed"
    EXPIRED = "expired", "已失效 expired"
    REVOKED = "revoked", "已撤销 revoked"


TRANSITIONS: dict[str, frozenset[str]] = {
    PrescriptionStatus.DRAFT: frozenset({PrescriptionStatus.SIGNED}),
    PrescriptionStatus.SIGNED: frozenset(
        {
            PrescriptionStatus.APPROVED,
            PrescriptionStatus.REJECTED,
            PrescriptionStatus.EXPIRED,
            PrescriptionStatus.REVOKED,
        }
    ),
    PrescriptionStatus.APPROVED: frozenset(
        {PrescriptionStatus.DISPENSED, PrescriptionStatus.EXPIRED, PrescriptionStatus.REVOKED}
    ),
    PrescriptionStatus.REJECTED: frozenset(),
    PrescriptionStatus.DISPENSED: frozenset(),
    PrescriptionStatus.EXPIRED: frozenset(),
    PrescriptionStatus.REVOKED: frozenset(),
}
# Once signed, the clinical content never changes: a revision is a new version.
IMMUTABLE_STATUSES = frozenset(TRANSITIONS) - {PrescriptionStatus.DRAFT}


class Frequency(models.TextChoices):
    QD = "qd", "每日一次 once daily"
    BID = "bid", "每日两次 twice daily"
    TID = "tid", "每日三次 three times daily"
    QID = "qid", "每日四次 four times daily"
    QN = "qn", "每晚一次 every night"
    Q8H = "q8h", "每8小时一次 every 8 hours"
    Q12H = "q12h", "每12小时一次 every 12 hours"
    QW = "qw", "每周一次 once weekly"
    PRN = "prn", "必要时 as needed"


# Administrations per day; "as needed" is counted at its usual ceiling of three a day.
FREQUENCY_PER_DAY: dict[str, Decimal] = {
    Frequency.QD: Decimal(1),
    Frequency.BID: Decimal(2),
    Frequency.TID: Decimal(3),
    Frequency.QID: Decimal(4),
    Frequency.QN: Decimal(1),
    Frequency.Q8H: Decimal(3),
    Frequency.Q12H: Decimal(2),
    Frequency.QW: Decimal(1) / Decimal(7),
    Frequency.PRN: Decimal(3),
}


class Route(models.TextChoices):
    ORAL = "oral", "口服 oral"
    SUBLINGUAL = "sublingual", "舌下 sublingual"
    TOPICAL = "topical", "外用 topical"
    INHALED = "inhaled", "吸入 inhaled"
    NASAL = "nasal", "鼻用 nasal"
    OPHTHALMIC = "ophthalmic", "滴眼 ophthalmic"
    SUBCUTANEOUS = "subcutaneous", "皮下注射 subcutaneous"
    INTRAMUSCULAR = "intramuscular", "肌内注射 intramuscular"
    INTRAVENOUS = "intravenous", "静脉 intravenous"
    RECTAL = "rectal", "直肠 rectal"
    TRANSDERMAL = "transdermal", "透皮 transdermal"


class Prescription(PublicIdModel):
    """One version of a prescription. Versions of one prescription share `number`."""

    number = models.CharField(max_length=24, help_text="Human-readable, e.g. RX20261126000123")
    version = models.PositiveSmallIntegerField(default=1)
    previous_version = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="next_version"
    )
    consultation = models.ForeignKey(
        "consultations.Consultation", on_delete=models.PROTECT, related_name="prescriptions"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="prescriptions"
    )
    doctor = models.ForeignKey(
        "accounts.DoctorProfile", on_delete=models.PROTECT, related_name="prescriptions"
    )
    status = models.CharField(
        max_length=16, choices=PrescriptionStatus.choices, default=PrescriptionStatus.DRAFT
    )
    diagnosis = models.ForeignKey(
        "terminology.Icd10Code", on_delete=models.PROTECT, related_name="+"
    )
    evidence = models.ForeignKey(
        "patients.PriorDiagnosisEvidence",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The verified prior diagnosis this follow-up prescription rests on",
    )
    supply_reason = models.CharField(
        max_length=300, blank=True, help_text="Why more than 7 days' supply"
    )
    long_term = models.BooleanField(default=False, help_text="长期处方 (more than 28 days)")
    long_term_assessment = models.TextField(blank=True)
    long_term_patient_confirmed = models.BooleanField(default=False)
    validity_days = models.PositiveSmallIntegerField(default=1)
    validity_reason = models.CharField(max_length=300, blank=True)
    # The guardian recorded for a child under 6, as it stood when prescribed.
    guardian_name = models.CharField(max_length=100, blank=True)
    guardian_relationship = models.CharField(max_length=32, blank=True)

    # Set when the doctor signs: the exact signed bytes and the signature over them.
    signed_at = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    signed_content = models.TextField(blank=True, help_text="Canonical JSON that was signed")
    doctor_signature = models.TextField(blank=True)
    doctor_certificate = models.TextField(blank=True)
    doctor_certificate_serial = models.CharField(max_length=64, blank=True)

    reviewed_at = models.DateTimeField(null=True, blank=True)
    pharmacist = models.ForeignKey(
        "accounts.PharmacistProfile",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reviewed_prescriptions",
    )
    review_content = models.TextField(blank=True, help_text="Canonical JSON countersigned")
    pharmacist_signature = models.TextField(blank=True)
    pharmacist_certificate = models.TextField(blank=True)
    pharmacist_certificate_serial = models.CharField(max_length=64, blank=True)
    rejection_reasons = models.JSONField(default=list, blank=True)
    rejection_comment = models.TextField(blank=True)

    dispensed_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=300, blank=True)
    retention_until = models.DateField(help_text="Kept at least until this date")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=PrescriptionStatus.values),
                name="prescription_status_valid",
            ),
            models.UniqueConstraint(
                fields=["number", "version"], name="prescription_number_version_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(validity_days__gte=1, validity_days__lte=3),
                name="prescription_validity_days_range",
            ),
            # Dispensed at most once: the timestamp exists exactly when the status says so.
            models.CheckConstraint(
                condition=models.Q(status=PrescriptionStatus.DISPENSED, dispensed_at__isnull=False)
                | (
                    ~models.Q(status=PrescriptionStatus.DISPENSED)
                    & models.Q(dispensed_at__isnull=True)
                ),
                name="prescription_dispensed_consistent",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "signed_at"], name="prescription_queue_idx"),
            models.Index(fields=["status", "valid_until"], name="prescription_expiry_idx"),
            models.Index(fields=["patient", "-created_at"], name="prescription_patient_idx"),
            models.Index(fields=["doctor", "-created_at"], name="prescription_doctor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number} v{self.version} ({self.status})"


class PrescriptionItem(models.Model):
    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="items")
    position = models.PositiveSmallIntegerField()
    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="+")
    dose = models.DecimalField(max_digits=10, decimal_places=3, help_text="Per administration")
    dose_unit = models.CharField(max_length=16)
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    route = models.CharField(max_length=16, choices=Route.choices)
    days_supply = models.PositiveSmallIntegerField()
    quantity = models.PositiveIntegerField(help_text="Packs")
    instructions = models.CharField(max_length=200, blank=True)
    unit_price_fen = models.PositiveIntegerField(help_text="Formulary price when prescribed")

    class Meta:
        ordering = ["prescription", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["prescription", "position"], name="prescription_item_position_unique"
            ),
            models.CheckConstraint(condition=models.Q(dose__gt=0), name="item_dose_positive"),
            models.CheckConstraint(
                condition=models.Q(days_supply__gte=1, days_supply__lte=84),
                name="item_days_supply_range",
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="item_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prescription_id}#{self.position} {self.drug_id}"


class WarningKind(models.TextChoices):
    ALLERGY = "allergy", "过敏 allergy"
    DUPLICATE_THERAPY = "duplicate_therapy", "重复用药 duplicate therapy"
    MAX_DAILY_DOSE = "max_daily_dose", "超过最大日剂量 maximum daily dose"
    INTERACTION = "interaction", "相互作用 interaction"


class PrescriptionWarning(models.Model):
    """A warning that blocks signing until the doctor acknowledges it with a reason."""

    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, related_name="warnings"
    )
    kind = models.CharField(max_length=24, choices=WarningKind.choices)
    # Stable for the same finding, so an acknowledgement survives unrelated edits of the draft.
    key = models.CharField(max_length=120)
    message = models.CharField(max_length=400)
    acknowledged_reason = models.CharField(max_length=300, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["prescription", "id"]
        constraints = [
            models.UniqueConstraint(fields=["prescription", "key"], name="warning_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class RejectionReason(models.TextChoices):
    INDICATION = "indication", "适应证不适宜 indication does not fit the diagnosis"
    DOSE = "dose", "用法用量不适宜 dose or frequency"
    DUPLICATE = "duplicate", "重复用药 duplicate therapy"
    INTERACTION = "interaction", "相互作用或配伍禁忌 interaction"
    ALLERGY = "allergy", "过敏风险 allergy risk"
    QUANTITY = "quantity", "用量或疗程不适宜 quantity or duration"
    INCOMPLETE = "incomplete", "处方不规范 incomplete or non-standard"
    OTHER = "other", "其他 other"


class PrescriptionEvent(models.Model):
    """Append-only history of status changes (and of acknowledgements and revisions)."""

    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_role = models.CharField(max_length=32)
    reason = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.prescription_id}: {self.from_status} → {self.to_status}"


class PrescriptionNumberCounter(models.Model):
    """Per-day sequence for human-readable numbers, bumped with F() under a row lock."""

    date = models.DateField(unique=True)
    last_value = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.date}: {self.last_value}"
