"""Courier tracking callbacks: stored as they arrived, verified (shared-secret HMAC over the
timestamp and the raw body, timestamp within a window), parsed, then applied once.

A report moves its waybill only forward (`TRACKING_RANK`): a late, out-of-order or repeated
report is recorded in the history but changes nothing, and a redelivered event id is a
duplicate. Refusals are stable error codes, never a server error.
"""

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from core.exceptions import DomainError, NotFoundError
from notifications.services import notify
from pharmacy.couriers.signatures import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    verify,
)
from pharmacy.models import (
    ENDED_WAYBILL_STATUSES,
    FULFILMENT_STATUS_FOR,
    REPORTED_STATUSES,
    TRACKING_RANK,
    TRANSITIONS,
    CallbackOutcome,
    CourierCallback,
    Fulfilment,
    TrackingEvent,
    TrackingStatus,
    Waybill,
)
from pharmacy.services.fulfilments import fulfilment_lock, fulfilment_move

COURIER_ROLE = "courier"
KEPT_HEADERS = (TIMESTAMP_HEADER, SIGNATURE_HEADER, "Content-Type", "User-Agent")
# Limits of the report's text fields (the columns they are stored in).
TEXT_LIMITS = {
    "event_id": 64,
    "waybill_number": 32,
    "location": 100,
    "description": 200,
    "signer_name": 100,
    "proof_photo": 300,
    "reason": 300,
}
ANNOUNCED: dict[str, str] = {
    TrackingStatus.OUT_FOR_DELIVERY: "out_for_delivery",
    TrackingStatus.DELIVERED: "delivered",
    TrackingStatus.FAILED: "delivery_failed",
}


@dataclass(frozen=True)
class TrackingReport:
    event_id: str
    waybill_number: str
    status: str
    occurred_at: datetime.datetime
    location: str = ""
    description: str = ""
    signer_name: str = ""
    proof_photo: str = ""
    reason: str = ""


@dataclass(frozen=True)
class CallbackResult:
    outcome: str  # applied, recorded or duplicate
    callback: CourierCallback


class ReportInvalid(Exception):
    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("invalid tracking report")
        self.fields = fields


def parse_report(body: bytes) -> TrackingReport:
    """The report in a verified body, or ReportInvalid naming what is wrong."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportInvalid({"body": ["Not UTF-8 JSON."]}) from error
    if not isinstance(data, dict):
        raise ReportInvalid({"body": ["Expected a JSON object."]})
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name, limit in TEXT_LIMITS.items():
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = ["Expected a string."]
        elif len(value) > limit:
            errors[name] = [f"At most {limit} characters."]
        else:
            values[name] = value.strip()
    for name in ("event_id", "waybill_number"):
        if name not in errors and not values.get(name):
            errors[name] = ["Required."]
    status = data.get("status")
    if status not in REPORTED_STATUSES:
        errors["status"] = [f"One of {', '.join(sorted(REPORTED_STATUSES))}."]
    occurred_at = None
    raw_time = data.get("occurred_at")
    try:
        occurred_at = (
            datetime.datetime.fromisoformat(raw_time) if isinstance(raw_time, str) else None
        )
    except ValueError:
        occurred_at = None
    if occurred_at is None or occurred_at.tzinfo is None:
        errors["occurred_at"] = ["An ISO 8601 time with its offset."]
    if status == TrackingStatus.DELIVERED and not values.get("signer_name"):
        errors.setdefault("signer_name", ["Required for a delivery."])
    if status == TrackingStatus.FAILED and not values.get("reason"):
        errors.setdefault("reason", ["Required for a failure."])
    if errors:
        raise ReportInvalid(errors)
    assert occurred_at is not None
    return TrackingReport(
        event_id=values["event_id"],
        waybill_number=values["waybill_number"],
        status=str(status),
        occurred_at=occurred_at,
        location=values.get("location", ""),
        description=values.get("description", ""),
        signer_name=values.get("signer_name", ""),
        proof_photo=values.get("proof_photo", ""),
        reason=values.get("reason", ""),
    )


def _finish(callback: CourierCallback, outcome: str, now: datetime.datetime, **fields: str) -> None:
    callback.outcome = outcome
    callback.processed_at = now
    for name, value in fields.items():
        setattr(callback, name, value)
    callback.save(update_fields=["outcome", "processed_at", *fields])


def _reject(callback: CourierCallback, code: str, now: datetime.datetime) -> None:
    with transaction.atomic(durable=True):
        _finish(callback, CallbackOutcome.REJECTED, now, reject_code=code)


def _fulfilment_changes(report: TrackingReport) -> dict[str, object]:
    if report.status == TrackingStatus.DELIVERED:
        return {"delivered_at": report.occurred_at}
    if report.status == TrackingStatus.FAILED:
        return {"failed_at": report.occurred_at, "failure_reason": report.reason}
    return {}


def _advance_waybill(waybill: Waybill, report: TrackingReport) -> None:
    waybill.status = report.status
    fields = ["status"]
    if report.status == TrackingStatus.DELIVERED:
        waybill.delivered_at = report.occurred_at
        waybill.signer_name = report.signer_name
        waybill.proof_photo = report.proof_photo
        fields += ["delivered_at", "signer_name", "proof_photo"]
    elif report.status == TrackingStatus.FAILED:
        waybill.failed_at = report.occurred_at
        waybill.failure_reason = report.reason
        fields += ["failed_at", "failure_reason"]
    waybill.save(update_fields=fields)


def _apply(
    report: TrackingReport,
    *,
    waybill_id: int,
    fulfilment_id: int,
    callback: CourierCallback,
    actor: Actor,
    now: datetime.datetime,
) -> str:
    """Under the fulfilment's and the waybill's locks: record the event (a duplicate id stops
    here), move the waybill if the report is ahead of it, and the fulfilment with it."""
    fulfilment = fulfilment_lock(fulfilment_id)
    waybill = Waybill.objects.select_for_update().get(pk=waybill_id)
    moves = (
        waybill.status not in ENDED_WAYBILL_STATUSES
        and TRACKING_RANK[report.status] > TRACKING_RANK[waybill.status]
    )
    try:
        with transaction.atomic():
            event = TrackingEvent.objects.create(
                waybill=waybill,
                callback=callback,
                courier=waybill.courier,
                event_id=report.event_id,
                status=report.status,
                occurred_at=report.occurred_at,
                location=report.location,
                description=report.description,
                signer_name=report.signer_name,
                proof_photo=report.proof_photo,
                failure_reason=report.reason,
                applied=moves,
                received_at=now,
            )
    except IntegrityError:
        return CallbackOutcome.DUPLICATE
    if not moves:
        return CallbackOutcome.RECORDED
    _advance_waybill(waybill, report)
    target = FULFILMENT_STATUS_FOR.get(report.status)
    # Reports about an earlier attempt's waybill never move a fulfilment sent out again.
    current_attempt = waybill.attempt == fulfilment.delivery_attempts
    if (
        target is not None
        and current_attempt
        and target != fulfilment.status
        and target in TRANSITIONS[fulfilment.status]
    ):
        fulfilment_move(
            fulfilment,
            target,
            actor=actor,
            now=report.occurred_at,
            changes=_fulfilment_changes(report),
            reason=report.reason or report.description or report.location,
            tracking_event=event,
        )
        _announce(fulfilment, waybill, report, now)
    return CallbackOutcome.APPLIED


def _announce(
    fulfilment: Fulfilment, waybill: Waybill, report: TrackingReport, now: datetime.datetime
) -> None:
    event = ANNOUNCED.get(report.status)
    if event is not None:
        notify(
            event=event,
            recipient=fulfilment.patient,
            objects={"fulfilment": fulfilment.pk},
            dedupe_key=f"waybill:{waybill.pk}:{report.status}",
            now=now,
        )


def courier_callback_receive(
    *,
    headers: Mapping[str, str],
    body: bytes,
    remote_addr: str | None,
    now: datetime.datetime | None = None,
) -> CallbackResult:
    """Store, verify, parse and apply one tracking callback.

    Refused (stored with the reason): missing or wrong signature and stale timestamps (401),
    malformed reports (400), unknown waybills (404).
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        callback = CourierCallback.objects.create(
            headers={name: headers[name][:512] for name in KEPT_HEADERS if name in headers},
            body=body,
            remote_addr=remote_addr,
        )
    try:
        verify(
            secret=settings.COURIER_SHARED_SECRET,
            headers=headers,
            body=body,
            max_age_seconds=settings.COURIER_CALLBACK_MAX_AGE_SECONDS,
            now=now.timestamp(),
        )
    except SignatureError as error:
        _reject(callback, error.code, now)
        raise DomainError(error.message, code=error.code, status_code=401) from error
    try:
        report = parse_report(body)
    except ReportInvalid as error:
        _reject(callback, "courier_payload_invalid", now)
        raise DomainError(
            "The tracking report is malformed.", code="courier_payload_invalid", fields=error.fields
        ) from error
    waybill = (
        Waybill.objects.filter(courier=settings.COURIER_CODE, waybill_number=report.waybill_number)
        .only("pk", "fulfilment_id")
        .first()
    )
    if waybill is None:
        _reject(callback, "waybill_not_found", now)
        raise NotFoundError("No such waybill.", code="waybill_not_found")
    actor = Actor(role=COURIER_ROLE, ip_address=remote_addr)
    with transaction.atomic(durable=True):
        outcome = _apply(
            report,
            waybill_id=waybill.pk,
            fulfilment_id=waybill.fulfilment_id,
            callback=callback,
            actor=actor,
            now=now,
        )
        _finish(callback, outcome, now, event_id=report.event_id)
    return CallbackResult(outcome=outcome, callback=callback)
