"""Key material for the payment providers: generated at set-up, kept outside the repository.

Layout under `PAYMENT_KEYS_DIR` (what a merchant holds, and what the emulated providers hold):

    wechatpay/apiclient_key.pem    merchant API private key (RSA-2048, PKCS#8)
    wechatpay/apiclient_cert.pem   merchant API certificate; its serial number goes into every
                                   request's `Authorization` header
    wechatpay/apiv3_key            APIv3 key (32 characters) that encrypts callback resources
    wechatpay/pub_key.pem          WeChat Pay public key (微信支付公钥) for responses and callbacks
    wechatpay/pub_key_id           its id (`PUB_KEY_ID_...`), sent as `Wechatpay-Serial`
    alipay/app_private_key.pem     application private key (RSA2)
    alipay/app_public_key.pem      application public key (registered with Alipay)
    alipay/alipay_public_key.pem   Alipay's public key for responses and notifications
    emulators/wechatpay_platform_key.pem   private half of pub_key.pem (the emulator signs with it)
    emulators/alipay_private_key.pem       private half of alipay_public_key.pem

With real providers, the provider-side files come from the providers (and the `emulators/`
files are not used); in development and tests everything is generated here.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import string
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

APIV3_KEY_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class KeyPaths:
    """Where each file lives under one keys directory."""

    root: Path

    @property
    def wechatpay_merchant_key(self) -> Path:
        return self.root / "wechatpay" / "apiclient_key.pem"

    @property
    def wechatpay_merchant_cert(self) -> Path:
        return self.root / "wechatpay" / "apiclient_cert.pem"

    @property
    def wechatpay_apiv3_key(self) -> Path:
        return self.root / "wechatpay" / "apiv3_key"

    @property
    def wechatpay_public_key(self) -> Path:
        return self.root / "wechatpay" / "pub_key.pem"

    @property
    def wechatpay_public_key_id(self) -> Path:
        return self.root / "wechatpay" / "pub_key_id"

    @property
    def alipay_app_private_key(self) -> Path:
        return self.root / "alipay" / "app_private_key.pem"

    @property
    def alipay_app_public_key(self) -> Path:
        return self.root / "alipay" / "app_public_key.pem"

    @property
    def alipay_public_key(self) -> Path:
        return self.root / "alipay" / "alipay_public_key.pem"

    @property
    def emulated_wechatpay_private_key(self) -> Path:
        return self.root / "emulators" / "wechatpay_platform_key.pem"

    @property
    def emulated_alipay_private_key(self) -> Path:
        return self.root / "emulators" / "alipay_private_key.pem"


def ensure_payment_keys(directory: Path) -> list[Path]:
    """Create every missing file under `directory`; return the files created (none: all there).

    Idempotent and safe to run concurrently: each file appears atomically and an existing file is
    never replaced, so keys already registered with a provider are never lost. A missing public
    half or certificate is derived from its existing private key.
    """
    paths = KeyPaths(directory)
    created: list[Path] = []

    def create(path: Path, data: bytes, *, private: bool) -> None:
        if _create_file(path, data, private=private):
            created.append(path)

    def private_key(path: Path) -> None:
        if not path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            create(path, pem, private=True)

    def public_half(path: Path, private_path: Path) -> None:
        if not path.exists():
            public_key = load_private_key(private_path.read_bytes()).public_key()
            pem = public_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            create(path, pem, private=False)

    def secret_text(path: Path, make: Callable[[], str]) -> None:
        if not path.exists():
            create(path, make().encode(), private=True)

    private_key(paths.wechatpay_merchant_key)
    if not paths.wechatpay_merchant_cert.exists():
        cert = _merchant_certificate(load_private_key(paths.wechatpay_merchant_key.read_bytes()))
        create(
            paths.wechatpay_merchant_cert,
            cert.public_bytes(serialization.Encoding.PEM),
            private=False,
        )
    secret_text(
        paths.wechatpay_apiv3_key,
        lambda: "".join(secrets.choice(APIV3_KEY_ALPHABET) for _ in range(32)),
    )
    private_key(paths.emulated_wechatpay_private_key)
    public_half(paths.wechatpay_public_key, paths.emulated_wechatpay_private_key)
    secret_text(
        paths.wechatpay_public_key_id,
        lambda: "PUB_KEY_ID_01" + "".join(secrets.choice(string.digits) for _ in range(26)),
    )
    private_key(paths.alipay_app_private_key)
    public_half(paths.alipay_app_public_key, paths.alipay_app_private_key)
    private_key(paths.emulated_alipay_private_key)
    public_half(paths.alipay_public_key, paths.emulated_alipay_private_key)
    return created


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key: PrivateKeyTypes = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("expected an RSA private key")
    return key


def certificate_serial_no(pem: bytes) -> str:
    """The serial number as WeChat Pay writes it: upper-case hexadecimal."""
    return f"{x509.load_pem_x509_certificate(pem).serial_number:X}"


def _merchant_certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    """A stand-in for the API certificate WeChat Pay's CA issues to a merchant."""
    now = dt.datetime.now(dt.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Merchant API certificate"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=5 * 365))
        .sign(key, hashes.SHA256())
    )


def _create_file(path: Path, data: bytes, *, private: bool) -> bool:
    """Write `path` atomically unless it exists; True when this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o600 if private else 0o644)
        try:
            # A hard link fails when the name exists: a concurrent run's file is kept.
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(temporary)
