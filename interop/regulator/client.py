"""Talking to the supervision platform over HTTP (REGULATOR_FEED_URL; the in-repo emulator by
default). Every failure to get a usable answer is `FeedUnavailable`: the batch is retried."""

import json
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from interop.regulator.protocol import signed_headers


class FeedUnavailable(Exception):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class RecordResult:
    record_id: str
    status: str
    code: str
    message: str


def send_batch(
    body: dict[str, Any], *, transport: httpx.BaseTransport | None = None
) -> tuple[int, list[RecordResult]]:
    """POST the batch, signed; the HTTP status and the per-record results."""
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = signed_headers(
        app_id=settings.REGULATOR_FEED_APP_ID, secret=settings.REGULATOR_FEED_SECRET, body=raw
    )
    try:
        with httpx.Client(
            timeout=settings.REGULATOR_FEED_TIMEOUT_SECONDS, transport=transport
        ) as client:
            response = client.post(settings.REGULATOR_FEED_URL, content=raw, headers=headers)
    except httpx.HTTPError as error:
        raise FeedUnavailable(f"unreachable: {type(error).__name__}: {error}") from error
    if response.status_code != 200:
        raise FeedUnavailable(
            f"answered {response.status_code}: {response.text[:200]}", response.status_code
        )
    try:
        answer = response.json()
        results = [
            RecordResult(
                record_id=str(item["record_id"]),
                status=str(item["status"]),
                code=str(item.get("code") or ""),
                message=str(item.get("message") or ""),
            )
            for item in answer["results"]
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise FeedUnavailable("answered something other than batch results", 200) from error
    return response.status_code, results
