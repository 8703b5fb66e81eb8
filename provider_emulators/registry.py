"""What the emulated providers know about themselves and about the merchant registered with them.

The merchant's identity comes from the settings (WECHATPAY_MCHID/APPID, ALIPAY_APPID/SELLER_ID);
the keys come from the files under PAYMENT_KEYS_DIR, as registered at set-up: the merchant's
API certificate and APIv3 key (WeChat Pay), the application's public key (Alipay), and the
providers' own private keys. The gateway's key *settings* are not read here, so a merchant
configured with the wrong key is refused, as a real provider would refuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings

from payments.providers.config import key_paths
from payments.providers.keys import KeyPaths, load_private_key


@dataclass(frozen=True)
class WeChatPayMerchant:
    mchid: str
    appid: str
    # The serial number (upper-case hex) and public key of the merchant's API certificate.
    serial_no: str
    public_key: rsa.RSAPublicKey
    apiv3_key: str


@dataclass(frozen=True)
class WeChatPayPlatform:
    private_key: rsa.RSAPrivateKey
    public_key_id: str
    merchant: WeChatPayMerchant


@dataclass(frozen=True)
class AlipayApp:
    app_id: str
    seller_id: str
    public_key: rsa.RSAPublicKey


@dataclass(frozen=True)
class AlipayPlatform:
    private_key: rsa.RSAPrivateKey
    app: AlipayApp


def wechatpay_platform() -> WeChatPayPlatform:
    return _wechatpay_platform(key_paths(), settings.WECHATPAY_MCHID, settings.WECHATPAY_APPID)


def alipay_platform() -> AlipayPlatform:
    return _alipay_platform(key_paths(), settings.ALIPAY_APPID, settings.ALIPAY_SELLER_ID)


@lru_cache(maxsize=4)
def _wechatpay_platform(paths: KeyPaths, mchid: str, appid: str) -> WeChatPayPlatform:
    certificate = x509.load_pem_x509_certificate(paths.wechatpay_merchant_cert.read_bytes())
    merchant_key = certificate.public_key()
    if not isinstance(merchant_key, rsa.RSAPublicKey):
        raise ValueError("the merchant certificate must carry an RSA key")
    return WeChatPayPlatform(
        private_key=load_private_key(paths.emulated_wechatpay_private_key.read_bytes()),
        public_key_id=paths.wechatpay_public_key_id.read_text().strip(),
        merchant=WeChatPayMerchant(
            mchid=mchid,
            appid=appid,
            serial_no=f"{certificate.serial_number:X}",
            public_key=merchant_key,
            apiv3_key=paths.wechatpay_apiv3_key.read_text().strip(),
        ),
    )


@lru_cache(maxsize=4)
def _alipay_platform(paths: KeyPaths, app_id: str, seller_id: str) -> AlipayPlatform:
    app_key = load_pem_public_key(paths.alipay_app_public_key.read_bytes())
    if not isinstance(app_key, rsa.RSAPublicKey):
        raise ValueError("the application public key must be an RSA key")
    return AlipayPlatform(
        private_key=load_private_key(paths.emulated_alipay_private_key.read_bytes()),
        app=AlipayApp(app_id=app_id, seller_id=seller_id, public_key=app_key),
    )
