"""People who sign in: clinic staff, doctors, pharmacists, patients and operations."""

import datetime
import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from core.dates import age_on

# A doctor may practise online only after three years of independent practice.
MIN_YEARS_OF_INDEPENDENT_PRACTICE = 3


class Role(models.TextChoices):
    CLINIC_STAFF = "clinic_staff", "clinic staff"
    DOCTOR = "doctor", "doctor"
    PHARMACIST = "pharmacist", "pharmacist"
    PATIENT = "patient", "patient"
    OPERATIONS = "operations", "operations"


class User(AbstractUser):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    role = models.CharField(max_length=32, choices=Role.choices)
    full_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +8613800138000")
    preferred_language = models.CharField(
        max_length=8, choices=[("zh-hans", "简体中文"), ("en", "English")], default="zh-hans"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.username


class DoctorTitle(models.TextChoices):
    RESIDENT = "resident", "住院医师 resident physician"
    ATTENDING = "attending", "主治医师 attending physician"
    ASSOCIATE_CHIEF = "associate_chief", "副主任医师 associate chief physician"
    CHIEF = "chief", "主任医师 chief physician"


class DoctorProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="doctor_profile")
    department = models.ForeignKey(
        "clinics.Department", on_delete=models.PROTECT, related_name="doctors"
    )
    licence_number = models.CharField(max_length=32, unique=True, help_text="执业证书编码")
    qualification_number = models.CharField(max_length=32, unique=True, help_text="资格证书编码")
    title = models.CharField(max_length=32, choices=DoctorTitle.choices)
    independent_practice_since = models.DateField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(title__in=DoctorTitle.values), name="doctor_title_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_title_display()})"

    def years_of_independent_practice(self, on: datetime.date | None = None) -> int:
        return max(age_on(self.independent_practice_since, on or timezone.localdate()), 0)

    def can_be_scheduled(self, on: datetime.date | None = None) -> bool:
        """Online consultations need at least three years of independent practice."""
        return self.years_of_independent_practice(on) >= MIN_YEARS_OF_INDEPENDENT_PRACTICE


class PharmacistTitle(models.TextChoices):
    PHARMACIST = "pharmacist", "药师 pharmacist"
    SUPERVISING = "supervising", "主管药师 supervising pharmacist"
    ASSOCIATE_CHIEF = "associate_chief", "副主任药师 associate chief pharmacist"
    CHIEF = "chief", "主任药师 chief pharmacist"


class PharmacistProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="pharmacist_profile")
    licence_number = models.CharField(max_length=32, unique=True)
    title = models.CharField(max_length=32, choices=PharmacistTitle.choices)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(title__in=PharmacistTitle.values),
                name="pharmacist_title_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_title_display()})"


class TotpDevice(models.Model):
    """The authenticator app a doctor, pharmacist or operations user confirms page sign-in with
    (RFC 6238, 30-second steps). The shared secret is stored encrypted."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    secret_encrypted = models.TextField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last time step accepted: a code is never accepted twice.
    last_used_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"TOTP of {self.user_id} ({'confirmed' if self.confirmed_at else 'enrolling'})"
