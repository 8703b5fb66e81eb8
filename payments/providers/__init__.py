"""Payment providers behind one interface (`base.PaymentGateway`), configured from the settings.

`get_gateway("wechatpay")` / `get_gateway("alipay")`: the settings decide which keys and which
base URL (the real provider, or the emulator in `provider_emulators`).
"""

from __future__ import annotations

from functools import lru_cache

from payments.providers.alipay import AlipayGateway
from payments.providers.base import PaymentGateway
from payments.providers.config import AlipayConfig, WeChatPayConfig, alipay_config, wechatpay_config
from payments.providers.wechatpay import WeChatPayGateway

PROVIDERS = ("wechatpay", "alipay")


def get_gateway(name: str) -> PaymentGateway:
    """The gateway for `name`, built from the current settings (one instance per configuration:
    loading the keys costs more than a callback's verification)."""
    if name == "wechatpay":
        return _wechatpay_gateway(wechatpay_config())
    if name == "alipay":
        return _alipay_gateway(alipay_config())
    raise ValueError(f"unknown payment provider {name!r}")


@lru_cache(maxsize=8)
def _wechatpay_gateway(config: WeChatPayConfig) -> WeChatPayGateway:
    return WeChatPayGateway(config)


@lru_cache(maxsize=8)
def _alipay_gateway(config: AlipayConfig) -> AlipayGateway:
    return AlipayGateway(config)
