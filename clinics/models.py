"""The hub hospital and its departments; the network of facilities, their terminals and staff."""

from django.conf import settings
from django.db import models

from core.models import PublicIdModel


class Hospital(PublicIdModel):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    name_en = models.CharField(max_length=150, blank=True)
    address = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.name


class Department(PublicIdModel):
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="departments")
    code = models.CharField(max_length=32)
    name = models.CharField(max_length=100)
    name_en = models.CharField(max_length=100, blank=True)
    slot_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="Length of one consultation slot in this department"
    )
    consultation_fee_fen = models.PositiveIntegerField(
        help_text="Consultation fee in fen (0.01 CNY)"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["hospital", "code"], name="department_code_unique"),
            models.CheckConstraint(
                condition=models.Q(slot_minutes__gte=5, slot_minutes__lte=120),
                name="department_slot_minutes_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FacilityType(models.TextChoices):
    PHARMACY = "pharmacy", "药店 pharmacy"
    COMMUNITY_CLINIC = "community_clinic", "社区卫生服务站 community clinic"
    TOWNSHIP_HEALTH_CENTER = "township_health_center", "乡镇卫生院 township health centre"
    SCHOOL = "school", "学校医务室 school infirmary"
    MILITARY_UNIT = "military_unit", "部队卫生队 military unit clinic"
    PRISON = "prison", "监狱医务室 prison clinic"
    ENTERPRISE = "enterprise", "企业医务室 enterprise clinic"


class Facility(PublicIdModel):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=150)
    facility_type = models.CharField(max_length=32, choices=FacilityType.choices)
    province = models.CharField(max_length=32)
    city = models.CharField(max_length=32)
    district = models.CharField(max_length=32)
    address_detail = models.CharField(max_length=200, blank=True)
    operator = models.CharField(max_length=150, help_text="The organisation that runs the site")
    is_licensed_medical_institution = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "facilities"
        ordering = ["code"]
        indexes = [
            models.Index(fields=["city", "district"]),
            models.Index(fields=["facility_type"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(facility_type__in=FacilityType.values),
                name="facility_type_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class TerminalStatus(models.TextChoices):
    ONLINE = "online", "online"
    OFFLINE = "offline", "offline"
    MAINTENANCE = "maintenance", "maintenance"


class Terminal(PublicIdModel):
    """A consultation terminal (kiosk with camera and peripherals) standing in a facility."""

    serial = models.CharField(max_length=64, unique=True)
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="terminals")
    status = models.CharField(
        max_length=16, choices=TerminalStatus.choices, default=TerminalStatus.OFFLINE
    )
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    # SHA-256 of the device secret; the secret itself is shown once, when issued.
    credential_hash = models.CharField(max_length=64, blank=True, editable=False)
    credential_issued_at = models.DateTimeField(null=True, blank=True, editable=False)
    credential_revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["serial"]
        indexes = [models.Index(fields=["status", "last_heartbeat_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=TerminalStatus.values), name="terminal_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.serial


class StaffMembership(models.Model):
    """Binds a clinic staff user to the one facility they work at."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="staff_membership"
    )
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="staff")
    position = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} @ {self.facility}"
