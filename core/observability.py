"""Request ids, structured logs and Prometheus metrics.

- Every request gets an id (a well-formed incoming `X-Request-ID` is kept, otherwise a new one);
  it is in every log line written while the request is handled, in the response header, and in
  the headers of every Celery task the request publishes, so the task's log lines carry it too.
- Logs are JSON lines (`LOG_FORMAT=json`, the production default) or plain text.
- `/metrics` exposes request latency, task latency and failures, the outbox backlog and payment
  callback outcomes in the Prometheus text format.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from celery import signals as celery_signals
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REQUEST_ID_HEADER = "X-Request-ID"
access_log = logging.getLogger("telehealth.access")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

REGISTRY = CollectorRegistry(auto_describe=True)
REQUEST_LATENCY = Histogram(
    "telehealth_http_request_duration_seconds",
    "HTTP request latency by route, method and status class.",
    ["route", "method", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASK_LATENCY = Histogram(
    "telehealth_task_duration_seconds",
    "Celery task run time by task and outcome.",
    ["task", "outcome"],
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60),
)
TASK_FAILURES = Counter(
    "telehealth_task_failures_total",
    "Celery tasks that raised, by task.",
    ["task"],
    registry=REGISTRY,
)


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Outermost middleware: binds the request id and measures the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        elapsed = time.perf_counter() - started
        REQUEST_LATENCY.labels(
            route=route, method=request.method or "", status=f"{response.status_code // 100}xx"
        ).observe(elapsed)
        # The route pattern, never the path or query string: those may carry identifiers.
        access_log.info(
            "%s %s %s %.1fms",
            request.method,
            route,
            response.status_code,
            elapsed * 1000,
            extra={"request_id": request_id},
        )
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", ""),
        }
        task = getattr(record, "task_name", None)
        if task:
            entry["task"] = task
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# --- Celery: carry the request id into tasks, measure them ------------------------------------

_task_started: dict[str, float] = {}


@celery_signals.before_task_publish.connect
def _stamp_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None and request_id_var.get():
        headers.setdefault("request_id", request_id_var.get())


@celery_signals.task_prerun.connect
def _bind_task_request_id(task_id: str = "", task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    incoming = getattr(request, "request_id", None) or (
        (getattr(request, "headers", None) or {}).get("request_id")
    )
    request_id_var.set(incoming or f"task-{task_id}")
    _task_started[task_id] = time.perf_counter()


@celery_signals.task_postrun.connect
def _measure_task(task_id: str = "", task: Any = None, state: str | None = None, **_: Any) -> None:
    started = _task_started.pop(task_id, None)
    if started is not None and task is not None:
        TASK_LATENCY.labels(task=task.name, outcome=(state or "unknown").lower()).observe(
            time.perf_counter() - started
        )
    request_id_var.set("")


@celery_signals.task_failure.connect
def _count_failure(sender: Any = None, **_: Any) -> None:
    TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()


# --- Gauges read from the database at scrape time ---------------------------------------------


class DatabaseCollector(Collector):
    """Outbox backlog and payment callback outcomes, counted when Prometheus scrapes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count

        from notifications.models import Notification

        backlog = GaugeMetricFamily(
            "telehealth_outbox_notifications", "Notifications by status.", labels=["status"]
        )
        for row in Notification.objects.values("status").annotate(n=Count("id")).order_by():
            backlog.add_metric([row["status"]], row["n"])
        yield backlog
        try:
            from payments.models import InboundCallback
        except ImportError:  # pragma: no cover - payments is always installed in this project
            return
        callbacks = GaugeMetricFamily(
            "telehealth_payment_callbacks",
            "Inbound payment callbacks by provider and outcome.",
            labels=["provider", "outcome"],
        )
        rows = InboundCallback.objects.values("provider", "outcome").annotate(n=Count("id"))
        for callback_row in rows.order_by():
            callbacks.add_metric(
                [callback_row["provider"], callback_row["outcome"]], callback_row["n"]
            )
        yield callbacks

    def describe(self) -> list[GaugeMetricFamily]:
        return []


REGISTRY.register(DatabaseCollector())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape endpoint; with METRICS_TOKEN set, a bearer token is required."""
    token = settings.METRICS_TOKEN
    if token and request.headers.get("Authorization", "") != f"Bearer {token}":
        return HttpResponseForbidden("metrics token required")
    return HttpResponse(generate_latest(REGISTRY), content_type="text/plain; version=0.0.4")
