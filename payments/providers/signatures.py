"""Naming why an RSA (PKCS#1 v1.5, SHA-256) signature fails, for the rejected callback's code.

Recovering the digest inside the signature with the provider's public key tells a signature the
provider never made (another key, or made-up bytes) from one the provider made over other
content (the body or the signed headers were changed after signing).
"""

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MALFORMED = "malformed_signature"
# Not made with the provider's key: a signing key that is not the provider's, or invented bytes.
FOREIGN = "foreign_signature"
# Made with the provider's key over something else: the content was altered after signing.
MISMATCH = "bad_signature"


def signature_problem(public_key: rsa.RSAPublicKey, message: bytes, signature: bytes) -> str | None:
    """None when `signature` is the provider's signature of `message`; else the failure's code."""
    if len(signature) != public_key.key_size // 8:
        return MALFORMED
    try:
        digest = public_key.recover_data_from_signature(
            signature, padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return FOREIGN
    if not hmac.compare_digest(digest, hashlib.sha256(message).digest()):
        return MISMATCH
    return None
