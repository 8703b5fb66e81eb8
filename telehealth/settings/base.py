"""Settings for development, tests and the embedded default.

Every value comes from the environment (see .env.example). With nothing set the platform runs
embedded: SQLite, Celery tasks executed in-process, a local-memory cache. `DATABASE_URL` switches
to PostgreSQL; `REDIS_URL` switches the cache and the Celery broker to Redis.
Production settings (telehealth.settings.production) build on this module and require secrets.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Development-only fallbacks. Production refuses to start without real values.
_DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production-0123456789"  # noqa: S105
_DEV_PATIENT_DATA_KEY = "1xVq9WonbItsmH_BNKGgBhVe0-VaxG6cPaAEBKN7Uso="
_DEV_PATIENT_LOOKUP_KEY = "KsHh6JCdCzWOLj_xTEsUq11YibJgkgQiEjgupiuyXtM"
_DEV_SIGNING_CA_KEY_SECRET = "development-only-signing-ca-key-secret-never-in-production"  # noqa: S105
_DEV_COURIER_SHARED_SECRET = "development-only-courier-shared-secret"  # noqa: S105

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET_KEY)
DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "core",
    "accounts",
    "clinics",
    "terminology",
    "patients",
    "consultations",
    "notifications",
    "signing",
    "prescriptions",
    "payments",
    "pharmacy",
    "video",
    "operations",
    "quality",
    "interop",
    # Local stand-ins for WeChat Pay, Alipay and the courier; production settings drop them.
    "provider_emulators",
    "courier_emulator",
    # The provincial supervision platform's stand-in, likewise.
    "regulator_emulator",
]

MIDDLEWARE = [
    "core.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "telehealth.urls"
WSGI_APPLICATION = "telehealth.wsgi.application"
ASGI_APPLICATION = "telehealth.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "telehealth" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # services own their transactions


def use_connection_pool(database: dict[str, Any], *, max_size: int, timeout: float) -> None:
    """Give each process a bounded PostgreSQL connection pool (psycopg_pool).

    Under ASGI, persistent connections (CONN_MAX_AGE > 0) are kept per thread and pile up until
    the server refuses clients; a pool bounds them per process, so the total is
    processes x max_size. Django requires CONN_MAX_AGE 0 with a pool.
    """
    if max_size <= 0 or database["ENGINE"] != "django.db.backends.postgresql":
        return
    database["CONN_MAX_AGE"] = 0
    database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": max_size,
        "timeout": timeout,
    }


use_connection_pool(
    DATABASES["default"],
    max_size=env.int("DATABASE_POOL_MAX_SIZE", default=0),
    timeout=env.float("DATABASE_POOL_TIMEOUT", default=10.0),
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "telehealth",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ------------------------------------------------------------------------------------
# A broker (Redis, or RabbitMQ through CELERY_BROKER_URL) means real workers; none means tasks
# run in-process, which is the embedded default.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
# In-process tasks behave like a worker: a failing task is logged and retried, not raised into
# the request that enqueued it.
CELERY_TASK_EAGER_PROPAGATES = False
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # with late ack, a lost worker loses at most one task
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULE = {
    "terminals-mark-stale-offline": {
        "task": "clinics.terminals_mark_stale_offline",
        "schedule": 60.0,
    },
    "slots-generate": {
        "task": "consultations.slots_generate",
        "schedule": 60.0 * 60,
    },
    "consultations-mark-no-show": {
        "task": "consultations.consultations_mark_no_show",
        "schedule": 60.0 * 5,
    },
    "notifications-sweep": {
        "task": "notifications.sweep",
        "schedule": env.float("NOTIFICATION_SWEEP_INTERVAL_SECONDS", default=60.0),
    },
    "notifications-consultation-reminders": {
        "task": "notifications.consultation_reminders",
        "schedule": 60.0 * 5,
    },
    "prescriptions-expire": {
        "task": "prescriptions.expire",
        "schedule": 60.0 * 5,
    },
    "patients-access-review-scan": {
        "task": "patients.access_review_scan",
        "schedule": 60.0 * 5,
    },
    "core-retention-scan": {
        "task": "core.retention_scan",
        "schedule": 60.0 * 60 * 24,
    },
}

# --- Auth --------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Page sessions end after this long without a request (every request renews the session).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
# Password sign-in throttle (accounts/signin.py): failures per account and per client address
# within the window; the cache (Redis in production) holds the counters.
SIGNIN_MAX_FAILURES_PER_ACCOUNT = env.int("SIGNIN_MAX_FAILURES_PER_ACCOUNT", default=5)
SIGNIN_MAX_FAILURES_PER_ADDRESS = env.int("SIGNIN_MAX_FAILURES_PER_ADDRESS", default=50)
SIGNIN_LOCKOUT_SECONDS = env.int("SIGNIN_LOCKOUT_SECONDS", default=15 * 60)
# Roles whose page sign-in also needs a TOTP code (accounts/second_factor.py), and how long the
# password step waits for it.
SIGNIN_SECOND_FACTOR_ROLES = env.list(
    "SIGNIN_SECOND_FACTOR_ROLES", default=["doctor", "pharmacist", "operations"]
)
SIGNIN_SECOND_FACTOR_SECONDS = env.int("SIGNIN_SECOND_FACTOR_SECONDS", default=5 * 60)

# --- Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "telehealth" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

# --- API ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "clinics.authentication.TerminalCredentialAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.StandardPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env.int("JWT_REFRESH_HOURS", default=24)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "public_id",
    "USER_ID_CLAIM": "sub",
    "UPDATE_LAST_LOGIN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Telehealth platform API",
    "DESCRIPTION": "Remote-care network of the hub hospital: facilities, terminals, patients, "
    "consultations, prescriptions, payments and fulfilment.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "kind", "method" or "reason" choice set; name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "ConsultationKindEnum": "consultations.models.ConsultationKind",
        "VitalKindEnum": "consultations.models.VitalKind",
        "ScheduleExceptionKindEnum": "consultations.models.ScheduleExceptionKind",
        "TerminationReasonEnum": "consultations.models.TerminationReason",
        "ConsentMethodEnum": "patients.models.ConsentMethod",
        "VerificationMethodEnum": "patients.models.VerificationMethod",
        "FulfilmentStatusEnum": "pharmacy.models.FulfilmentStatus",
        "TrackingStatusEnum": "pharmacy.models.TrackingStatus",
        "PrescriptionStatusEnum": "prescriptions.models.PrescriptionStatus",
        "ConsultationStatusEnum": "consultations.models.ConsultationStatus",
        "TerminalStatusEnum": "clinics.models.TerminalStatus",
        "NotificationStatusEnum": "notifications.models.NotificationStatus",
        "ComplaintStatusEnum": "quality.models.ComplaintStatus",
        "ReviewStatusEnum": "quality.models.ReviewStatus",
    },
}

# --- Domain ------------------------------------------------------------------------------------
# The address patients and the public reach the platform at: links in messages, the QR code on a
# prescription, provider callback URLs.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Fernet keys that encrypt identity-document numbers at rest; the first encrypts, all decrypt.
PATIENT_DATA_KEYS = env.list("PATIENT_DATA_KEYS", default=[_DEV_PATIENT_DATA_KEY])
# HMAC keys for the searchable hash of identity-document numbers; the first is current.
PATIENT_LOOKUP_KEYS = env.list("PATIENT_LOOKUP_KEYS", default=[_DEV_PATIENT_LOOKUP_KEY])
# Consultations: how far ahead slots exist, when check-in opens, when a booking is a no-show,
# and how many future bookings one patient may hold.
SLOT_HORIZON_DAYS = env.int("SLOT_HORIZON_DAYS", default=14)
CHECK_IN_OPENS_MINUTES_BEFORE = env.int("CHECK_IN_OPENS_MINUTES_BEFORE", default=30)
NO_SHOW_GRACE_MINUTES = env.int("NO_SHOW_GRACE_MINUTES", default=30)
MAX_FUTURE_BOOKINGS_PER_PATIENT = env.int("MAX_FUTURE_BOOKINGS_PER_PATIENT", default=3)
# Prior-diagnosis evidence uploads: accepted types and the size limit.
EVIDENCE_CONTENT_TYPES = ["application/pdf", "image/jpeg", "image/png"]
EVIDENCE_MAX_BYTES = env.int("EVIDENCE_MAX_BYTES", default=10 * 1024 * 1024)
# A terminal that has not sent a heartbeat for this long is marked offline.
TERMINAL_OFFLINE_AFTER_SECONDS = env.int("TERMINAL_OFFLINE_AFTER_SECONDS", default=180)
# Whether /healthz answers 503 when no Celery worker replies (only when a broker is configured).
HEALTHZ_REQUIRE_WORKER = env.bool("HEALTHZ_REQUIRE_WORKER", default=True)

# Notifications (the outbox): queue, retries, the sender's lease, the sweep, quiet hours.
NOTIFICATIONS_QUEUE = env.str("NOTIFICATIONS_QUEUE", default="notifications")
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=8)
NOTIFICATION_RETRY_BASE_SECONDS = env.float("NOTIFICATION_RETRY_BASE_SECONDS", default=30.0)
NOTIFICATION_RETRY_MAX_SECONDS = env.float("NOTIFICATION_RETRY_MAX_SECONDS", default=3600.0)
NOTIFICATION_LEASE_SECONDS = env.float("NOTIFICATION_LEASE_SECONDS", default=120.0)
NOTIFICATION_SWEEP_AFTER_SECONDS = env.float("NOTIFICATION_SWEEP_AFTER_SECONDS", default=60.0)
NOTIFICATION_SWEEP_BATCH = env.int("NOTIFICATION_SWEEP_BATCH", default=5000)
NOTIFICATION_QUIET_HOURS = env.str("NOTIFICATION_QUIET_HOURS", default="22:00-07:00")
NOTIFICATION_HOSPITAL_NAME = env.str("NOTIFICATION_HOSPITAL_NAME", default="广东省第二人民医院")
NOTIFICATION_EMAIL_DOMAIN = env.str("NOTIFICATION_EMAIL_DOMAIN", default="telehealth.local")
# SMS and WeChat providers: unset base URLs mean the in-process emulator.
SMS_API_BASE_URL = env.str("SMS_API_BASE_URL", default="")
SMS_API_KEY = env.str("SMS_API_KEY", default="")
SMS_SIGN_NAME = env.str("SMS_SIGN_NAME", default="广东省第二人民医院")
SMS_TIMEOUT_SECONDS = env.float("SMS_TIMEOUT_SECONDS", default=5.0)
WECHAT_API_BASE_URL = env.str("WECHAT_API_BASE_URL", default="")
# E-mail notifications: Django's mailer (console in development, locmem in tests, SMTP in
# production through EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and its OPTIONS).
MAILERS = {
    "default": {
        "BACKEND": env.str(
            "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
        ),
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noreply@telehealth.local")
# Patient sign-in codes: lifetime, wrong guesses per code, codes per phone per hour.
LOGIN_CODE_TTL_SECONDS = env.int("LOGIN_CODE_TTL_SECONDS", default=300)
LOGIN_CODE_MAX_ATTEMPTS = env.int("LOGIN_CODE_MAX_ATTEMPTS", default=5)
LOGIN_CODE_MAX_PER_HOUR = env.int("LOGIN_CODE_MAX_PER_HOUR", default=5)

# --- Payments ----------------------------------------------------------------------------------
# An unpaid order closes this long after it was created (at the provider too), and never later
# than its prescription's validity; the payment link says "today".
PAYMENT_ORDER_TIMEOUT_MINUTES = env.int("PAYMENT_ORDER_TIMEOUT_MINUTES", default=24 * 60)
# Home delivery fee in fen (cold-chain medicine is pickup only).
PAYMENT_DELIVERY_FEE_FEN = env.int("PAYMENT_DELIVERY_FEE_FEN", default=1000)
# A provider order with no callback this long after it was issued is queried, then again at most
# every PAYMENT_QUERY_INTERVAL_SECONDS; the same for refunds still processing.
PAYMENT_QUERY_AFTER_SECONDS = env.int("PAYMENT_QUERY_AFTER_SECONDS", default=60)
PAYMENT_QUERY_INTERVAL_SECONDS = env.int("PAYMENT_QUERY_INTERVAL_SECONDS", default=60)
# Celery queue of the payment tasks (refund submission, provider closes).
PAYMENTS_QUEUE = env.str("PAYMENTS_QUEUE", default="default")
# An Idempotency-Key whose first request has not finished after this long may be taken over.
IDEMPOTENCY_ABANDONED_AFTER_SECONDS = env.int("IDEMPOTENCY_ABANDONED_AFTER_SECONDS", default=300)
# Medical insurance (follow-up visits with an e-voucher): the fund pays this share of the
# consultation fee and drugs; the personal account pays this share of the rest, up to its
# balance; the patient pays the remainder through WeChat Pay or Alipay.
INSURANCE_FUND_RATE = env.str("INSURANCE_FUND_RATE", default="0.60")
INSURANCE_PERSONAL_ACCOUNT_RATE = env.str("INSURANCE_PERSONAL_ACCOUNT_RATE", default="0.50")
# Daily reconciliation of yesterday's provider statements (Asia/Shanghai; bills are ready by 10).
PAYMENT_RECONCILE_AT = env.str("PAYMENT_RECONCILE_AT", default="10:30")
# The API schema names the payment choice sets after their models (several have a "status").
_schema_enum_names = SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]
assert isinstance(_schema_enum_names, dict)
_schema_enum_names.update(
    {
        "PaymentOrderStatusEnum": "payments.models.OrderStatus",
        "PaymentAttemptStatusEnum": "payments.models.AttemptStatus",
        "RefundStatusEnum": "payments.models.RefundStatus",
        "RefundTriggerEnum": "payments.models.RefundTrigger",
        "ReconciliationStatusEnum": "payments.models.ReconciliationStatus",
        "DiscrepancyKindEnum": "payments.models.DiscrepancyKind",
        "OrderLineKindEnum": "payments.models.OrderLineKind",
        "LedgerKindEnum": "payments.models.LedgerKind",
        "LedgerSourceEnum": "payments.models.LedgerSource",
        "PaymentProviderEnum": "payments.models.Provider",
        "PayChannelEnum": "payments.models.PayChannel",
        "FulfilmentMethodEnum": "payments.models.FulfilmentMethod",
        "AttentionReasonEnum": "payments.models.AttentionReason",
    }
)
CELERY_BEAT_SCHEDULE.update(
    {
        "payments-orders-close-expired": {
            "task": "payments.orders_close_expired",
            "schedule": 60.0,
        },
        "payments-query-unconfirmed": {
            "task": "payments.query_unconfirmed",
            "schedule": env.float("PAYMENT_QUERY_SWEEP_INTERVAL_SECONDS", default=60.0),
        },
        "payments-reconcile-daily": {
            "task": "payments.reconcile_daily",
            "schedule": crontab(
                hour=PAYMENT_RECONCILE_AT.split(":")[0], minute=PAYMENT_RECONCILE_AT.split(":")[1]
            ),
        },
    }
)

# --- Signatures --------------------------------------------------------------------------------
# The algorithm new signing credentials use: "sm2-sm3" (SM2 with SM3) or "ecdsa-p256-sha256".
SIGNING_DEFAULT_ALGORITHM = env.str("SIGNING_DEFAULT_ALGORITHM", default="sm2-sm3")
if SIGNING_DEFAULT_ALGORITHM not in ("sm2-sm3", "ecdsa-p256-sha256"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"SIGNING_DEFAULT_ALGORITHM={SIGNING_DEFAULT_ALGORITHM!r}: use sm2-sm3 or ecdsa-p256-sha256"
    )
# Seals the platform CA private keys (AES-256-GCM under an HKDF of it). Production requires it.
SIGNING_CA_KEY_SECRET = env.str("SIGNING_CA_KEY_SECRET", default=_DEV_SIGNING_CA_KEY_SECRET)
SIGNING_CA_ORGANIZATION = env.str(
    "SIGNING_CA_ORGANIZATION", default="Guangdong Second People's Hospital"
)
SIGNING_CA_COMMON_NAME = env.str(
    "SIGNING_CA_COMMON_NAME",
    default="Guangdong Second People's Hospital Online Hospital Signing CA",
)
# Wrong signing PINs in a row before the credential locks, and for how long.
SIGNING_PIN_MAX_ATTEMPTS = env.int("SIGNING_PIN_MAX_ATTEMPTS", default=5)
SIGNING_PIN_LOCK_MINUTES = env.int("SIGNING_PIN_LOCK_MINUTES", default=15)
# scrypt cost of the key that seals a signer's private key, paid on every signature. Stored with
# each sealed key, so a change applies to credentials issued afterwards.
SIGNING_PIN_SCRYPT_N = env.int("SIGNING_PIN_SCRYPT_N", default=2**15)
SIGNING_PIN_SCRYPT_R = env.int("SIGNING_PIN_SCRYPT_R", default=8)
SIGNING_PIN_SCRYPT_P = env.int("SIGNING_PIN_SCRYPT_P", default=1)

# --- Payment providers -------------------------------------------------------------------------
# Key files (the merchant's keys and the emulated providers' keys), outside the repository.
# `manage.py init_payment_keys` creates what is missing; with PAYMENT_KEYS_AUTOCREATE the first
# use does too, so development and tests work from a fresh clone.
PAYMENT_KEYS_DIR = env.path("PAYMENT_KEYS_DIR", default=BASE_DIR / "var" / "payment-keys")
PAYMENT_KEYS_AUTOCREATE = env.bool("PAYMENT_KEYS_AUTOCREATE", default=True)
# This server's own URL for the emulators: the default base of both providers' URLs below.
PAYMENT_EMULATOR_BASE_URL = env.str(
    "PAYMENT_EMULATOR_BASE_URL", default="http://127.0.0.1:8000/emulators"
).rstrip("/")
PAYMENT_MERCHANT_NAME = env.str("PAYMENT_MERCHANT_NAME", default="广东省第二人民医院")
PAYMENT_GATEWAY_TIMEOUT_SECONDS = env.float("PAYMENT_GATEWAY_TIMEOUT_SECONDS", default=10.0)
# Callbacks signed longer ago than this (or this far in the future) are refused.
PAYMENT_NOTIFICATION_MAX_AGE_SECONDS = env.int("PAYMENT_NOTIFICATION_MAX_AGE_SECONDS", default=300)
# WeChat Pay API v3 (public-key mode). Empty key settings: the files under PAYMENT_KEYS_DIR.
WECHATPAY_API_BASE_URL = env.str(
    "WECHATPAY_API_BASE_URL", default=f"{PAYMENT_EMULATOR_BASE_URL}/wechatpay"
)
WECHATPAY_MCHID = env.str("WECHATPAY_MCHID", default="1900000109")
WECHATPAY_APPID = env.str("WECHATPAY_APPID", default="wx8888888888888888")
WECHATPAY_MERCHANT_PRIVATE_KEY_PATH = env.str("WECHATPAY_MERCHANT_PRIVATE_KEY_PATH", default="")
WECHATPAY_MERCHANT_SERIAL_NO = env.str("WECHATPAY_MERCHANT_SERIAL_NO", default="")
WECHATPAY_APIV3_KEY = env.str("WECHATPAY_APIV3_KEY", default="")
WECHATPAY_PUBLIC_KEY_PATH = env.str("WECHATPAY_PUBLIC_KEY_PATH", default="")
WECHATPAY_PUBLIC_KEY_ID = env.str("WECHATPAY_PUBLIC_KEY_ID", default="")
# Alipay (RSA2). Empty key settings: the files under PAYMENT_KEYS_DIR.
ALIPAY_GATEWAY_URL = env.str(
    "ALIPAY_GATEWAY_URL", default=f"{PAYMENT_EMULATOR_BASE_URL}/alipay/gateway.do"
)
ALIPAY_APPID = env.str("ALIPAY_APPID", default="2021000000000001")
ALIPAY_SELLER_ID = env.str("ALIPAY_SELLER_ID", default="2088000000000001")
ALIPAY_APP_PRIVATE_KEY_PATH = env.str("ALIPAY_APP_PRIVATE_KEY_PATH", default="")
ALIPAY_PUBLIC_KEY_PATH = env.str("ALIPAY_PUBLIC_KEY_PATH", default="")
# The emulators' callbacks: the providers' retry schedules (seconds between attempts),
# multiplied by PAYMENT_EMULATOR_RETRY_FACTOR (tests compress them); the share of WeChat Pay
# notifications preceded by a signature probe; how long a merchant may take to answer.
PAYMENT_EMULATOR_WECHATPAY_RETRY_SCHEDULE = env.list(
    "PAYMENT_EMULATOR_WECHATPAY_RETRY_SCHEDULE",
    cast=float,
    default=[15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600],
)
PAYMENT_EMULATOR_ALIPAY_RETRY_SCHEDULE = env.list(
    "PAYMENT_EMULATOR_ALIPAY_RETRY_SCHEDULE",
    cast=float,
    default=[240, 600, 600, 3600, 7200, 21600, 54000],
)
PAYMENT_EMULATOR_RETRY_FACTOR = env.float("PAYMENT_EMULATOR_RETRY_FACTOR", default=1.0)
PAYMENT_EMULATOR_SIGNATURE_PROBE_RATE = env.float(
    "PAYMENT_EMULATOR_SIGNATURE_PROBE_RATE", default=0.0
)
PAYMENT_EMULATOR_CALLBACK_TIMEOUT_SECONDS = env.float(
    "PAYMENT_EMULATOR_CALLBACK_TIMEOUT_SECONDS", default=5.0
)
CELERY_BEAT_SCHEDULE["payment-emulator-callbacks-sweep"] = {
    "task": "provider_emulators.callbacks_sweep",
    "schedule": env.float("PAYMENT_EMULATOR_SWEEP_INTERVAL_SECONDS", default=10.0),
}

# --- Pharmacy and delivery ----------------------------------------------------------------------
# A pickup code works until the prescription's validity ends, or this many hours after it was
# issued if that comes first; an uncollected pickup is reminded once, this many hours after it
# was ready.
PHARMACY_PICKUP_CODE_LIFETIME_HOURS = env.int("PHARMACY_PICKUP_CODE_LIFETIME_HOURS", default=72)
PHARMACY_PICKUP_REMINDER_AFTER_HOURS = env.int("PHARMACY_PICKUP_REMINDER_AFTER_HOURS", default=4)
# A paid delivery still without a waybill this long after payment is dispatched by the sweep.
PHARMACY_DISPATCH_SWEEP_AFTER_SECONDS = env.int(
    "PHARMACY_DISPATCH_SWEEP_AFTER_SECONDS", default=120
)
# The sender printed on waybills: the hospital pharmacy that packs delivered prescriptions.
PHARMACY_SENDER_NAME = env.str("PHARMACY_SENDER_NAME", default="广东省第二人民医院互联网医院药房")
PHARMACY_SENDER_PHONE = env.str("PHARMACY_SENDER_PHONE", default="+862089168000")
PHARMACY_SENDER_PROVINCE = env.str("PHARMACY_SENDER_PROVINCE", default="广东省")
PHARMACY_SENDER_CITY = env.str("PHARMACY_SENDER_CITY", default="广州市")
PHARMACY_SENDER_DISTRICT = env.str("PHARMACY_SENDER_DISTRICT", default="海珠区")
PHARMACY_SENDER_DETAIL = env.str("PHARMACY_SENDER_DETAIL", default="新港中路466号")
# The courier: its API (unset: this server's courier emulator), the shared secret that signs
# requests and tracking callbacks both ways, how old a signed timestamp may be, and its name as
# patients see it.
COURIER_CODE = env.str("COURIER_CODE", default="emulator")
COURIER_NAME = env.str("COURIER_NAME", default="速达快递")
COURIER_API_BASE_URL = env.str(
    "COURIER_API_BASE_URL", default="http://127.0.0.1:8000/emulators/courier"
).rstrip("/")
COURIER_SHARED_SECRET = env.str("COURIER_SHARED_SECRET", default=_DEV_COURIER_SHARED_SECRET)
COURIER_TIMEOUT_SECONDS = env.float("COURIER_TIMEOUT_SECONDS", default=10.0)
COURIER_CALLBACK_MAX_AGE_SECONDS = env.int("COURIER_CALLBACK_MAX_AGE_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["pharmacy-dispatch-sweep"] = {
    "task": "pharmacy.dispatch_sweep",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["pharmacy-pickup-reminders"] = {
    "task": "pharmacy.pickup_reminders",
    "schedule": 60.0 * 15,
}

# --- Quality -----------------------------------------------------------------------------------
# Post-visit feedback: the patient of a completed consultation is invited this long after it
# ended (the collector looks back QUALITY_FEEDBACK_LOOKBACK_HOURS for visits it has not invited
# yet); the survey link works for QUALITY_FEEDBACK_LINK_DAYS; reminders go this many hours after
# the invitation while nobody has answered.
QUALITY_FEEDBACK_DELAY_MINUTES = env.int("QUALITY_FEEDBACK_DELAY_MINUTES", default=10)
QUALITY_FEEDBACK_LOOKBACK_HOURS = env.int("QUALITY_FEEDBACK_LOOKBACK_HOURS", default=48)
QUALITY_FEEDBACK_LINK_DAYS = env.int("QUALITY_FEEDBACK_LINK_DAYS", default=7)
QUALITY_FEEDBACK_REMINDER_HOURS = env.list(
    "QUALITY_FEEDBACK_REMINDER_HOURS", cast=int, default=[24, 72]
)
# Complaints: a new complaint is to be triaged within QUALITY_COMPLAINT_TRIAGE_HOURS; once
# triaged, closed within its severity's hours (both counted from submission). Past the deadline
# the escalation task flags it and tells operations.
QUALITY_COMPLAINT_TRIAGE_HOURS = env.int("QUALITY_COMPLAINT_TRIAGE_HOURS", default=24)
QUALITY_COMPLAINT_SLA_HOURS = {
    "critical": env.int("QUALITY_COMPLAINT_SLA_CRITICAL_HOURS", default=24),
    "high": env.int("QUALITY_COMPLAINT_SLA_HIGH_HOURS", default=72),
    "medium": env.int("QUALITY_COMPLAINT_SLA_MEDIUM_HOURS", default=120),
    "low": env.int("QUALITY_COMPLAINT_SLA_LOW_HOURS", default=240),
}
# Clinical quality review: each week the share QUALITY_REVIEW_SAMPLE_RATE of every doctor's
# completed consultations and of their approved prescriptions is drawn (rounded up, at least
# QUALITY_REVIEW_MIN_PER_DOCTOR of each kind the doctor has; a doctor's own rate, set in the
# admin, overrides it). The draw is repeatable from QUALITY_REVIEW_SAMPLE_SEED and the week.
# Reviewers: doctors and pharmacists of intermediate title or above; they have
# QUALITY_REVIEW_DUE_DAYS after the week to score.
QUALITY_REVIEW_SAMPLE_RATE = env.str("QUALITY_REVIEW_SAMPLE_RATE", default="0.05")
QUALITY_REVIEW_MIN_PER_DOCTOR = env.int("QUALITY_REVIEW_MIN_PER_DOCTOR", default=1)
QUALITY_REVIEW_SAMPLE_SEED = env.str("QUALITY_REVIEW_SAMPLE_SEED", default="gd2h-quality-review")
QUALITY_REVIEWER_DOCTOR_TITLES = env.list(
    "QUALITY_REVIEWER_DOCTOR_TITLES", default=["attending", "associate_chief", "chief"]
)
QUALITY_REVIEWER_PHARMACIST_TITLES = env.list(
    "QUALITY_REVIEWER_PHARMACIST_TITLES", default=["supervising", "associate_chief", "chief"]
)
QUALITY_REVIEW_DUE_DAYS = env.int("QUALITY_REVIEW_DUE_DAYS", default=7)
# Terminal uptime: how often the sampler records terminal status changes.
QUALITY_TERMINAL_SAMPLE_SECONDS = env.float("QUALITY_TERMINAL_SAMPLE_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE.update(
    {
        "quality-feedback-invite": {"task": "quality.feedback_invite", "schedule": 60.0 * 5},
        "quality-feedback-reminders": {
            "task": "quality.feedback_reminders",
            "schedule": 60.0 * 15,
        },
        "quality-complaints-escalate": {
            "task": "quality.complaints_escalate",
            "schedule": 60.0 * 15,
        },
        # Mondays 02:00 Asia/Shanghai: the week that just ended.
        "quality-reviews-sample": {
            "task": "quality.reviews_sample",
            "schedule": crontab(day_of_week=1, hour=2, minute=0),
        },
        "quality-terminal-status-sample": {
            "task": "quality.terminal_status_sample",
            "schedule": QUALITY_TERMINAL_SAMPLE_SECONDS,
        },
    }
)

# --- FHIR and the regulator feed ---------------------------------------------------------------
# The facade's canonical base: our identifier and code systems are <base>/sid/<name>, our
# extensions <base>/StructureDefinition/<name>. Keep it stable once partners store identifiers.
FHIR_CANONICAL_BASE = env.str("FHIR_CANONICAL_BASE", default=f"{SITE_URL}/fhir").rstrip("/")
FHIR_PAGE_SIZE = env.int("FHIR_PAGE_SIZE", default=20)
FHIR_MAX_PAGE_SIZE = env.int("FHIR_MAX_PAGE_SIZE", default=100)
# Lifetime of a system client's bearer token (SMART backend services: at most five minutes).
FHIR_SYSTEM_TOKEN_SECONDS = env.int("FHIR_SYSTEM_TOKEN_SECONDS", default=300)
# Validate every response against the fhir.resources models before sending it (tests, staging).
FHIR_VALIDATE_RESPONSES = env.bool("FHIR_VALIDATE_RESPONSES", default=False)
# The regulator feed: finished consultations, prescriptions and dispenses reported to the
# provincial supervision platform, batched daily at REGULATOR_FEED_SEND_AT (Asia/Shanghai), each
# record with its SM3 digest, the request signed HMAC-SM3 with the platform-issued secret.
# Unset URL: this server's emulator. Records finished before REGULATOR_FEED_SINCE (a date) are
# never reported.
REGULATOR_FEED_ENABLED = env.bool("REGULATOR_FEED_ENABLED", default=True)
REGULATOR_FEED_URL = env.str(
    "REGULATOR_FEED_URL", default="http://127.0.0.1:8000/emulators/regulator/api/batches"
)
REGULATOR_FEED_APP_ID = env.str("REGULATOR_FEED_APP_ID", default="GD2H-ONLINE-HOSPITAL")
REGULATOR_FEED_SECRET = env.str(
    "REGULATOR_FEED_SECRET", default="development-only-regulator-feed-secret"
)
REGULATOR_FEED_ORG_CODE = env.str("REGULATOR_FEED_ORG_CODE", default="GD2H")
REGULATOR_FEED_SINCE = env.str("REGULATOR_FEED_SINCE", default="")
REGULATOR_FEED_SEND_AT = env.str("REGULATOR_FEED_SEND_AT", default="01:30")
REGULATOR_FEED_BATCH_SIZE = env.int("REGULATOR_FEED_BATCH_SIZE", default=2000)
REGULATOR_FEED_TIMEOUT_SECONDS = env.float("REGULATOR_FEED_TIMEOUT_SECONDS", default=30.0)
REGULATOR_FEED_RETRY_BASE_SECONDS = env.float("REGULATOR_FEED_RETRY_BASE_SECONDS", default=300.0)
REGULATOR_FEED_RETRY_MAX_SECONDS = env.float("REGULATOR_FEED_RETRY_MAX_SECONDS", default=3600.0)
REGULATOR_FEED_LEASE_SECONDS = env.float("REGULATOR_FEED_LEASE_SECONDS", default=300.0)
REGULATOR_FEED_QUEUE = env.str("REGULATOR_FEED_QUEUE", default="default")
# The emulator: answer 503 to everything (a demo of the platform being down), and how far a
# signed timestamp may be from its clock.
REGULATOR_EMULATOR_DOWN = env.bool("REGULATOR_EMULATOR_DOWN", default=False)
REGULATOR_EMULATOR_MAX_AGE_SECONDS = env.int("REGULATOR_EMULATOR_MAX_AGE_SECONDS", default=300)
CELERY_BEAT_SCHEDULE.update(
    {
        "regulator-feed-collect": {"task": "interop.regulator_collect", "schedule": 60.0 * 10},
        "regulator-feed-daily": {
            "task": "interop.regulator_daily",
            "schedule": crontab(
                hour=REGULATOR_FEED_SEND_AT.split(":")[0],
                minute=REGULATOR_FEED_SEND_AT.split(":")[1],
            ),
        },
        "regulator-feed-sweep": {"task": "interop.regulator_sweep", "schedule": 60.0 * 5},
    }
)

# --- Video -------------------------------------------------------------------------------------
# WebRTC signaling runs over Django Channels: an in-process channel layer embedded (one web
# process), Redis when REDIS_URL is set so every web process reaches every room.
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "telehealth:video"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# RTCIceServer entries as JSON, e.g. [{"urls": ["stun:turn.example.org:3478"]},
# {"urls": ["turn:turn.example.org:3478"]}]. Empty: host candidates only (one network).
VIDEO_ICE_SERVERS = env.json("VIDEO_ICE_SERVERS", default=[])
# coturn's `static-auth-secret`: TURN entries without a username get short-lived credentials.
VIDEO_TURN_SHARED_SECRET = env.str("VIDEO_TURN_SHARED_SECRET", default="")
VIDEO_TURN_CREDENTIAL_SECONDS = env.int("VIDEO_TURN_CREDENTIAL_SECONDS", default=6 * 60 * 60)
# A room token only opens the socket; a reconnect fetches a new one.
VIDEO_ROOM_TOKEN_SECONDS = env.int("VIDEO_ROOM_TOKEN_SECONDS", default=120)

# --- Logs and metrics (core/observability.py) --------------------------------------------------
# JSON lines carrying the request id (carried into Celery tasks too); "plain" for a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "core.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
# Bearer token Prometheus sends to /metrics; empty = open (keep /metrics off the public proxy).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Browser safety ----------------------------------------------------------------------------
# Content-Security-Policy: scripts only from this origin (no inline scripts anywhere), media from
# the camera (WebRTC) and blobs, sockets to this origin, never framed. Inline style attributes
# stay allowed: the admin and Swagger UI set them, and they cannot run code.
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "media-src": [CSP.SELF, "blob:", "mediastream:"],
    "connect-src": [CSP.SELF, "ws:", "wss:"],
    "font-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SAMESITE = "Lax"
