"""The shared-secret signature on every message between the platform and the courier, both ways.

`X-Courier-Timestamp` is the sending time in Unix seconds; `X-Courier-Signature` is
`sha256=` + hex HMAC-SHA256 under the shared secret of `<timestamp>.` followed by the raw body.
The timestamp is inside the signed bytes, so a captured message cannot be replayed later with a
fresh timestamp; the receiver refuses timestamps outside its window.
"""

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Courier-Timestamp"
SIGNATURE_HEADER = "X-Courier-Signature"
SCHEME = "sha256="


class SignatureError(Exception):
    """A message whose signature or timestamp does not hold; `code` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def signature(*, secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SCHEME + digest.hexdigest()


def signed_headers(*, secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret=secret, timestamp=timestamp, body=body),
        "Content-Type": "application/json",
    }


def verify(
    *,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    max_age_seconds: int,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless the body is signed under `secret` within the window.

    `headers` must look names up case-insensitively (Django's `request.headers` does).
    """
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    presented = headers.get(SIGNATURE_HEADER, "")
    if not timestamp or not presented:
        raise SignatureError("courier_signature_missing", "The signature headers are missing.")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise SignatureError("courier_timestamp_invalid", "The timestamp is not Unix seconds.")
    current = now if now is not None else time.time()
    if abs(current - int(timestamp)) > max_age_seconds:
        raise SignatureError("courier_timestamp_stale", "The timestamp is outside the window.")
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected.encode(), presented.strip().encode(errors="replace")):
        raise SignatureError("courier_signature_invalid", "The signature does not verify.")
