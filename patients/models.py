"""The real-name patient registry."""

from django.conf import settings
from django.db import models

from core.models import PublicIdModel
from patients.identity import IdType as IdTypeValues

# Children under this age need a guardian recorded before anything is prescribed.
GUARDIAN_REQUIRED_UNDER_YEARS = 6


class IdType(models.TextChoices):
    RESIDENT_ID = IdTypeValues.RESIDENT_ID, "居民身份证 resident identity card"
    PASSPORT = IdTypeValues.PASSPORT, "护照 passport"
    HK_MACAU_PERMIT = IdTypeValues.HK_MACAU_PERMIT, "港澳居民来往内地通行证 HK/Macau permit"
    TAIWAN_PERMIT = IdTypeValues.TAIWAN_PERMIT, "台湾居民来往大陆通行证 Taiwan permit"


class Sex(models.TextChoices):
    MALE = "male", "男 male"
    FEMALE = "female", "女 female"


class Patient(PublicIdModel):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="patient",
        help_text="The patient's own sign-in account, once they have one",
    )
    name = models.CharField(max_length=100)
    id_type = models.CharField(max_length=32, choices=IdType.choices)
    # Fernet token of the document number; never stored in clear.
    id_number_encrypted = models.TextField(editable=False)
    # HMAC-SHA256 of "<id_type>:<number>" under the current lookup key: exact lookup, uniqueness.
    id_number_hash = models.CharField(max_length=64, unique=True, editable=False)
    id_number_masked = models.CharField(max_length=32, editable=False)
    birth_date = models.DateField()
    sex = models.CharField(max_length=8, choices=Sex.choices)
    phone = models.CharField(max_length=20, db_index=True, help_text="E.164")
    allergies = models.JSONField(default=list, blank=True)
    chronic_conditions = models.JSONField(default=list, blank=True)
    guardian_name = models.CharField(max_length=100, blank=True)
    guardian_relationship = models.CharField(max_length=32, blank=True)
    guardian_phone = models.CharField(max_length=20, blank=True)
    identity_verified_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id_type__in=IdType.values), name="patient_id_type_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(sex__in=Sex.values), name="patient_sex_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id_number_masked})"


class PatientFacility(models.Model):
    """A facility where the patient has been served; staff see only their facility's patients."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="facility_links")
    facility = models.ForeignKey(
        "clinics.Facility", on_delete=models.PROTECT, related_name="patient_links"
    )
    first_served_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["facility", "patient"], name="patient_facility_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} @ {self.facility_id}"


class VerificationMethod(models.TextChoices):
    ID_CARD_READER = "id_card_reader", "身份证阅读器 ID card reader"
    DOCUMENT_IN_PERSON = "document_in_person", "当面核验证件 document checked in person"


class IdentityVerification(models.Model):
    """Staff checked the patient's identity document against the person in front of them."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="verifications")
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    facility = models.ForeignKey("clinics.Facility", on_delete=models.PROTECT, related_name="+")
    method = models.CharField(max_length=32, choices=VerificationMethod.choices)
    note = models.CharField(max_length=200, blank=True)
    verified_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-verified_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(method__in=VerificationMethod.values),
                name="verification_method_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} verified {self.verified_at:%Y-%m-%d} ({self.method})"


class ConsentTemplate(models.Model):
    """A published version of the informed-consent text for remote care, per language."""

    version = models.CharField(max_length=16, help_text="e.g. 2026.1")
    language = models.CharField(max_length=8, choices=[("zh-hans", "简体中文"), ("en", "English")])
    title = models.CharField(max_length=200)
    text = models.TextField()
    is_active = models.BooleanField(default=True)
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-published_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "language"], name="consent_template_version_language"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version} ({self.language})"


class ConsentSigner(models.TextChoices):
    PATIENT = "patient", "患者本人 patient"
    GUARDIAN = "guardian", "监护人 guardian"


class ConsentMethod(models.TextChoices):
    TERMINAL_SIGNATURE = "terminal_signature", "终端手写签名 signature on the terminal"
    TERMINAL_CONFIRMATION = "terminal_confirmation", "终端点击确认 confirmed on the terminal"
    PAPER_SCANNED = "paper_scanned", "纸质签署扫描 signed on paper, scanned"


class ConsentRecord(models.Model):
    """The patient (or guardian) agreed to remote care, to exactly the text that was shown."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    template = models.ForeignKey(ConsentTemplate, on_delete=models.PROTECT, related_name="records")
    text_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the exact text shown")
    signer = models.CharField(max_length=16, choices=ConsentSigner.choices)
    signer_name = models.CharField(max_length=100)
    method = models.CharField(max_length=32, choices=ConsentMethod.choices)
    facility = models.ForeignKey("clinics.Facility", on_delete=models.PROTECT, related_name="+")
    terminal = models.ForeignKey(
        "clinics.Terminal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField()

    class Meta:
        ordering = ["-signed_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(signer__in=ConsentSigner.values), name="consent_signer_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(method__in=ConsentMethod.values), name="consent_method_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"consent {self.patient_id} v{self.template_id} {self.signed_at:%Y-%m-%d}"


class PriorDiagnosisEvidence(PublicIdModel):
    """A document proving an earlier in-person diagnosis: online care is for follow-ups only.

    `verified_at` set means the doctor checked it; a consultation can start only for a patient
    with verified evidence.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="evidence")
    document = models.FileField(upload_to="evidence/%Y/%m/")
    document_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size_bytes = models.PositiveIntegerField()
    issuing_institution = models.CharField(max_length=200)
    diagnosis = models.ForeignKey(
        "terminology.Icd10Code", on_delete=models.PROTECT, related_name="+"
    )
    diagnosis_date = models.DateField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]
        verbose_name_plural = "prior-diagnosis evidence"

    def __str__(self) -> str:
        return f"{self.diagnosis_id} {self.issuing_institution} ({self.diagnosis_date})"


class AccessReviewFlag(models.Model):
    """A read or write of a patient's record by someone outside the patient's care team, found in
    the audit log for operations to review (the audit row itself never changes)."""

    audit_event = models.OneToOneField(
        "core.AuditEvent",
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,  # the audit log outlives everything
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_role = models.CharField(max_length=32)
    reason = models.CharField(max_length=64)
    flagged_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-flagged_at", "-id"]
        indexes = [
            models.Index(fields=["reviewed_at", "flagged_at"], name="access_review_open_idx")
        ]

    def __str__(self) -> str:
        return f"{self.actor_role} {self.actor_id} → patient {self.patient_id}: {self.reason}"


class AccessReviewCursor(models.Model):
    """How far the reviewer has read the audit log (one row)."""

    last_audit_event_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"audit log reviewed up to {self.last_audit_event_id}"
