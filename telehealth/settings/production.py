"""Production settings: everything from base, secrets required, HTTPS enforced.

Importing this module without DJANGO_SECRET_KEY, PATIENT_DATA_KEYS, PATIENT_LOOKUP_KEYS,
SIGNING_CA_KEY_SECRET, DJANGO_ALLOWED_HOSTS, DATABASE_URL or REDIS_URL set raises
ImproperlyConfigured, so a misconfigured deployment never starts (and never falls back to
SQLite or in-process tasks).
"""

from telehealth.settings.base import *  # noqa: F403
from telehealth.settings.base import env

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
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
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
