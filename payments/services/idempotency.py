"""`Idempotency-Key` for the POSTs that move money (pay, refund).

The first request under a (user, key) claims a row (a unique constraint decides among concurrent
ones) and stores its response; the same key with the same request replays that response; the
same key with a different request is refused (422 `idempotency_key_reused`); a concurrent
request while the first is still running gets 409 `idempotency_key_in_progress`. Server errors
and "try again" answers release the key, so a retry runs for real.
"""

import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from core.exceptions import ConflictError, DomainError
from payments.models import IdempotencyRecord

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class IdempotencyClaim:
    # The claimed row: run the request, then complete or release it. None: replay below.
    record_id: int | None
    replay_status: int | None = None
    replay_body: Any = None


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    canonical = json.dumps(
        [method.upper(), path, body], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise DomainError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            code="idempotency_key_invalid",
        )
    return key


def idempotency_claim(
    *, user: User, key: str, fingerprint: str, now: datetime.datetime | None = None
) -> IdempotencyClaim:
    now = now or timezone.now()
    key = _check_key(key)
    try:
        with transaction.atomic(durable=True):
            record = IdempotencyRecord.objects.create(
                user=user, key=key, fingerprint=fingerprint, created_at=now
            )
        return IdempotencyClaim(record_id=record.pk)
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.get(user=user, key=key)
    if record.fingerprint != fingerprint:
        raise DomainError(
            "This Idempotency-Key was used for a different request.",
            code="idempotency_key_reused",
            status_code=422,
        )
    if record.completed_at is not None:
        return IdempotencyClaim(
            record_id=None, replay_status=record.response_status, replay_body=record.response_body
        )
    # Still running — unless its request died without releasing it; then one caller takes over.
    abandoned = now - datetime.timedelta(seconds=settings.IDEMPOTENCY_ABANDONED_AFTER_SECONDS)
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, completed_at__isnull=True, created_at__lt=abandoned
    ).update(created_at=now)
    if taken:
        return IdempotencyClaim(record_id=record.pk)
    raise ConflictError(
        "A request with this Idempotency-Key is still in progress.",
        code="idempotency_key_in_progress",
    )


def idempotency_complete(*, record_id: int, status: int, body: Any) -> None:
    IdempotencyRecord.objects.filter(pk=record_id, completed_at__isnull=True).update(
        response_status=status, response_body=body, completed_at=timezone.now()
    )


def idempotency_release(*, record_id: int) -> None:
    IdempotencyRecord.objects.filter(pk=record_id, completed_at__isnull=True).delete()
