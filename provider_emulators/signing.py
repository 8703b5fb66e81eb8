"""The providers' side of the cryptography, written from their documentation (independently of
the SDKs the platform uses, so each checks the other)."""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import string
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

WECHATPAY_SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
WECHATPAY_PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
_AUTHORIZATION = re.compile(r'(\w+)="([^"]*)"')


def rsa_sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        public_key.verify(
            base64.b64decode(signature, validate=True),
            message,
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def nonce(length: int = 32) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


# --- WeChat Pay ------------------------------------------------------------------------------


def wechatpay_authorization(header: str) -> dict[str, str] | None:
    """The fields of `WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",
    timestamp="..",serial_no=".."`, or None when it is not that scheme."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != WECHATPAY_SIGNATURE_TYPE:
        return None
    fields = dict(_AUTHORIZATION.findall(rest))
    wanted = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"}
    return fields if wanted <= fields.keys() else None


def wechatpay_request_message(
    *, method: str, path: str, timestamp: str, nonce_str: str, body: bytes
) -> bytes:
    return b"%s\n%s\n%s\n%s\n%s\n" % (
        method.encode(),
        path.encode(),
        timestamp.encode(),
        nonce_str.encode(),
        body,
    )


def wechatpay_signed_headers(
    *,
    private_key: rsa.RSAPrivateKey,
    public_key_id: str,
    body: bytes,
    timestamp: int,
    probe: bool = False,
) -> dict[str, str]:
    """The `Wechatpay-*` headers over "timestamp\\nnonce\\nbody\\n"; a probe carries a
    deliberately invalid signature marked WECHATPAY/SIGNTEST/."""
    nonce_str = nonce()
    if probe:
        signature = WECHATPAY_PROBE_PREFIX + base64.b64encode(os.urandom(256)).decode()
    else:
        signature = rsa_sign(private_key, b"%d\n%s\n%s\n" % (timestamp, nonce_str.encode(), body))
    return {
        "Wechatpay-Nonce": nonce_str,
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Serial": public_key_id,
        "Wechatpay-Signature-Type": WECHATPAY_SIGNATURE_TYPE,
        "Wechatpay-Signature": signature,
    }


def wechatpay_encrypt(
    *, apiv3_key: str, plaintext: str, associated_data: str, original_type: str
) -> dict[str, str]:
    """A notification's `resource`: AEAD_AES_256_GCM with the APIv3 key, a 12-character nonce,
    ciphertext and tag base64-encoded together."""
    nonce_str = nonce(12)
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(
        nonce_str.encode(), plaintext.encode(), associated_data.encode()
    )
    return {
        "original_type": original_type,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": associated_data,
        "nonce": nonce_str,
    }


# --- Alipay ----------------------------------------------------------------------------------


def alipay_content(params: Mapping[str, str], *, exclude: Iterable[str]) -> bytes:
    """What Alipay signs: the parameters sorted by name, empty values left out, `k=v` joined by
    `&`, unencoded. Requests exclude `sign`; notifications exclude `sign` and `sign_type`."""
    skipped = set(exclude)
    return "&".join(
        f"{key}={params[key]}" for key in sorted(params) if key not in skipped and params[key]
    ).encode()
