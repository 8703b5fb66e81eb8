"""Reads for signing: the trust anchors and revocations that offline verification takes."""

import datetime

from accounts.models import User
from signing.models import CertificateAuthority, CredentialStatus, SigningCredential


def trusted_ca_certificates() -> list[str]:
    """Every platform root, active and retired, oldest first (PEM)."""
    return list(
        CertificateAuthority.objects.order_by("created_at", "pk").values_list(
            "certificate_pem", flat=True
        )
    )


def revoked_certificates() -> dict[str, datetime.datetime]:
    """Certificate serial -> revocation time, for `verify_signature(revoked=...)`."""
    rows = SigningCredential.objects.filter(status=CredentialStatus.REVOKED).values_list(
        "certificate_serial", "revoked_at"
    )
    return {serial: revoked_at for serial, revoked_at in rows if revoked_at is not None}


def credential_active_for(*, user: User) -> SigningCredential | None:
    return SigningCredential.objects.filter(user=user, status=CredentialStatus.ACTIVE).first()
