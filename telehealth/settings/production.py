"""Production settings: everything from base, secrets required, HTTPS enforced.

Importing this module without DJANGO_SECRET_KEY, PATIENT_DATA_KEYS, PATIENT_LOOKUP_KEYS,
SIGNING_CA_KEY_SECRET, DJANGO_ALLOWED_HOSTS, DATABASE_URL or REDIS_URL set raises
ImproperlyConfigured, so a misconfigured deployment never starts (and never falls back to
SQLite or in-process tasks).
"""

from telehealth.settings.base import *  # noqa: F403
from telehealth.settings.base import LOGGING, env, use_connection_pool

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
PATIENT_DATA_KEYS = env.list("PATIENT_DATA_KEYS")
PATIENT_LOOKUP_KEYS = env.list("PATIENT_LOOKUP_KEYS")
if not (SECRET_KEY and PATIENT_DATA_KEYS and PATIENT_LOOKUP_KEYS):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY, PATIENT_DATA_KEYS and PATIENT_LOOKUP_KEYS must be set"
    )
# Seals the platform CA private keys: the development default must never be used here.
SIGNING_CA_KEY_SECRET = env.str("SIGNING_CA_KEY_SECRET")
if len(SIGNING_CA_KEY_SECRET) < 32:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SIGNING_CA_KEY_SECRET must be set (at least 32 characters)")

DEBUG = False
LOGGING["handlers"]["console"]["formatter"] = env.str("LOG_FORMAT", default="json")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
use_connection_pool(
    DATABASES["default"],
    max_size=env.int("DATABASE_POOL_MAX_SIZE", default=4),
    timeout=env.float("DATABASE_POOL_TIMEOUT", default=10.0),
)
REDIS_URL = env.str("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "telehealth",
    }
}
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = False
# Video signaling between web processes: never the in-process layer.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "telehealth:video"},
    }
}
# E-mail notifications go out by SMTP unless EMAIL_BACKEND says otherwise.
MAILERS = {
    "default": {
        "BACKEND": env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
    }
}

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

# Payment providers: the real ones. The emulators and their callback sweep are not installed,
# keys are never generated here, and every merchant setting must be given.
INSTALLED_APPS = [
    app
    for app in INSTALLED_APPS  # noqa: F405
    if app not in ("provider_emulators", "courier_emulator", "regulator_emulator")
]
CELERY_BEAT_SCHEDULE = {
    name: entry
    for name, entry in CELERY_BEAT_SCHEDULE.items()  # noqa: F405
    if not name.startswith("payment-emulator-")
}
PAYMENT_KEYS_AUTOCREATE = False
WECHATPAY_API_BASE_URL = env.str("WECHATPAY_API_BASE_URL", default="https://api.mch.weixin.qq.com")
ALIPAY_GATEWAY_URL = env.str("ALIPAY_GATEWAY_URL", default="https://openapi.alipay.com/gateway.do")
_PAYMENT_SETTINGS = (
    "WECHATPAY_MCHID",
    "WECHATPAY_APPID",
    "WECHATPAY_MERCHANT_PRIVATE_KEY_PATH",
    "WECHATPAY_MERCHANT_SERIAL_NO",
    "WECHATPAY_APIV3_KEY",
    "WECHATPAY_PUBLIC_KEY_PATH",
    "WECHATPAY_PUBLIC_KEY_ID",
    "ALIPAY_APPID",
    "ALIPAY_SELLER_ID",
    "ALIPAY_APP_PRIVATE_KEY_PATH",
    "ALIPAY_PUBLIC_KEY_PATH",
)
if _missing_payment_settings := [
    name for name in _PAYMENT_SETTINGS if not env.str(name, default="")
]:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"payment settings missing: {', '.join(_missing_payment_settings)}")
WECHATPAY_MCHID = env.str("WECHATPAY_MCHID")
WECHATPAY_APPID = env.str("WECHATPAY_APPID")
WECHATPAY_MERCHANT_PRIVATE_KEY_PATH = env.str("WECHATPAY_MERCHANT_PRIVATE_KEY_PATH")
WECHATPAY_MERCHANT_SERIAL_NO = env.str("WECHATPAY_MERCHANT_SERIAL_NO")
WECHATPAY_APIV3_KEY = env.str("WECHATPAY_APIV3_KEY")
WECHATPAY_PUBLIC_KEY_PATH = env.str("WECHATPAY_PUBLIC_KEY_PATH")
WECHATPAY_PUBLIC_KEY_ID = env.str("WECHATPAY_PUBLIC_KEY_ID")
ALIPAY_APPID = env.str("ALIPAY_APPID")
ALIPAY_SELLER_ID = env.str("ALIPAY_SELLER_ID")
ALIPAY_APP_PRIVATE_KEY_PATH = env.str("ALIPAY_APP_PRIVATE_KEY_PATH")
ALIPAY_PUBLIC_KEY_PATH = env.str("ALIPAY_PUBLIC_KEY_PATH")

# The courier: the real carrier's open API over HTTPS and the secret its tracking callbacks are
# signed with; the development secret and the emulator's URL are never used here.
COURIER_API_BASE_URL = env.str("COURIER_API_BASE_URL", default="")
COURIER_SHARED_SECRET = env.str("COURIER_SHARED_SECRET", default="")
if not COURIER_API_BASE_URL.startswith("https://") or len(COURIER_SHARED_SECRET) < 32:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "COURIER_API_BASE_URL (https://) and COURIER_SHARED_SECRET (at least 32 characters) "
        "must be set"
    )

# The regulator feed: off unless enabled, and then only towards the real supervision platform
# (HTTPS, never the emulator's default URL) with the credentials it issued.
REGULATOR_FEED_ENABLED = env.bool("REGULATOR_FEED_ENABLED", default=False)
if REGULATOR_FEED_ENABLED:
    REGULATOR_FEED_URL = env.str("REGULATOR_FEED_URL", default="")
    REGULATOR_FEED_APP_ID = env.str("REGULATOR_FEED_APP_ID", default="")
    REGULATOR_FEED_SECRET = env.str("REGULATOR_FEED_SECRET", default="")
    REGULATOR_FEED_ORG_CODE = env.str("REGULATOR_FEED_ORG_CODE", default="")
    if not (
        REGULATOR_FEED_URL.startswith("https://")
        and REGULATOR_FEED_APP_ID
        and len(REGULATOR_FEED_SECRET) >= 32
        and REGULATOR_FEED_ORG_CODE
    ):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "REGULATOR_FEED_ENABLED needs REGULATOR_FEED_URL (https://), REGULATOR_FEED_APP_ID, "
            "REGULATOR_FEED_SECRET (at least 32 characters) and REGULATOR_FEED_ORG_CODE"
        )

# HTTPS is terminated at the reverse proxy, which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probes speak plain HTTP inside the network
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
