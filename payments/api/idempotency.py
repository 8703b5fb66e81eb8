"""The `Idempotency-Key` header on the API's money-moving POSTs (see
payments.services.idempotency for the rules)."""

import json
from collections.abc import Callable
from typing import Any

from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import actor_from_request
from core.api.errors import error_body
from core.exceptions import DomainError
from payments.services.idempotency import (
    idempotency_claim,
    idempotency_complete,
    idempotency_release,
    request_fingerprint,
)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Answers that mean "try again": the key is released so the retry runs for real.
_RETRY_CODES = frozenset({"provider_unavailable", "idempotency_key_in_progress"})


def _json(data: Any) -> Any:
    return json.loads(JSONRenderer().render(data))


def idempotent(request: Request, respond: Callable[[], Response]) -> Response:
    """Run `respond` once per (user, Idempotency-Key); replay its response for the same request."""
    key = request.headers.get(HEADER)
    user = actor_from_request(request).user
    if key is None or user is None:
        return respond()
    claim = idempotency_claim(
        user=user,
        key=key,
        fingerprint=request_fingerprint(
            method=request.method or "POST", path=request.path, body=_json(request.data)
        ),
    )
    if claim.record_id is None:
        replay = Response(claim.replay_body, status=claim.replay_status)
        replay[REPLAYED_HEADER] = "true"
        return replay
    try:
        response = respond()
    except DomainError as error:
        if error.status_code >= 500 or error.code in _RETRY_CODES:
            idempotency_release(record_id=claim.record_id)
        else:
            body = error_body(error.code, error.message, error.fields) | error.extra
            idempotency_complete(
                record_id=claim.record_id, status=error.status_code, body=_json(body)
            )
        raise
    except BaseException:
        idempotency_release(record_id=claim.record_id)
        raise
    if response.status_code >= 500:
        idempotency_release(record_id=claim.record_id)
    else:
        idempotency_complete(
            record_id=claim.record_id, status=response.status_code, body=_json(response.data)
        )
    return response
