"""Encryption at rest and searchable keyed hashes for identity-document numbers.

Encryption: Fernet (AES-128-CBC + HMAC-SHA256) through MultiFernet; the first key in
PATIENT_DATA_KEYS encrypts, every listed key decrypts, so keys rotate without downtime.
Lookup: HMAC-SHA256 under PATIENT_LOOKUP_KEYS; the first key hashes new rows, lookups try all
keys so rows not yet re-hashed by `rotate_patient_keys` are still found.
"""

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = [
    "InvalidToken",
    "decrypt_text",
    "encrypt_text",
    "lookup_hash",
    "lookup_hashes",
    "reencrypt_text",
]


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.PATIENT_DATA_KEYS])


def encrypt_text(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt_text(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def reencrypt_text(token: str) -> str:
    """The same plaintext under the current key (a no-op in meaning, new bytes on disk)."""
    return _fernet().rotate(token.encode()).decode()


def _hash_with(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def lookup_hash(value: str) -> str:
    """The hash stored with a new or rotated row (current key)."""
    return _hash_with(settings.PATIENT_LOOKUP_KEYS[0], value)


def lookup_hashes(value: str) -> list[str]:
    """Every hash the value may be stored under while a rotation is in progress."""
    return [_hash_with(key, value) for key in settings.PATIENT_LOOKUP_KEYS]
