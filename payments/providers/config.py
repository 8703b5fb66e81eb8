"""Provider configuration read from the settings, with key files resolved.

A key setting left empty means "the file under PAYMENT_KEYS_DIR" (development and tests, where
`init_payment_keys` or the first use creates it); production sets every one explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payments.providers.keys import KeyPaths, certificate_serial_no, ensure_payment_keys


@dataclass(frozen=True)
class WeChatPayConfig:
    api_base_url: str
    mchid: str
    appid: str
    merchant_private_key_pem: str
    merchant_serial_no: str
    apiv3_key: str
    public_key_pem: str
    public_key_id: str
    timeout_seconds: float
    notification_max_age_seconds: int


@dataclass(frozen=True)
class AlipayConfig:
    gateway_url: str
    app_id: str
    seller_id: str
    app_private_key_pem: str
    alipay_public_key_pem: str
    timeout_seconds: float
    notification_max_age_seconds: int


def key_paths() -> KeyPaths:
    """The keys directory, created and filled first when PAYMENT_KEYS_AUTOCREATE is on."""
    paths = KeyPaths(Path(settings.PAYMENT_KEYS_DIR))
    if settings.PAYMENT_KEYS_AUTOCREATE:
        ensure_payment_keys(paths.root)
    return paths


def wechatpay_config() -> WeChatPayConfig:
    paths = key_paths()
    private_key_path = settings.WECHATPAY_MERCHANT_PRIVATE_KEY_PATH or paths.wechatpay_merchant_key
    public_key_path = settings.WECHATPAY_PUBLIC_KEY_PATH or paths.wechatpay_public_key
    serial_no = settings.WECHATPAY_MERCHANT_SERIAL_NO or certificate_serial_no(
        _read(paths.wechatpay_merchant_cert).encode()
    )
    apiv3_key = settings.WECHATPAY_APIV3_KEY or _read(paths.wechatpay_apiv3_key).strip()
    if len(apiv3_key.encode()) != 32:
        raise ImproperlyConfigured("WECHATPAY_APIV3_KEY must be 32 bytes (AES-256)")
    return WeChatPayConfig(
        api_base_url=settings.WECHATPAY_API_BASE_URL.rstrip("/"),
        mchid=settings.WECHATPAY_MCHID,
        appid=settings.WECHATPAY_APPID,
        merchant_private_key_pem=_read(private_key_path),
        merchant_serial_no=serial_no,
        apiv3_key=apiv3_key,
        public_key_pem=_read(public_key_path),
        public_key_id=(
            settings.WECHATPAY_PUBLIC_KEY_ID or _read(paths.wechatpay_public_key_id).strip()
        ),
        timeout_seconds=settings.PAYMENT_GATEWAY_TIMEOUT_SECONDS,
        notification_max_age_seconds=settings.PAYMENT_NOTIFICATION_MAX_AGE_SECONDS,
    )


def alipay_config() -> AlipayConfig:
    paths = key_paths()
    return AlipayConfig(
        gateway_url=settings.ALIPAY_GATEWAY_URL,
        app_id=settings.ALIPAY_APPID,
        seller_id=settings.ALIPAY_SELLER_ID,
        app_private_key_pem=_read(
            settings.ALIPAY_APP_PRIVATE_KEY_PATH or paths.alipay_app_private_key
        ),
        alipay_public_key_pem=_read(settings.ALIPAY_PUBLIC_KEY_PATH or paths.alipay_public_key),
        timeout_seconds=settings.PAYMENT_GATEWAY_TIMEOUT_SECONDS,
        notification_max_age_seconds=settings.PAYMENT_NOTIFICATION_MAX_AGE_SECONDS,
    )


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"payment key file {path} is not readable ({exc.strerror}); "
            "run `manage.py init_payment_keys` or set its path"
        ) from exc
