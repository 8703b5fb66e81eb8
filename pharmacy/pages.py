"""The patient's medicine page under /m/fulfilments/: the pickup code (its QR code and the number
to read out) while the medicine waits at the clinic, or the delivery's tracking timeline.

It reads through pharmacy's selectors (the patient's own fulfilment, the read audited) and
refreshes itself (htmx) until the medicine is handed over, delivered or returned.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from core.actors import actor_from_request
from patients.pages import FULFILMENT_STATUS_LABELS, label, patient_page, qr_svg
from payments.models import FulfilmentMethod
from pharmacy.models import Fulfilment, FulfilmentStatus, TrackingEvent, Waybill
from pharmacy.pickup_codes import code_expired, pickup_token, qr_payload
from pharmacy.selectors import fulfilment_detail, fulfilment_get_for_actor

# How often the page looks again while something may still change.
REFRESH_SECONDS = 10
FINAL_STATUSES = frozenset(
    {FulfilmentStatus.PICKED_UP, FulfilmentStatus.DELIVERED, FulfilmentStatus.RETURNED}
)
# The steps a delivery passes through, as the progress bar shows them.
DELIVERY_STEPS = (
    FulfilmentStatus.AWAITING_PAYMENT,
    FulfilmentStatus.DISPATCHED,
    FulfilmentStatus.IN_TRANSIT,
    FulfilmentStatus.OUT_FOR_DELIVERY,
    FulfilmentStatus.DELIVERED,
)
TRACKING_STATUS_LABELS = {
    "accepted": _("Accepted by the courier"),
    "picked_up": _("Collected from the pharmacy"),
    "in_transit": _("In transit"),
    "out_for_delivery": _("Out for delivery"),
    "delivered": _("Delivered"),
    "failed": _("Delivery attempt failed"),
}


@dataclass(frozen=True)
class Step:
    name: str
    state: str  # done, current or todo


@dataclass(frozen=True)
class TrackingEntry:
    waybill: Waybill
    event: TrackingEvent

    @property
    def status_label(self) -> str:
        return label(TRACKING_STATUS_LABELS, self.event.status)


@dataclass(frozen=True)
class FulfilmentView:
    fulfilment: Fulfilment

    @property
    def status_label(self) -> str:
        return label(FULFILMENT_STATUS_LABELS, self.fulfilment.status)

    @property
    def refreshing(self) -> bool:
        return self.fulfilment.status not in FINAL_STATUSES

    @property
    def pickup_ready(self) -> bool:
        fulfilment = self.fulfilment
        return (
            fulfilment.method == FulfilmentMethod.PICKUP
            and fulfilment.status == FulfilmentStatus.READY_FOR_PICKUP
            and bool(fulfilment.pickup_code)
            and not code_expired(fulfilment.pickup_code_expires_at)
        )

    @property
    def pickup_qr(self) -> str:
        """The QR code staff scan: the signed token naming this fulfilment and its code."""
        fulfilment = self.fulfilment
        if not self.pickup_ready or fulfilment.pickup_code_expires_at is None:
            return ""
        token = pickup_token(
            fulfilment_public_id=fulfilment.public_id,
            code=fulfilment.pickup_code,
            expires_at=fulfilment.pickup_code_expires_at,
        )
        return qr_svg(qr_payload(token), title=str(_("Pickup code")))

    @property
    def steps(self) -> list[Step]:
        status = self.fulfilment.status
        if status not in DELIVERY_STEPS:
            return []
        reached = DELIVERY_STEPS.index(FulfilmentStatus(status))
        return [
            Step(
                name=label(FULFILMENT_STATUS_LABELS, step),
                state="done" if index < reached else "current" if index == reached else "todo",
            )
            for index, step in enumerate(DELIVERY_STEPS)
        ]

    @property
    def tracking(self) -> list[TrackingEntry]:
        """Every courier report of every waybill, newest first."""
        entries = [
            TrackingEntry(waybill=waybill, event=event)
            for waybill in self.fulfilment.waybills.all()
            for event in getattr(waybill, "reports", [])
        ]
        return sorted(entries, key=lambda entry: entry.event.occurred_at, reverse=True)

    @property
    def current_waybill(self) -> Waybill | None:
        waybills = list(self.fulfilment.waybills.all())
        return waybills[-1] if waybills else None

    @property
    def courier_name(self) -> str:
        """The courier as patients know it (waybills store the courier's code)."""
        waybill = self.current_waybill
        if waybill is None:
            return ""
        return (
            settings.COURIER_NAME if waybill.courier == settings.COURIER_CODE else waybill.courier
        )

    @property
    def dispense(self) -> Any:
        return getattr(self.fulfilment, "dispense", None)


@require_GET
@patient_page
def fulfilment_page(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    fulfilment = fulfilment_detail(fulfilment_get_for_actor(actor=actor, public_id=public_id))
    return render(
        request,
        "pharmacy/mobile/fulfilment.html",
        {"view": FulfilmentView(fulfilment), "refresh_seconds": REFRESH_SECONDS},
    )


urlpatterns = [
    path("fulfilments/<uuid:public_id>/", fulfilment_page, name="fulfilment"),
]
