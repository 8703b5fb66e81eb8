"""The platform CA: one self-signed root per algorithm.

`pki_init` creates the missing roots (idempotent); `force_new=True` rotates: a new root becomes
the active issuer and the old ones stay as trusted (retired) roots, so every signature made
under them still verifies. CA private keys are sealed under SIGNING_CA_KEY_SECRET; a root whose
key no longer opens (the secret changed) can still be trusted but not issue: rotate it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import ConflictError, DomainError
from signing import keystore
from signing.algorithms import ALGORITHM_NAMES, UnknownAlgorithmError, get_algorithm
from signing.certificates import CertificateRequest, issue_certificate, new_serial, serial_hex
from signing.models import CertificateAuthority

CA_VALIDITY_YEARS = 20
SIGNER_VALIDITY_YEARS = 2
# Certificates start a little in the past, so a server whose clock lags the issuing one by a
# few seconds still signs inside the validity period.
BACKDATE = datetime.timedelta(minutes=5)
# A label per algorithm in the CA's OU, so the two roots are told apart at a glance.
ALGORITHM_LABELS = {"sm2-sm3": "SM2", "ecdsa-p256-sha256": "ECDSA P-256"}
_SHORT_NAMES = {
    "country_name": "C",
    "organization_name": "O",
    "organizational_unit_name": "OU",
    "common_name": "CN",
}


@dataclass(frozen=True)
class CaInitResult:
    authority: CertificateAuthority
    created: bool


def add_years(moment: datetime.datetime, years: int) -> datetime.datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def resolve_algorithm(name: str | None) -> str:
    name = name or settings.SIGNING_DEFAULT_ALGORITHM
    try:
        return get_algorithm(name).name
    except UnknownAlgorithmError:
        raise DomainError(
            f"Unknown signature algorithm {name!r}; use one of {', '.join(ALGORITHM_NAMES)}.",
            code="signing_algorithm_unknown",
        ) from None


def ca_key_context(serial: str) -> str:
    return f"signing-ca:{serial}"


def _build_authority(algorithm_name: str, now: datetime.datetime) -> CertificateAuthority:
    algorithm = get_algorithm(algorithm_name)
    private_key = algorithm.generate_private_key()
    not_before = now.replace(microsecond=0) - BACKDATE
    not_after = add_years(not_before, CA_VALIDITY_YEARS)
    serial = new_serial()
    subject = [
        ("country_name", "CN"),
        ("organization_name", settings.SIGNING_CA_ORGANIZATION),
        ("organizational_unit_name", ALGORITHM_LABELS[algorithm_name]),
        ("common_name", settings.SIGNING_CA_COMMON_NAME),
    ]
    certificate_pem = issue_certificate(
        request=CertificateRequest(
            subject=subject,
            serial=serial,
            not_before=not_before,
            not_after=not_after,
            public_key=algorithm.public_key(private_key),
            is_ca=True,
        ),
        algorithm=algorithm,
        issuer_private_key=private_key,
        issuer_certificate_pem=None,
    )
    return CertificateAuthority(
        algorithm=algorithm_name,
        subject=", ".join(f"{_SHORT_NAMES[name]}={value}" for name, value in subject[::-1]),
        serial=serial_hex(serial),
        certificate_pem=certificate_pem,
        private_key_sealed=keystore.seal_with_secret(
            private_key, settings.SIGNING_CA_KEY_SECRET, context=ca_key_context(serial_hex(serial))
        ),
        not_before=not_before,
        not_after=not_after,
        is_active=True,
    )


def ca_ensure(
    *, algorithm: str, force_new: bool = False, now: datetime.datetime | None = None
) -> CaInitResult:
    """The active root of `algorithm`, created if there is none (or rotated with force_new)."""
    algorithm = resolve_algorithm(algorithm)
    now = now or timezone.now()
    if not force_new:
        existing = CertificateAuthority.objects.filter(algorithm=algorithm, is_active=True).first()
        if existing is not None:
            return CaInitResult(existing, created=False)
    # Key generation and signing happen before the transaction: no lock is held for them.
    candidate = _build_authority(algorithm, now)
    try:
        with transaction.atomic(durable=True):
            current = (
                CertificateAuthority.objects.select_for_update()
                .filter(algorithm=algorithm, is_active=True)
                .first()
            )
            if current is not None and not force_new:
                return CaInitResult(current, created=False)
            if current is not None:
                current.is_active = False
                current.retired_at = now
                current.save(update_fields=["is_active", "retired_at"])
            candidate.save()
    except IntegrityError:
        # Another process created the first root of this algorithm at the same moment.
        return CaInitResult(
            CertificateAuthority.objects.get(algorithm=algorithm, is_active=True), created=False
        )
    return CaInitResult(candidate, created=True)


def pki_init(
    *,
    algorithms: tuple[str, ...] = ALGORITHM_NAMES,
    force_new: bool = False,
    now: datetime.datetime | None = None,
) -> list[CaInitResult]:
    return [ca_ensure(algorithm=name, force_new=force_new, now=now) for name in algorithms]


def ca_active(*, algorithm: str) -> CertificateAuthority:
    authority = CertificateAuthority.objects.filter(algorithm=algorithm, is_active=True).first()
    if authority is None:
        raise ConflictError(
            f"There is no platform CA for {algorithm}; run `manage.py init_pki`.",
            code="signing_ca_missing",
        )
    return authority


def ca_private_key(authority: CertificateAuthority) -> bytes:
    try:
        return keystore.open_with_secret(
            authority.private_key_sealed,
            settings.SIGNING_CA_KEY_SECRET,
            context=ca_key_context(authority.serial),
        )
    except keystore.UnsealError:
        raise ConflictError(
            "The platform CA key does not open with SIGNING_CA_KEY_SECRET; restore the secret "
            "or rotate the CA with `manage.py init_pki --force-new`.",
            code="signing_ca_key_unavailable",
        ) from None
