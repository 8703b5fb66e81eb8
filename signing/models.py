"""The platform CA and the signing credentials it issues.

Private keys are stored sealed (signing.keystore): a CA's under SIGNING_CA_KEY_SECRET, a
signer's under a key derived from their signing PIN, which is never stored. Rows are never
deleted: a rotated CA and a revoked credential still verify the signatures made with them.
"""

from django.conf import settings
from django.db import models

from core.models import PublicIdModel
from signing.algorithms import ALGORITHM_NAMES

ALGORITHM_CHOICES = [(name, name) for name in ALGORITHM_NAMES]


class CertificateAuthority(PublicIdModel):
    """A self-signed root; one active per algorithm issues, every one stays trusted."""

    algorithm = models.CharField(max_length=32, choices=ALGORITHM_CHOICES)
    subject = models.CharField(max_length=200)
    serial = models.CharField(max_length=64, unique=True, help_text="hex")
    certificate_pem = models.TextField()
    private_key_sealed = models.TextField()
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "certificate authority"
        verbose_name_plural = "certificate authorities"
        ordering = ["algorithm", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["algorithm"],
                condition=models.Q(is_active=True),
                name="signing_one_active_ca_per_algorithm",
            ),
            models.CheckConstraint(
                condition=models.Q(algorithm__in=ALGORITHM_NAMES), name="signing_ca_algorithm_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} ({self.algorithm}, {self.serial[:12]})"


class CredentialStatus(models.TextChoices):
    ACTIVE = "active", "active"
    REVOKED = "revoked", "revoked"


class SigningCredential(PublicIdModel):
    """A doctor's or pharmacist's key pair and certificate.

    `failed_pin_attempts` counts consecutive wrong PINs; reaching SIGNING_PIN_MAX_ATTEMPTS sets
    `locked_until` and starts the count again.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signing_credentials"
    )
    role = models.CharField(max_length=32)
    algorithm = models.CharField(max_length=32, choices=ALGORITHM_CHOICES)
    issuer = models.ForeignKey(
        CertificateAuthority, on_delete=models.PROTECT, related_name="credentials"
    )
    certificate_serial = models.CharField(max_length=64, unique=True, help_text="hex")
    certificate_pem = models.TextField()
    private_key_sealed = models.TextField()
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=CredentialStatus.choices, default=CredentialStatus.ACTIVE
    )
    failed_pin_attempts = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_signed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(status="active"),
                name="signing_one_active_credential_per_user",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=CredentialStatus.values),
                name="signing_credential_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(algorithm__in=ALGORITHM_NAMES),
                name="signing_credential_algorithm_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=["doctor", "pharmacist"]),
                name="signing_credential_role_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status="active", revoked_at__isnull=True)
                | models.Q(status="revoked", revoked_at__isnull=False),
                name="signing_credential_revoked_at_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.algorithm} {self.certificate_serial[:12]} ({self.status})"
