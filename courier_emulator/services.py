"""The emulated courier's side: take and cancel waybills, record tracking events and push them to
the platform's notify URL, signed with the shared secret as the real courier would.

The push is separate from the recording, so tests and demos can deliver the events of a waybill
in order, out of order, or more than once.
"""

import datetime
import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from courier_emulator.models import (
    ENDED_STATUSES,
    NEXT_STATUS,
    REPORTABLE_STATUSES,
    EmulatedTrackingEvent,
    EmulatedWaybill,
    WaybillStatus,
)
from pharmacy.couriers.signatures import signed_headers

ADDRESS_FIELDS = ("name", "phone", "province", "city", "district", "detail")
# Rank of each status: the emulator's own waybill only moves forward.
RANK: dict[str, int] = {
    WaybillStatus.CREATED: 0,
    WaybillStatus.ACCEPTED: 1,
    WaybillStatus.PICKED_UP: 2,
    WaybillStatus.IN_TRANSIT: 3,
    WaybillStatus.OUT_FOR_DELIVERY: 4,
    WaybillStatus.DELIVERED: 5,
    WaybillStatus.FAILED: 5,
    WaybillStatus.CANCELLED: 5,
}


class EmulatorError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _address(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise EmulatorError("address_invalid", f"{field} must be an object.")
    address = {name: value.get(name) for name in ADDRESS_FIELDS}
    missing = [name for name, part in address.items() if not isinstance(part, str) or not part]
    if missing:
        raise EmulatorError("address_invalid", f"{field} lacks {', '.join(missing)}.")
    return {name: str(part) for name, part in address.items()}


def _new_waybill_number() -> str:
    return f"SD{secrets.randbelow(10**12):012d}"


def waybill_create(payload: Any) -> tuple[EmulatedWaybill, bool]:
    """A new waybill for the reference, or the one already made for it."""
    if not isinstance(payload, dict):
        raise EmulatorError("payload_invalid", "Expected a JSON object.")
    reference = payload.get("reference")
    notify_url = payload.get("notify_url")
    if not isinstance(reference, str) or not 0 < len(reference) <= 64:
        raise EmulatorError("reference_invalid", "reference: 1 to 64 characters.")
    if not isinstance(notify_url, str) or not notify_url.startswith(("http://", "https://")):
        raise EmulatorError("notify_url_invalid", "notify_url must be an http(s) URL.")
    existing = EmulatedWaybill.objects.filter(reference=reference).first()
    if existing is not None:
        return existing, False
    sender = _address(payload.get("sender"), "sender")
    recipient = _address(payload.get("recipient"), "recipient")
    description = str(payload.get("description") or "")[:200]
    for _ in range(5):
        try:
            with transaction.atomic():
                waybill = EmulatedWaybill.objects.create(
                    waybill_number=_new_waybill_number(),
                    reference=reference,
                    sender=sender,
                    recipient=recipient,
                    description=description,
                    notify_url=notify_url,
                )
            return waybill, True
        except IntegrityError:
            existing = EmulatedWaybill.objects.filter(reference=reference).first()
            if existing is not None:  # the same reference, created concurrently
                return existing, False
    raise EmulatorError("waybill_number_exhausted", "Try again.", status=503)


def waybill_cancel(*, waybill_number: str, reason: str) -> EmulatedWaybill:
    with transaction.atomic():
        waybill = (
            EmulatedWaybill.objects.select_for_update()
            .filter(waybill_number=waybill_number)
            .first()
        )
        if waybill is None:
            raise EmulatorError("waybill_not_found", "No such waybill.", status=404)
        if waybill.status == WaybillStatus.CANCELLED:
            return waybill
        if waybill.status in ENDED_STATUSES:
            raise EmulatorError("waybill_ended", f"The waybill is {waybill.status}.", status=409)
        waybill.status = WaybillStatus.CANCELLED
        waybill.cancel_reason = reason[:200]
        waybill.save(update_fields=["status", "cancel_reason", "updated_at"])
    return waybill


def _where(waybill: EmulatedWaybill, status: str) -> str:
    recipient = waybill.recipient
    sender = waybill.sender
    if status in (WaybillStatus.ACCEPTED, WaybillStatus.PICKED_UP):
        return f"{sender.get('city', '')}{sender.get('district', '')}营业部"
    if status == WaybillStatus.IN_TRANSIT:
        return f"{recipient.get('city', '')}转运中心"
    return f"{recipient.get('city', '')}{recipient.get('district', '')}营业部"


def tracking_event_record(
    *,
    waybill: EmulatedWaybill,
    status: str,
    occurred_at: datetime.datetime | None = None,
    signer_name: str = "",
    proof_photo: str = "",
    reason: str = "",
) -> EmulatedTrackingEvent:
    """The courier notes what happened to the parcel (its waybill moves forward only)."""
    if status not in REPORTABLE_STATUSES:
        raise EmulatorError("status_invalid", f"Cannot report {status}.")
    if status == WaybillStatus.DELIVERED and not signer_name:
        signer_name = str(waybill.recipient.get("name", "本人"))
    if status == WaybillStatus.DELIVERED and not proof_photo:
        proof_photo = f"emulator://proof/{waybill.waybill_number}.jpg"
    if status == WaybillStatus.FAILED and not reason:
        reason = "收件人电话无人接听"
    with transaction.atomic():
        locked = EmulatedWaybill.objects.select_for_update().get(pk=waybill.pk)
        event = EmulatedTrackingEvent.objects.create(
            waybill=locked,
            status=status,
            occurred_at=occurred_at or timezone.now(),
            location=_where(locked, status),
            description=WaybillStatus(status).label,
            signer_name=signer_name,
            proof_photo=proof_photo,
            reason=reason,
        )
        if locked.status not in ENDED_STATUSES and RANK[status] > RANK[locked.status]:
            locked.status = status
            locked.save(update_fields=["status", "updated_at"])
    waybill.status = locked.status
    return event


def event_body(event: EmulatedTrackingEvent) -> bytes:
    payload = {
        "event_id": str(event.event_id),
        "waybill_number": event.waybill.waybill_number,
        "status": event.status,
        "occurred_at": event.occurred_at.isoformat(),
        "location": event.location,
        "description": event.description,
        "signer_name": event.signer_name,
        "proof_photo": event.proof_photo,
        "reason": event.reason,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Delivery:
    status_code: int | None
    body: str


def tracking_event_deliver(
    event: EmulatedTrackingEvent, *, transport: httpx.BaseTransport | None = None
) -> Delivery:
    """POST the event, signed, to the waybill's notify URL and note the answer (an unreachable
    platform is an answer too: no status)."""
    body = event_body(event)
    try:
        with httpx.Client(timeout=settings.COURIER_TIMEOUT_SECONDS, transport=transport) as client:
            response = client.post(
                event.waybill.notify_url,
                content=body,
                headers=signed_headers(secret=settings.COURIER_SHARED_SECRET, body=body),
            )
        delivery = Delivery(status_code=response.status_code, body=response.text[:1000])
    except httpx.HTTPError as error:
        delivery = Delivery(status_code=None, body=f"{type(error).__name__}: {error}"[:1000])
    EmulatedTrackingEvent.objects.filter(pk=event.pk).update(
        deliveries=F("deliveries") + 1,
        last_response_status=delivery.status_code,
        last_response_body=delivery.body,
        last_delivered_at=timezone.now(),
    )
    event.deliveries += 1
    return delivery


def waybill_advance(
    *,
    waybill: EmulatedWaybill,
    status: str | None = None,
    transport: httpx.BaseTransport | None = None,
    **details: Any,
) -> tuple[EmulatedTrackingEvent, Delivery]:
    """Record the next step (or `status`) of the waybill and push it at once: the demo page's
    buttons."""
    if status is None:
        waybill.refresh_from_db(fields=["status"])
        status = NEXT_STATUS.get(waybill.status)
        if status is None:
            raise EmulatorError("waybill_ended", f"The waybill is {waybill.status}.", status=409)
    event = tracking_event_record(waybill=waybill, status=status, **details)
    return event, tracking_event_deliver(event, transport=transport)
