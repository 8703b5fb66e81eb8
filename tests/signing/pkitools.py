"""A certificate authority and signers built in memory (no database), with the platform's own
certificate code: for verification tests that must run with the database out of reach."""

import datetime
from dataclasses import dataclass

from signing.algorithms import get_algorithm
from signing.certificates import (
    ROLE_POLICY_OIDS,
    CertificateRequest,
    issue_certificate,
    new_serial,
)

START = datetime.datetime(2026, 1, 5, 8, 0, tzinfo=datetime.UTC)
CA_SUBJECT = [
    ("country_name", "CN"),
    ("organization_name", "Guangdong Second People's Hospital"),
    ("common_name", "Guangdong Second People's Hospital Online Hospital Signing CA"),
]


@dataclass(frozen=True)
class Holder:
    """A certificate and the private key that goes with it."""

    algorithm: str
    certificate_pem: str
    private_key: bytes


def make_ca(
    algorithm: str,
    *,
    subject: list[tuple[str, str]] = CA_SUBJECT,
    not_before: datetime.datetime = START,
    days: int = 3650,
) -> Holder:
    scheme = get_algorithm(algorithm)
    key = scheme.generate_private_key()
    pem = issue_certificate(
        request=CertificateRequest(
            subject=subject,
            serial=new_serial(),
            not_before=not_before,
            not_after=not_before + datetime.timedelta(days=days),
            public_key=scheme.public_key(key),
            is_ca=True,
        ),
        algorithm=scheme,
        issuer_private_key=key,
        issuer_certificate_pem=None,
    )
    return Holder(algorithm, pem, key)


def make_signer(
    ca: Holder,
    *,
    role: str = "doctor",
    name: str = "林志明",
    user_id: str = "6f1c1d2e-0000-4000-8000-000000000001",
    not_before: datetime.datetime = START,
    days: int = 730,
    policy_roles: tuple[str, ...] | None = None,
) -> Holder:
    scheme = get_algorithm(ca.algorithm)
    key = scheme.generate_private_key()
    roles = (role,) if policy_roles is None else policy_roles
    pem = issue_certificate(
        request=CertificateRequest(
            subject=[
                ("country_name", "CN"),
                ("organization_name", "Guangdong Second People's Hospital"),
                ("organizational_unit_name", role),
                ("common_name", name),
                ("user_id", user_id),
            ],
            serial=new_serial(),
            not_before=not_before,
            not_after=not_before + datetime.timedelta(days=days),
            public_key=scheme.public_key(key),
            is_ca=False,
            policy_oids=tuple(ROLE_POLICY_OIDS[r] for r in roles),
        ),
        algorithm=scheme,
        issuer_private_key=ca.private_key,
        issuer_certificate_pem=ca.certificate_pem,
    )
    return Holder(ca.algorithm, pem, key)
