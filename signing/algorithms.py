"""Signature algorithms behind one interface, looked up by name.

- ``sm2-sm3``: SM2 (GB/T 32918) with SM3, through gmssl. The signed digest is
  e = SM3(Z || M) with Z computed from the standard default user id "1234567812345678";
  signatures are DER ``SEQUENCE {r, s}`` as in GM/T 0009 and X.509. SM3 itself comes from
  OpenSSL when the local build offers it (gmssl's pure-Python SM3 otherwise; same digests).
- ``ecdsa-p256-sha256``: ECDSA on NIST P-256 with SHA-256, through ``cryptography``.

Keys travel as bytes: a private key is its 32-byte big-endian scalar, a public key its SEC1
uncompressed point (04 || x || y); ``public_key_to_der``/``public_key_from_der`` convert to and
from a SubjectPublicKeyInfo. Nothing here touches Django, so offline verification can use it.

gmssl draws its signing nonce from ``random.choice``, which is not a secure generator; the SM2
nonce and private keys here come from ``secrets`` instead (a predictable nonce reveals the key).
"""

from __future__ import annotations

import hashlib
import secrets
from abc import ABC, abstractmethod
from typing import Any

from asn1crypto import algos, keys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from gmssl import sm2, sm3

SM2_SM3 = "sm2-sm3"
ECDSA_P256_SHA256 = "ecdsa-p256-sha256"

EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1"
SM2_CURVE_OID = "1.2.156.10197.1.301"
SM2_WITH_SM3_OID = "1.2.156.10197.1.501"
P256_CURVE_OID = "1.2.840.10045.3.1.7"
ECDSA_WITH_SHA256_OID = "1.2.840.10045.4.3.2"

# The default distinguishing identifier of GB/T 32918 / GM/T 0009 (what OpenSSL uses too).
SM2_DEFAULT_USER_ID = b"1234567812345678"

COORDINATE_BYTES = 32


def _openssl_has_sm3() -> bool:
    try:
        hashlib.new("sm3")
    except ValueError:
        return False
    return True


_OPENSSL_SM3 = _openssl_has_sm3()


def sm3_digest(data: bytes) -> bytes:
    """SM3 through OpenSSL when it offers it (same output, a hundred times faster), else gmssl."""
    if _OPENSSL_SM3:
        return hashlib.new("sm3", data).digest()
    return bytes.fromhex(sm3.sm3_hash(list(data)))


class UnknownAlgorithmError(ValueError):
    """No algorithm of that name, curve or signature OID is registered."""


class InvalidKeyError(ValueError):
    """Key bytes that are not a valid key of the algorithm."""


def _der_signature(r: int, s: int) -> bytes:
    return algos.DSASignature({"r": r, "s": s}).dump()


def _parse_der_signature(signature: bytes) -> tuple[int, int] | None:
    """(r, s) from a strict DER signature; None for anything else (trailing bytes, BER)."""
    try:
        parsed = algos.DSASignature.load(signature, strict=True)
        r, s = int(parsed["r"].native), int(parsed["s"].native)
    except (ValueError, TypeError):
        return None
    # A re-encoding that differs means a non-canonical (malleable) encoding.
    if _der_signature(r, s) != signature:
        return None
    return r, s


def _point_coordinates(public_key: bytes) -> tuple[int, int]:
    if len(public_key) != 1 + 2 * COORDINATE_BYTES or public_key[0] != 4:
        raise InvalidKeyError("A public key is a 65-byte uncompressed point.")
    x = int.from_bytes(public_key[1 : 1 + COORDINATE_BYTES], "big")
    y = int.from_bytes(public_key[1 + COORDINATE_BYTES :], "big")
    return x, y


class SignatureAlgorithm(ABC):
    name: str
    curve_oid: str
    # The X.509 signatureAlgorithm of certificates this algorithm signs.
    signature_oid: str

    @abstractmethod
    def generate_private_key(self) -> bytes: ...

    @abstractmethod
    def public_key(self, private_key: bytes) -> bytes:
        """The public point of a private key."""

    @abstractmethod
    def sign(self, private_key: bytes, data: bytes, *, public_key: bytes | None = None) -> bytes:
        """A DER signature over `data` (hashing is part of the algorithm). `public_key`, when the
        caller has it at hand, spares SM2 a scalar multiplication; it must be the key's own."""

    @abstractmethod
    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool:
        """True only for a valid signature by `public_key` over `data`; never raises for bad
        input (a malformed key or signature is simply not valid)."""

    @abstractmethod
    def validate_public_key(self, public_key: bytes) -> None:
        """Raise InvalidKeyError unless `public_key` is a point on the curve."""

    def public_key_to_der(self, public_key: bytes) -> bytes:
        """SubjectPublicKeyInfo: id-ecPublicKey with the named curve, the uncompressed point."""
        self.validate_public_key(public_key)
        return keys.PublicKeyInfo(
            {
                "algorithm": {
                    "algorithm": EC_PUBLIC_KEY_OID,
                    "parameters": keys.ECDomainParameters(name="named", value=self.curve_oid),
                },
                "public_key": public_key,
            }
        ).dump()

    def public_key_from_der(self, der: bytes) -> bytes:
        info = keys.PublicKeyInfo.load(der, strict=True)
        if algorithm_for_public_key_info(info) is not self:
            raise InvalidKeyError(f"Not a {self.name} public key.")
        return public_key_point(info)


class Sm2Sm3(SignatureAlgorithm):
    name = SM2_SM3
    curve_oid = SM2_CURVE_OID
    signature_oid = SM2_WITH_SM3_OID

    _curve = sm2.default_ecc_table
    _n = int(_curve["n"], 16)
    _p = int(_curve["p"], 16)
    _a = int(_curve["a"], 16)
    _b = int(_curve["b"], 16)

    def _engine(self, *, private_key: bytes | None = None, public_key: bytes | None = None) -> Any:
        engine = sm2.CryptSM2(private_key=private_key.hex() if private_key else "", public_key="")
        # Set directly: the constructor strips any leading "0"/"4" characters of a key given
        # with its 04 prefix, which corrupts x coordinates that begin with those digits.
        engine.public_key = public_key[1:].hex() if public_key else ""
        return engine

    def _check_private_key(self, private_key: bytes) -> int:
        d = int.from_bytes(private_key, "big")
        # SM2 private keys lie in [1, n-2] (d+1 is inverted when signing).
        if len(private_key) != COORDINATE_BYTES or not 1 <= d <= self._n - 2:
            raise InvalidKeyError("Not an SM2 private key.")
        return d

    def generate_private_key(self) -> bytes:
        d = secrets.randbelow(self._n - 2) + 1
        return d.to_bytes(COORDINATE_BYTES, "big")

    def public_key(self, private_key: bytes) -> bytes:
        d = self._check_private_key(private_key)
        point = self._engine()._kg(d, self._curve["g"])
        return b"\x04" + bytes.fromhex(point)

    def validate_public_key(self, public_key: bytes) -> None:
        x, y = _point_coordinates(public_key)
        on_curve = (y * y - (x * x * x + self._a * x + self._b)) % self._p == 0
        if not (x < self._p and y < self._p and on_curve):
            raise InvalidKeyError("The point is not on the SM2 curve.")

    def digest(self, public_key: bytes, data: bytes) -> bytes:
        """e = SM3(Z || M), Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)."""
        z_input = (
            (len(SM2_DEFAULT_USER_ID) * 8).to_bytes(2, "big")
            + SM2_DEFAULT_USER_ID
            + bytes.fromhex(self._curve["a"] + self._curve["b"] + self._curve["g"])
            + public_key[1:]
        )
        return sm3_digest(sm3_digest(z_input) + data)

    def sign(self, private_key: bytes, data: bytes, *, public_key: bytes | None = None) -> bytes:
        if public_key is None:
            public_key = self.public_key(private_key)
        e = self.digest(public_key, data)
        engine = self._engine(private_key=private_key, public_key=public_key)
        while True:
            nonce = secrets.randbelow(self._n - 1) + 1
            # gmssl returns None for the rare nonces the standard says to discard.
            rs = engine.sign(e, f"{nonce:064x}")
            if rs is not None:
                return _der_signature(int(rs[:64], 16), int(rs[64:], 16))

    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool:
        try:
            self.validate_public_key(public_key)
        except InvalidKeyError:
            return False
        rs = _parse_der_signature(signature)
        if rs is None:
            return False
        r, s = rs
        # gmssl does not check the ranges the standard requires.
        if not (1 <= r < self._n and 1 <= s < self._n):
            return False
        engine = self._engine(public_key=public_key)
        try:
            return bool(engine.verify(f"{r:064x}{s:064x}", self.digest(public_key, data)))
        except (TypeError, ValueError):
            # sG + tP at infinity: gmssl fails to convert the point; no valid signature does.
            return False


class EcdsaP256Sha256(SignatureAlgorithm):
    name = ECDSA_P256_SHA256
    curve_oid = P256_CURVE_OID
    signature_oid = ECDSA_WITH_SHA256_OID

    _curve = ec.SECP256R1()

    def _private(self, private_key: bytes) -> ec.EllipticCurvePrivateKey:
        if len(private_key) != COORDINATE_BYTES:
            raise InvalidKeyError("Not a P-256 private key.")
        try:
            return ec.derive_private_key(int.from_bytes(private_key, "big"), self._curve)
        except ValueError as exc:
            raise InvalidKeyError("Not a P-256 private key.") from exc

    def _public(self, public_key: bytes) -> ec.EllipticCurvePublicKey:
        _point_coordinates(public_key)
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(self._curve, public_key)
        except ValueError as exc:
            raise InvalidKeyError("The point is not on P-256.") from exc

    def private_key_object(self, private_key: bytes) -> ec.EllipticCurvePrivateKey:
        """The key as `cryptography` needs it to sign X.509 certificates."""
        return self._private(private_key)

    def generate_private_key(self) -> bytes:
        value = ec.generate_private_key(self._curve).private_numbers().private_value
        return value.to_bytes(COORDINATE_BYTES, "big")

    def public_key(self, private_key: bytes) -> bytes:
        return (
            self._private(private_key)
            .public_key()
            .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        )

    def validate_public_key(self, public_key: bytes) -> None:
        self._public(public_key)

    def sign(self, private_key: bytes, data: bytes, *, public_key: bytes | None = None) -> bytes:
        return self._private(private_key).sign(data, ec.ECDSA(hashes.SHA256()))

    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool:
        try:
            key = self._public(public_key)
        except InvalidKeyError:
            return False
        if _parse_der_signature(signature) is None:
            return False
        try:
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


ALGORITHMS: dict[str, SignatureAlgorithm] = {
    algorithm.name: algorithm for algorithm in (Sm2Sm3(), EcdsaP256Sha256())
}
ALGORITHM_NAMES = tuple(ALGORITHMS)


def get_algorithm(name: str) -> SignatureAlgorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise UnknownAlgorithmError(f"Unknown signature algorithm {name!r}.") from None


def algorithm_for_public_key_info(info: keys.PublicKeyInfo) -> SignatureAlgorithm:
    """The algorithm of an EC SubjectPublicKeyInfo, by its named curve."""
    if info["algorithm"]["algorithm"].dotted != EC_PUBLIC_KEY_OID:
        raise UnknownAlgorithmError("Not an elliptic-curve public key.")
    parameters = info["algorithm"]["parameters"]
    if parameters.name != "named":
        raise UnknownAlgorithmError("Only named curves are supported.")
    curve = parameters.chosen.dotted
    for algorithm in ALGORITHMS.values():
        if algorithm.curve_oid == curve:
            return algorithm
    raise UnknownAlgorithmError(f"Unsupported curve {curve}.")


def algorithm_for_signature_oid(oid: str) -> SignatureAlgorithm:
    for algorithm in ALGORITHMS.values():
        if algorithm.signature_oid == oid:
            return algorithm
    raise UnknownAlgorithmError(f"Unsupported signature algorithm {oid}.")


def public_key_point(info: keys.PublicKeyInfo) -> bytes:
    """The uncompressed point of a SubjectPublicKeyInfo, validated for its curve."""
    algorithm = algorithm_for_public_key_info(info)
    point = bytes(info["public_key"].native)
    algorithm.validate_public_key(point)
    return point
