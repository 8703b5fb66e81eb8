"""How the payment services reach a provider: its gateway, its callback URL and the merchant and
app identity its callbacks must carry."""

from django.conf import settings

from payments.providers.base import PaymentGateway

# The settings naming this platform's merchant account and app at each provider.
_IDENTITY_SETTINGS = {
    "wechatpay": ("WECHATPAY_MCHID", "WECHATPAY_APPID"),
    "alipay": ("ALIPAY_SELLER_ID", "ALIPAY_APPID"),
}


def gateway_for(provider: str) -> PaymentGateway:
    # Imported when used: the registry builds SDK clients from settings and key files.
    from payments.providers import get_gateway

    return get_gateway(provider)


def notify_url(provider: str) -> str:
    """Where the provider sends its callbacks (the platform's public address)."""
    return f"{settings.SITE_URL}/api/v1/payments/notify/{provider}"


def expected_identity(provider: str) -> tuple[str, str]:
    """The merchant id and app id this platform's callbacks from `provider` must name."""
    merchant_setting, app_setting = _IDENTITY_SETTINGS[provider]
    return getattr(settings, merchant_setting), getattr(settings, app_setting)
