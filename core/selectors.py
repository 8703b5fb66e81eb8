"""Shared reads: platform health."""

import logging
from typing import Any

import redis
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("healthz: database unreachable: %s", exc)
        return {"status": "down", "vendor": connection.vendor, "error": type(exc).__name__}
    return {"status": "up", "vendor": connection.vendor}


def _check_redis() -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"status": "not_configured"}
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        client.ping()
    except Exception as exc:
        logger.warning("healthz: redis unreachable: %s", exc)
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "up"}


def _check_worker() -> dict[str, Any]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "in_process"}
    from telehealth.celery import app

    try:
        # Connect with a short timeout and no retries: an unreachable broker answers "down" in
        # about a second instead of after kombu's connection retries.
        with app.connection_for_write(connect_timeout=1) as connection:
            connection.ensure_connection(max_retries=1)
            replies = app.control.ping(timeout=1.0, connection=connection)
    except Exception as exc:
        logger.warning("healthz: broker unreachable for worker ping: %s", exc)
        return {"status": "down", "error": type(exc).__name__}
    if not replies:
        return {"status": "down", "workers": 0}
    return {"status": "up", "workers": len(replies)}


def platform_health() -> tuple[bool, dict[str, Any]]:
    """Check each part; the platform is healthy when every required part is up."""
    checks = {
        "database": _check_database(),
        "redis": _check_redis(),
        "celery_worker": _check_worker(),
    }
    required = ["database", "redis"]
    if settings.HEALTHZ_REQUIRE_WORKER:
        required.append("celery_worker")
    healthy = all(checks[name]["status"] != "down" for name in required)
    return healthy, checks
