"""Offline verification of a signature: the payload, the signature, the signer's certificate and
the platform CA certificates are all it needs. No database, no Django: a verification page, a
pharmacy's own tool or an auditor's script can run it from the PEMs alone.

Problems are reported with stable codes, every one that applies:

- ``certificate_malformed``: the certificate cannot be read (nothing else is checked);
- ``signature_invalid``: the signature does not match the payload and the certificate's key;
- ``certificate_untrusted``: no trusted CA signed the certificate (the CA's signature over the
  TBS is checked, not just the names), or it is not a signing certificate (a CA, or without
  digitalSignature/nonRepudiation key usage);
- ``certificate_not_valid_at_signing_time``: `signed_at` is outside the certificate's validity
  or the issuing CA's;
- ``certificate_role_mismatch``: `expected_role` is given and the certificate's role (its role
  policy, agreeing with its OU) differs;
- ``certificate_revoked``: `revoked` lists the certificate's serial with a time at or before
  `signed_at` (signatures made before a revocation stay valid).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from signing.certificates import (
    SIGNER_KEY_USAGE,
    CertificateError,
    ParsedCertificate,
    parse_certificate,
)

SIGNATURE_INVALID = "signature_invalid"
CERTIFICATE_MALFORMED = "certificate_malformed"
CERTIFICATE_UNTRUSTED = "certificate_untrusted"
CERTIFICATE_NOT_VALID_AT_SIGNING_TIME = "certificate_not_valid_at_signing_time"
CERTIFICATE_ROLE_MISMATCH = "certificate_role_mismatch"
CERTIFICATE_REVOKED = "certificate_revoked"


@dataclass(frozen=True)
class VerificationResult:
    valid: bool
    problems: list[str] = field(default_factory=list)
    # What the certificate says, for display (None when it could not be read).
    algorithm: str | None = None
    certificate_serial: str | None = None
    signer_name: str | None = None
    signer_public_id: str | None = None
    signer_role: str | None = None
    issuer_name: str | None = None


def _decode_signature(signature_b64: str) -> bytes | None:
    try:
        return base64.b64decode(signature_b64.encode("ascii"), validate=True)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return None


@functools.lru_cache(maxsize=64)
def _parse_ca(pem_text: str) -> ParsedCertificate | None:
    """A trusted CA certificate, parsed once per process; None if it is not a usable CA."""
    try:
        ca = parse_certificate(pem_text)
    except CertificateError:
        return None
    return ca if ca.is_ca and "key_cert_sign" in ca.key_usage else None


def _issuer_among(
    certificate: ParsedCertificate, trusted_ca_pems: Sequence[str]
) -> ParsedCertificate | None:
    for pem_text in trusted_ca_pems:
        ca = _parse_ca(pem_text)
        if ca is None or ca.subject != certificate.issuer:
            continue
        if ca.algorithm.signature_oid != certificate.signature_oid:
            continue
        if ca.algorithm.verify(ca.public_key, certificate.tbs, certificate.signature):
            return ca
    return None


def _within(moment: datetime.datetime, certificate: ParsedCertificate) -> bool:
    return certificate.not_before <= moment <= certificate.not_after


def verify_signature(
    *,
    payload: bytes,
    signature_b64: str,
    certificate_pem: str,
    trusted_ca_pems: Sequence[str],
    signed_at: datetime.datetime,
    expected_role: str | None = None,
    revoked: Mapping[str, datetime.datetime] | None = None,
) -> VerificationResult:
    """Check the signature, the certificate's issuer, validity, role and (given `revoked`,
    certificate serial -> revocation time) revocation. The algorithm is the certificate's."""
    if signed_at.tzinfo is None:
        raise ValueError("signed_at must be an aware datetime.")
    try:
        certificate = parse_certificate(certificate_pem)
    except CertificateError:
        return VerificationResult(valid=False, problems=[CERTIFICATE_MALFORMED])

    problems: list[str] = []
    signature = _decode_signature(signature_b64)
    if signature is None or not certificate.algorithm.verify(
        certificate.public_key, payload, signature
    ):
        problems.append(SIGNATURE_INVALID)
    issuer = _issuer_among(certificate, trusted_ca_pems)
    fit_for_signing = not certificate.is_ca and certificate.key_usage & SIGNER_KEY_USAGE
    if issuer is None or not fit_for_signing:
        problems.append(CERTIFICATE_UNTRUSTED)
    if not _within(signed_at, certificate) or (issuer and not _within(signed_at, issuer)):
        problems.append(CERTIFICATE_NOT_VALID_AT_SIGNING_TIME)
    if expected_role is not None and certificate.role != expected_role:
        problems.append(CERTIFICATE_ROLE_MISMATCH)
    revoked_at = (revoked or {}).get(certificate.serial)
    if revoked_at is not None and revoked_at <= signed_at:
        problems.append(CERTIFICATE_REVOKED)

    issuer_name = issuer.common_name if issuer else None
    return VerificationResult(
        valid=not problems,
        problems=problems,
        algorithm=certificate.algorithm.name,
        certificate_serial=certificate.serial,
        signer_name=certificate.common_name,
        signer_public_id=certificate.user_id,
        signer_role=certificate.role,
        issuer_name=issuer_name,
    )


def __getattr__(name: str) -> Any:
    # `trusted_ca_certificates` reads the database, so it lives in signing.selectors; resolving
    # it lazily keeps this module importable (and usable) without Django.
    if name == "trusted_ca_certificates":
        from signing.selectors import trusted_ca_certificates

        return trusted_ca_certificates
    raise AttributeError(name)
