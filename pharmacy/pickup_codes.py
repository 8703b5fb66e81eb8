"""Pickup codes: the short number the patient reads out and the signed token in the QR code.

The code is 8 random digits, unique among fulfilments ready for pickup (a partial unique index;
a collision is simply drawn again). The token is `django.core.signing` output under its own
salt, carrying the fulfilment's public id, the code and its expiry: it cannot be made or altered
without SECRET_KEY, and a token whose code was replaced no longer matches.
"""

import datetime
import secrets
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.utils import timezone

CODE_DIGITS = 8
TOKEN_SALT = "pharmacy.pickup-code"  # noqa: S105 - a namespace, not a secret
QR_PREFIX = "RXPICKUP:"


def new_pickup_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def is_code_shaped(value: str) -> bool:
    return len(value) == CODE_DIGITS and value.isascii() and value.isdigit()


def pickup_token(*, fulfilment_public_id: Any, code: str, expires_at: datetime.datetime) -> str:
    payload = {"f": str(fulfilment_public_id), "c": code, "e": int(expires_at.timestamp())}
    return signing.dumps(payload, salt=TOKEN_SALT, compress=True)


def qr_payload(token: str) -> str:
    """What the QR code encodes: a prefix a scanner recognises, then the token."""
    return f"{QR_PREFIX}{token}"


@dataclass(frozen=True)
class TokenClaims:
    fulfilment_public_id: str
    code: str
    expires_at: datetime.datetime


def read_pickup_token(value: str) -> TokenClaims | None:
    """The claims of a genuine token (with or without the QR prefix), or None."""
    token = value.strip().removeprefix(QR_PREFIX)
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        return None
    try:
        return TokenClaims(
            fulfilment_public_id=str(payload["f"]),
            code=str(payload["c"]),
            expires_at=datetime.datetime.fromtimestamp(int(payload["e"]), tz=datetime.UTC),
        )
    except (KeyError, TypeError, ValueError):
        return None


def code_expired(
    expires_at: datetime.datetime | None, now: datetime.datetime | None = None
) -> bool:
    return expires_at is None or expires_at <= (now or timezone.now())
