"""What the emulated courier remembers: its waybills and the tracking events it reported.

These tables stand for the courier's own books, not the platform's (pharmacy.Waybill and
pharmacy.TrackingEvent are those).
"""

import uuid

from django.db import models


class WaybillStatus(models.TextChoices):
    CREATED = "created", "已下单 created"
    ACCEPTED = "accepted", "已接单 accepted"
    PICKED_UP = "picked_up", "已揽收 picked up"
    IN_TRANSIT = "in_transit", "运输中 in transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "派送中 out for delivery"
    DELIVERED = "delivered", "已签收 delivered"
    FAILED = "failed", "派送失败 failed"
    CANCELLED = "cancelled", "已取消 cancelled"


# The happy path a demo button walks a waybill along.
NEXT_STATUS: dict[str, str] = {
    WaybillStatus.CREATED: WaybillStatus.ACCEPTED,
    WaybillStatus.ACCEPTED: WaybillStatus.PICKED_UP,
    WaybillStatus.PICKED_UP: WaybillStatus.IN_TRANSIT,
    WaybillStatus.IN_TRANSIT: WaybillStatus.OUT_FOR_DELIVERY,
    WaybillStatus.OUT_FOR_DELIVERY: WaybillStatus.DELIVERED,
}
ENDED_STATUSES = frozenset({WaybillStatus.DELIVERED, WaybillStatus.FAILED, WaybillStatus.CANCELLED})
# What the courier reports (created and cancelled are answers to the platform's requests).
REPORTABLE_STATUSES = frozenset(WaybillStatus.values) - {
    WaybillStatus.CREATED,
    WaybillStatus.CANCELLED,
}


class EmulatedWaybill(models.Model):
    waybill_number = models.CharField(max_length=32, unique=True)
    # The platform's reference: a repeated create answers with the same waybill.
    reference = models.CharField(max_length=64, unique=True)
    sender = models.JSONField(default=dict)
    recipient = models.JSONField(default=dict)
    description = models.CharField(max_length=200, blank=True)
    notify_url = models.URLField(max_length=500)
    status = models.CharField(
        max_length=24, choices=WaybillStatus.choices, default=WaybillStatus.CREATED
    )
    cancel_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=WaybillStatus.values),
                name="emulated_waybill_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.waybill_number} ({self.status})"


class EmulatedTrackingEvent(models.Model):
    """One tracking report, as the courier sends it (and re-sends it, in tests and demos)."""

    waybill = models.ForeignKey(EmulatedWaybill, on_delete=models.CASCADE, related_name="events")
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=24, choices=WaybillStatus.choices)
    occurred_at = models.DateTimeField()
    location = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=200, blank=True)
    signer_name = models.CharField(max_length=100, blank=True)
    proof_photo = models.CharField(max_length=300, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    deliveries = models.PositiveIntegerField(default=0)
    last_response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_body = models.TextField(blank=True)
    last_delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.waybill_id} {self.status}"
