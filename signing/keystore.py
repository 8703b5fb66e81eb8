"""Private keys at rest: AES-256-GCM under a key derived from a signing PIN or from a secret.

A sealed key is one ASCII string, self-describing so the parameters can change without making
older rows unreadable:

- PIN: ``scrypt-aes256gcm$<n>$<r>$<p>$<salt>$<nonce>$<ciphertext>`` (base64 fields); scrypt makes
  each guess of a 6-digit PIN cost tens of milliseconds for anyone holding a database copy.
- secret (the CA keys): ``hkdf-aes256gcm$<nonce>$<ciphertext>``, key = HKDF-SHA256 of the
  secret, which is already high-entropy.

`context` is bound as GCM associated data (e.g. the certificate serial), so a sealed key copied
onto another row does not open there. Django-free.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PIN_SCHEME = "scrypt-aes256gcm"
SECRET_SCHEME = "hkdf-aes256gcm"  # noqa: S105 - a format tag, not a secret
KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
SECRET_KEY_INFO = b"telehealth signing CA private keys v1"
MAX_SCRYPT_N = 2**20


class UnsealError(Exception):
    """Wrong PIN or secret, another row's context, or a damaged sealed key (GCM cannot tell
    these apart, which is the point)."""


@dataclass(frozen=True)
class ScryptCost:
    n: int
    r: int
    p: int

    def __post_init__(self) -> None:
        # The upper bounds keep a damaged or hostile sealed key from asking for gigabytes.
        if not (1 < self.n <= MAX_SCRYPT_N and 1 <= self.r <= 32 and 1 <= self.p <= 16):
            raise ValueError("scrypt cost out of range.")
        if self.n & (self.n - 1):
            raise ValueError("scrypt's n must be a power of two.")


@dataclass(frozen=True)
class PinKey:
    """A key derived from a PIN with one salt. Sealing many private keys under one `PinKey`
    spends scrypt once; only for keys that share the PIN anyway (the demo's printed PIN)."""

    key: bytes
    salt: bytes
    cost: ScryptCost


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _scrypt(pin: str, salt: bytes, cost: ScryptCost) -> bytes:
    # maxmem: 128 * r * n bytes plus headroom; OpenSSL's 32 MiB default refuses n=2**15, r=8.
    return hashlib.scrypt(
        pin.encode("utf-8"),
        salt=salt,
        n=cost.n,
        r=cost.r,
        p=cost.p,
        maxmem=256 * cost.r * cost.n * cost.p + 1024 * 1024,
        dklen=KEY_BYTES,
    )


def derive_pin_key(pin: str, cost: ScryptCost) -> PinKey:
    salt = secrets.token_bytes(SALT_BYTES)
    return PinKey(key=_scrypt(pin, salt, cost), salt=salt, cost=cost)


def seal_with_pin_key(secret: bytes, pin_key: PinKey, *, context: str) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(pin_key.key).encrypt(nonce, secret, context.encode("utf-8"))
    cost = pin_key.cost
    fields = [PIN_SCHEME, str(cost.n), str(cost.r), str(cost.p)]
    return "$".join([*fields, _b64(pin_key.salt), _b64(nonce), _b64(ciphertext)])


def seal_with_pin(secret: bytes, pin: str, *, cost: ScryptCost, context: str) -> str:
    return seal_with_pin_key(secret, derive_pin_key(pin, cost), context=context)


def _split_pin_sealed(sealed: str) -> tuple[ScryptCost, bytes, bytes, bytes]:
    """(cost, salt, nonce, ciphertext) of a PIN-sealed key; ValueError if it is not one."""
    scheme, n, r, p, salt, nonce, ciphertext = sealed.split("$")
    if scheme != PIN_SCHEME:
        raise ValueError(scheme)
    return ScryptCost(n=int(n), r=int(r), p=int(p)), _unb64(salt), _unb64(nonce), _unb64(ciphertext)


def open_with_pin(sealed: str, pin: str, *, context: str) -> bytes:
    try:
        cost, salt, nonce, ciphertext = _split_pin_sealed(sealed)
        key = _scrypt(pin, salt, cost)
        return AESGCM(key).decrypt(nonce, ciphertext, context.encode("utf-8"))
    except (ValueError, InvalidTag) as exc:
        raise UnsealError("The key does not open with this PIN.") from exc


class PinOpener:
    """Opens many sealed keys under one PIN, running scrypt once per distinct salt and cost.

    For bulk signers that unlock every key of a set once per process: keys sealed together by
    `seal_with_pin_key` (one `PinKey`) share their salt, so one derivation opens them all. The
    derived keys live as long as the opener; a server signing on request uses `open_with_pin`.
    """

    def __init__(self, pin: str) -> None:
        self._pin = pin
        self._derived: dict[tuple[bytes, ScryptCost], bytes] = {}

    def open(self, sealed: str, *, context: str) -> bytes:
        try:
            cost, salt, nonce, ciphertext = _split_pin_sealed(sealed)
            key = self._derived.get((salt, cost))
            if key is None:
                key = self._derived[(salt, cost)] = _scrypt(self._pin, salt, cost)
            return AESGCM(key).decrypt(nonce, ciphertext, context.encode("utf-8"))
        except (ValueError, InvalidTag) as exc:
            raise UnsealError("The key does not open with this PIN.") from exc


def _secret_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=SECRET_KEY_INFO)
    return hkdf.derive(secret.encode("utf-8"))


def seal_with_secret(secret_bytes: bytes, secret: str, *, context: str) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(_secret_key(secret)).encrypt(nonce, secret_bytes, context.encode("utf-8"))
    return "$".join([SECRET_SCHEME, _b64(nonce), _b64(ciphertext)])


def open_with_secret(sealed: str, secret: str, *, context: str) -> bytes:
    try:
        scheme, nonce, ciphertext = sealed.split("$")
        if scheme != SECRET_SCHEME:
            raise ValueError(scheme)
        return AESGCM(_secret_key(secret)).decrypt(
            _unb64(nonce), _unb64(ciphertext), context.encode("utf-8")
        )
    except (ValueError, InvalidTag) as exc:
        raise UnsealError("The key does not open with this secret.") from exc
