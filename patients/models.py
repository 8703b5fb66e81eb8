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
