"""X.509 v3 certificates of the platform CA and of signers, for both algorithms. Django-free.

ECDSA P-256 certificates are built with ``cryptography.x509``. ``cryptography`` has no SM2, so
SM2 certificates are assembled with ``asn1crypto`` as GM/T 0015 describes them: an
id-ecPublicKey key on curve 1.2.156.10197.1.301, signatureAlgorithm 1.2.156.10197.1.501
(SM2-with-SM3, no parameters), the TBS signed with the issuer's SM2 key and the default user id.
Either kind is read back with ``asn1crypto`` by ``parse_certificate``.

What a signer certificate says:
- subject ``C=CN, O=<hospital>, OU=<role>, CN=<name>, UID=<user public id>``;
- the role also as a certificate policy (below), which is what verification trusts: the OU is
  human-readable, the policy is the machine-checked statement, and the two must agree;
- basicConstraints cA=false and keyUsage digitalSignature + nonRepudiation, both critical;
- subject and authority key identifiers (SHA-1 of the public point, RFC 5280 method 1).

Role policy OIDs sit under the platform's own arc 2.25.<UUID> (ITU-T X.667: an OID anyone can
mint from a random UUID without registration): ``<arc>.1.1`` doctor, ``<arc>.1.2`` pharmacist.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import pem, x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, load_der_public_key
from cryptography.x509.oid import NameOID

from signing.algorithms import (
    ECDSA_P256_SHA256,
    EcdsaP256Sha256,
    InvalidKeyError,
    SignatureAlgorithm,
    UnknownAlgorithmError,
    algorithm_for_public_key_info,
    public_key_point,
)

PLATFORM_POLICY_ARC = "2.25.49574766398024646930412797767159261841"
ROLE_POLICY_OIDS = {
    "doctor": f"{PLATFORM_POLICY_ARC}.1.1",
    "pharmacist": f"{PLATFORM_POLICY_ARC}.1.2",
}
SIGNER_KEY_USAGE = frozenset({"digital_signature", "non_repudiation"})
CA_KEY_USAGE = frozenset({"key_cert_sign", "crl_sign"})
# Positive and below 2**159: at most 20 octets, as RFC 5280 requires.
SERIAL_BITS = 159
# RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
GENERALIZED_TIME_FROM_YEAR = 2050

# asn1crypto attribute names and their `cryptography` OIDs, in the order a DN lists them.
_NAME_OIDS = {
    "country_name": NameOID.COUNTRY_NAME,
    "organization_name": NameOID.ORGANIZATION_NAME,
    "organizational_unit_name": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "common_name": NameOID.COMMON_NAME,
    "user_id": NameOID.USER_ID,
}


class CertificateError(ValueError):
    """Not a well-formed certificate of a supported algorithm."""


@dataclass(frozen=True)
class CertificateRequest:
    """What a new certificate states. `subject` is (attribute, value) pairs in DN order, with
    attribute names from `_NAME_OIDS`."""

    subject: Sequence[tuple[str, str]]
    serial: int
    not_before: datetime.datetime
    not_after: datetime.datetime
    public_key: bytes
    is_ca: bool
    policy_oids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedCertificate:
    certificate: x509.Certificate
    algorithm: SignatureAlgorithm  # of the subject's key
    public_key: bytes
    serial: str  # lowercase hex
    common_name: str
    user_id: str | None
    role: str | None  # the role policy, when the OU agrees with it
    not_before: datetime.datetime
    not_after: datetime.datetime
    is_ca: bool
    key_usage: frozenset[str]
    key_identifier: bytes | None
    authority_key_identifier: bytes | None
    signature_oid: str  # the algorithm the issuer signed with
    tbs: bytes  # the signed bytes, exactly as received
    signature: bytes

    @property
    def subject(self) -> x509.Name:
        return self.certificate.subject

    @property
    def issuer(self) -> x509.Name:
        return self.certificate.issuer

    def as_pem(self) -> str:
        return pem.armor("CERTIFICATE", self.certificate.dump()).decode("ascii")


def key_identifier(public_key: bytes) -> bytes:
    return hashlib.sha1(public_key, usedforsecurity=False).digest()


def new_serial() -> int:
    """A random certificate serial (never zero)."""
    return secrets.randbits(SERIAL_BITS) | 1


def serial_hex(serial: int) -> str:
    return f"{serial:x}"


def issue_certificate(
    *,
    request: CertificateRequest,
    algorithm: SignatureAlgorithm,
    issuer_private_key: bytes,
    issuer_certificate_pem: str | None,
) -> str:
    """The PEM certificate for `request`, signed by the issuer (self-signed when no issuer
    certificate is given: the issuer is then the subject and its key the request's key)."""
    if request.not_before.tzinfo is None or request.not_after.tzinfo is None:
        raise ValueError("Certificate validity needs aware datetimes.")
    if issuer_certificate_pem is None:
        if algorithm.public_key(issuer_private_key) != request.public_key:
            raise ValueError("A self-signed certificate is signed by its own key.")
        issuer = None
    else:
        issuer = parse_certificate(issuer_certificate_pem)
        if issuer.algorithm is not algorithm:
            raise ValueError("The issuer's key belongs to another algorithm.")
    algorithm.validate_public_key(request.public_key)
    if algorithm.name == ECDSA_P256_SHA256:
        assert isinstance(algorithm, EcdsaP256Sha256)
        return _issue_with_cryptography(request, algorithm, issuer_private_key, issuer)
    return _issue_with_asn1crypto(request, algorithm, issuer_private_key, issuer)


def _authority_key_identifier(
    request: CertificateRequest, issuer: ParsedCertificate | None
) -> bytes:
    if issuer is None:
        return key_identifier(request.public_key)
    return issuer.key_identifier or key_identifier(issuer.public_key)


def _key_usage(request: CertificateRequest) -> frozenset[str]:
    return CA_KEY_USAGE if request.is_ca else SIGNER_KEY_USAGE


def _issue_with_cryptography(
    request: CertificateRequest,
    algorithm: EcdsaP256Sha256,
    issuer_private_key: bytes,
    issuer: ParsedCertificate | None,
) -> str:
    subject = cx509.Name(
        [cx509.NameAttribute(_NAME_OIDS[name], value) for name, value in request.subject]
    )
    issuer_name = (
        subject
        if issuer is None
        else cx509.load_der_x509_certificate(issuer.certificate.dump()).subject
    )
    public_key = load_der_public_key(algorithm.public_key_to_der(request.public_key))
    usage = _key_usage(request)
    builder = (
        cx509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)  # type: ignore[arg-type]  # an EC key, checked above
        .serial_number(request.serial)
        .not_valid_before(request.not_before)
        .not_valid_after(request.not_after)
        .add_extension(
            cx509.BasicConstraints(ca=request.is_ca, path_length=0 if request.is_ca else None),
            critical=True,
        )
        .add_extension(
            cx509.KeyUsage(
                digital_signature="digital_signature" in usage,
                content_commitment="non_repudiation" in usage,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign="key_cert_sign" in usage,
                crl_sign="crl_sign" in usage,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            cx509.SubjectKeyIdentifier(key_identifier(request.public_key)), critical=False
        )
        .add_extension(
            cx509.AuthorityKeyIdentifier(
                key_identifier=_authority_key_identifier(request, issuer),
                authority_cert_issuer=None,
                authority_cert_serial_number=None,
            ),
            critical=False,
        )
    )
    if request.policy_oids:
        builder = builder.add_extension(
            cx509.CertificatePolicies(
                [
                    cx509.PolicyInformation(cx509.ObjectIdentifier(oid), None)
                    for oid in request.policy_oids
                ]
            ),
            critical=False,
        )
    certificate = builder.sign(algorithm.private_key_object(issuer_private_key), hashes.SHA256())
    return certificate.public_bytes(Encoding.PEM).decode("ascii")


def _time(value: datetime.datetime) -> x509.Time:
    value = value.astimezone(datetime.UTC).replace(microsecond=0)
    if value.year >= GENERALIZED_TIME_FROM_YEAR:
        return x509.Time({"general_time": value})
    return x509.Time({"utc_time": value})


def _issue_with_asn1crypto(
    request: CertificateRequest,
    algorithm: SignatureAlgorithm,
    issuer_private_key: bytes,
    issuer: ParsedCertificate | None,
) -> str:
    subject = x509.Name.build(dict(request.subject))
    issuer_name = subject if issuer is None else x509.Name.load(issuer.subject.dump())
    constraints: dict[str, object] = {"ca": request.is_ca}
    if request.is_ca:
        constraints["path_len_constraint"] = 0
    extensions: list[dict[str, object]] = [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": constraints},
        {"extn_id": "key_usage", "critical": True, "extn_value": set(_key_usage(request))},
        {
            "extn_id": "key_identifier",
            "critical": False,
            "extn_value": key_identifier(request.public_key),
        },
        {
            "extn_id": "authority_key_identifier",
            "critical": False,
            "extn_value": {"key_identifier": _authority_key_identifier(request, issuer)},
        },
    ]
    if request.policy_oids:
        extensions.append(
            {
                "extn_id": "certificate_policies",
                "critical": False,
                "extn_value": [{"policy_identifier": oid} for oid in request.policy_oids],
            }
        )
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": request.serial,
            "signature": {"algorithm": algorithm.signature_oid},
            "issuer": issuer_name,
            "validity": {
                "not_before": _time(request.not_before),
                "not_after": _time(request.not_after),
            },
            "subject": subject,
            "subject_public_key_info": x509.PublicKeyInfo.load(
                algorithm.public_key_to_der(request.public_key)
            ),
            "extensions": extensions,
        }
    )
    issuer_public_key = request.public_key if issuer is None else issuer.public_key
    signature = algorithm.sign(issuer_private_key, tbs.dump(), public_key=issuer_public_key)
    certificate = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": algorithm.signature_oid},
            "signature_value": signature,
        }
    )
    return pem.armor("CERTIFICATE", certificate.dump()).decode("ascii")


def _single_pem_block(text: str) -> bytes:
    data = text.encode("ascii") if isinstance(text, str) else text
    if data.count(b"-----BEGIN") != 1 or not pem.detect(data):
        raise CertificateError("Expected exactly one PEM certificate.")
    kind, _, der = pem.unarmor(data)
    if kind != "CERTIFICATE":
        raise CertificateError(f"Expected a CERTIFICATE, got {kind}.")
    return der


def _name_value(name: x509.Name, attribute: str) -> str | None:
    values = [
        attr["value"].native
        for rdn in name.chosen
        for attr in rdn
        if attr["type"].native == attribute
    ]
    if len(values) > 1:
        raise CertificateError(f"The name carries {attribute} more than once.")
    return str(values[0]) if values else None


def _role(certificate: x509.Certificate) -> str | None:
    policies = certificate.certificate_policies_value
    policy_oids = {p["policy_identifier"].dotted for p in policies} if policies else set()
    roles = [role for role, oid in ROLE_POLICY_OIDS.items() if oid in policy_oids]
    unit = _name_value(certificate.subject, "organizational_unit_name")
    if len(roles) != 1 or roles[0] != unit:
        return None
    return roles[0]


def parse_certificate(pem_text: str) -> ParsedCertificate:
    """Read a PEM certificate of a supported algorithm; CertificateError for anything else."""
    try:
        der = _single_pem_block(pem_text)
        certificate = x509.Certificate.load(der, strict=True)
        certificate.native  # noqa: B018 - parses every nested field now, not later
        tbs = certificate["tbs_certificate"]
        if tbs["version"].native != "v3":
            raise CertificateError("Only X.509 v3 certificates are accepted.")
        signature_oid = certificate["signature_algorithm"]["algorithm"].dotted
        if tbs["signature"]["algorithm"].dotted != signature_oid:
            raise CertificateError("The inner and outer signature algorithms differ.")
        info = tbs["subject_public_key_info"]
        algorithm = algorithm_for_public_key_info(info)
        public_key = public_key_point(info)
        constraints = certificate.basic_constraints_value
        usage = certificate.key_usage_value
        identifier = certificate.key_identifier_value
        authority = certificate.authority_key_identifier_value
        common_name = _name_value(certificate.subject, "common_name")
        if not common_name:
            raise CertificateError("The certificate names no subject.")
        return ParsedCertificate(
            certificate=certificate,
            algorithm=algorithm,
            public_key=public_key,
            serial=serial_hex(certificate.serial_number),
            common_name=common_name,
            user_id=_name_value(certificate.subject, "user_id"),
            role=_role(certificate),
            not_before=tbs["validity"]["not_before"].native,
            not_after=tbs["validity"]["not_after"].native,
            is_ca=bool(constraints and constraints["ca"].native),
            key_usage=frozenset(usage.native) if usage else frozenset(),
            key_identifier=identifier.native if identifier else None,
            authority_key_identifier=(authority["key_identifier"].native if authority else None),
            signature_oid=signature_oid,
            tbs=tbs.dump(),
            signature=bytes(certificate["signature_value"].native),
        )
    except CertificateError:
        raise
    except (ValueError, TypeError, KeyError, UnknownAlgorithmError, InvalidKeyError) as exc:
        raise CertificateError(f"Malformed certificate: {exc}") from exc
