"""Password sign-in throttling: per account and per client address.

Each attempt first takes a slot (an atomic increment in the cache — Redis in production), then
the password is checked only if the slot is within the limit. So however many guesses arrive at
once, at most `SIGNIN_MAX_FAILURES_PER_ACCOUNT` passwords are checked per account per window,
and `SIGNIN_MAX_FAILURES_PER_ADDRESS` per address. A success clears the account's counter.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

from core.exceptions import DomainError


class SignInLocked(DomainError):
    status_code = 429
    default_code = "signin_locked"


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().casefold().encode()).hexdigest()[:32]
    return f"signin:{kind}:{digest}"


def _take(key: str) -> int:
    window = settings.SIGNIN_LOCKOUT_SECONDS
    cache.add(key, 0, timeout=window)  # starts the window once; no-op when it exists
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


def signin_attempt_begin(*, username: str, address: str | None) -> None:
    """Take an attempt slot for the account and the address, or refuse (429, nothing checked)."""
    over_account = _take(_key("account", username)) > settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT
    over_address = address is not None and (
        _take(_key("address", address)) > settings.SIGNIN_MAX_FAILURES_PER_ADDRESS
    )
    if over_account or over_address:
        raise SignInLocked(
            "Too many failed sign-ins: try again later.",
            extra={"retry_after_seconds": settings.SIGNIN_LOCKOUT_SECONDS},
        )


def signin_succeeded(*, username: str) -> None:
    """The account's failures are forgotten; the address's are not (it may be guessing others)."""
    cache.delete(_key("account", username))
