"""The wire protocol of the regulator feed, shared by the platform's sender and the in-repo
emulator of the provincial supervision platform (互联网医疗服务监管平台).

    POST <REGULATOR_FEED_URL>
    X-Feed-App-Id: <app id>          X-Feed-Timestamp: <unix seconds>
    X-Feed-Nonce: <random hex>       X-Feed-Signature: hex(HMAC-SM3(secret, signing string))
    {"batch_no", "org_code", "report_date": "YYYY-MM-DD", "records": [
        {"record_id": <uuid>, "kind", "source_reference", "occurred_at", "digest_alg": "SM3",
         "digest": hex(SM3(canonical JSON of data)), "data": {...}}]}

    200 {"batch_no", "results": [{"record_id", "status": "accepted" | "duplicate" | "rejected",
                                  "code"?, "message"?}]}

The signing string is `app id \\n timestamp \\n nonce \\n` followed by the raw body. A record's
digest covers the canonical JSON of its `data` (sorted keys, no insignificant whitespace, UTF-8:
signing.canonical), so the receiver recomputes it from what it parsed.
"""

import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

from signing.algorithms import sm3_digest
from signing.canonical import canonical_json

DIGEST_ALGORITHM = "SM3"
APP_ID_HEADER = "X-Feed-App-Id"
TIMESTAMP_HEADER = "X-Feed-Timestamp"
NONCE_HEADER = "X-Feed-Nonce"
SIGNATURE_HEADER = "X-Feed-Signature"
ACKNOWLEDGING = ("accepted", "duplicate")
_BLOCK = 64  # SM3's block size in bytes


def sm3_hex(data: bytes) -> str:
    return sm3_digest(data).hex()


def record_digest(data: Any) -> str:
    return sm3_hex(canonical_json(data))


def hmac_sm3(key: bytes, message: bytes) -> bytes:
    """HMAC (RFC 2104) over SM3, as GM/T 0042 uses it."""
    if len(key) > _BLOCK:
        key = sm3_digest(key)
    key = key.ljust(_BLOCK, b"\0")
    inner = sm3_digest(bytes(byte ^ 0x36 for byte in key) + message)
    return sm3_digest(bytes(byte ^ 0x5C for byte in key) + inner)


def _signing_string(app_id: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return f"{app_id}\n{timestamp}\n{nonce}\n".encode() + body


def signed_headers(*, app_id: str, secret: str, body: bytes) -> dict[str, str]:
    # Wall-clock time: the receiver checks it against its own clock.
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    signature = hmac_sm3(secret.encode(), _signing_string(app_id, timestamp, nonce, body))
    return {
        "Content-Type": "application/json",
        APP_ID_HEADER: app_id,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature.hex(),
    }


class SignatureError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def verify(
    *,
    headers: Mapping[str, str],
    body: bytes,
    app_id: str,
    secret: str,
    max_age_seconds: int,
) -> None:
    presented_app = headers.get(APP_ID_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    nonce = headers.get(NONCE_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    if not (presented_app and timestamp and nonce and signature):
        raise SignatureError("signature_missing", "The request is not signed.")
    if not hmac.compare_digest(presented_app, app_id):
        raise SignatureError("app_unknown", "Unknown app id.")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > max_age_seconds:
        raise SignatureError("timestamp_stale", "The signed timestamp is too far from now.")
    expected = hmac_sm3(secret.encode(), _signing_string(presented_app, timestamp, nonce, body))
    if not hmac.compare_digest(expected.hex(), signature.lower()):
        raise SignatureError("signature_invalid", "The signature does not match.")
