"""Request ids in responses, logs and task headers; the metrics endpoint; browser-safety headers."""

import io
import json
import logging
from types import SimpleNamespace

import pytest
from django.test import Client

from core import observability
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_every_response_carries_a_request_id_and_keeps_a_well_formed_incoming_one() -> None:
    client = Client()
    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="edge-1234abcd")["X-Request-ID"] == (
        "edge-1234abcd"
    )
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\n<script>")["X-Request-ID"]
    assert replaced != "bad id\n<script>"
    assert len(replaced) == 32


def test_log_lines_are_json_with_the_request_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(observability.RequestIdFilter())
    handler.setFormatter(observability.JsonFormatter())
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    from django.http import HttpRequest, HttpResponse

    def view(request: HttpRequest) -> HttpResponse:
        logger.info("handled %s", "request")
        return HttpResponse("ok")

    from django.test import RequestFactory

    middleware = observability.RequestIdMiddleware(view)
    request = RequestFactory().get("/x", HTTP_X_REQUEST_ID="req-0123456789")
    try:
        middleware(request)
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert (line["message"], line["request_id"], line["level"]) == (
        "handled request",
        "req-0123456789",
        "INFO",
    )


def test_the_request_id_travels_in_task_headers_and_binds_in_the_worker() -> None:
    token = observability.request_id_var.set("req-abcdef123456")
    headers: dict[str, object] = {}
    try:
        observability._stamp_request_id(headers=headers)
    finally:
        observability.request_id_var.reset(token)
    assert headers == {"request_id": "req-abcdef123456"}
    # In the worker, Celery exposes the message headers on task.request.
    task = SimpleNamespace(name="t", request=SimpleNamespace(request_id="req-abcdef123456"))
    observability._bind_task_request_id(task_id="1", task=task)
    assert observability.request_id_var.get() == "req-abcdef123456"
    observability._measure_task(task_id="1", task=task, state="SUCCESS")
    assert observability.request_id_var.get() == ""


def test_metrics_endpoint(settings: object) -> None:
    from django.utils import timezone

    from tests.factories import make_user

    Notification.objects.create(
        event="notification_dead",
        channel="in_app",
        recipient_user=make_user(),
        language="en",
        objects_ids={},
        dedupe_key="metrics-test",
        next_attempt_at=timezone.now(),
    )
    client = Client()
    assert client.get("/verify/ca.pem").status_code == 200
    body = client.get("/metrics").content.decode()
    sample = (
        'telehealth_http_request_duration_seconds_count{method="GET",route="verify/ca.pem",'
        'status="2xx"}'
    )
    assert sample in body
    assert 'telehealth_outbox_notifications{status="pending"} 1.0' in body
    settings.METRICS_TOKEN = "scrape-secret"  # type: ignore[attr-defined]
    assert client.get("/metrics").status_code == 403
    authorised = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert authorised.status_code == 200


def test_pages_carry_a_content_security_policy_without_inline_scripts() -> None:
    response = Client().get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
