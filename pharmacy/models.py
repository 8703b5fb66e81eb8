"""Facility stock, fulfilments (pickup or home delivery) and their dispenses, waybills and
courier tracking.

Fulfilment lifecycle (SPEC §3): pickup: awaiting_payment → ready_for_pickup → picked_up;
delivery: awaiting_payment → dispatched → in_transit → out_for_delivery → delivered | failed →
returned, and failed → dispatched again (a new waybill). `TRANSITIONS` is the one table every
transition checks; each transition appends a `FulfilmentEvent`.
"""

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import PublicIdModel
from payments.models import FulfilmentMethod


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove a stock movement."""


# --- Stock ---------------------------------------------------------------------------------------


class FacilityStock(models.Model):
    """Packs of one drug on the shelf of one facility."""

    facility = models.ForeignKey("clinics.Facility", on_delete=models.PROTECT, related_name="stock")
    drug = models.ForeignKey("prescriptions.Drug", on_delete=models.PROTECT, related_name="+")
    quantity = models.IntegerField(default=0, help_text="Packs")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["facility", "drug"]
        verbose_name_plural = "facility stock"
        constraints = [
            models.UniqueConstraint(fields=["facility", "drug"], name="facility_stock_unique"),
            # The last line of defence: no dispense or adjustment ever takes stock below zero.
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="facility_stock_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.facility_id}/{self.drug_id}: {self.quantity}"


class StockMovementReason(models.TextChoices):
    RECEIVED = "received", "入库 received"
    COUNT_CORRECTION = "count_correction", "盘点调整 count correction"
    DAMAGED = "damaged", "破损 damaged"
    EXPIRED = "expired", "过期 expired"
    RETURNED_TO_SUPPLIER = "returned_to_supplier", "退供应商 returned to supplier"
    DISPENSED = "dispensed", "发药 dispensed"


# Reasons a person may give for an adjustment; `dispensed` is written by the dispense only.
ADJUSTMENT_REASONS = frozenset(StockMovementReason.values) - {StockMovementReason.DISPENSED}


class StockMovementQuerySet(models.QuerySet["StockMovement"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Stock movements are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Stock movements are append-only.")


class StockMovement(models.Model):
    """Every change of a stock quantity, with its reason: append-only (database triggers refuse
    UPDATE and DELETE, installed by migration 0002)."""

    facility = models.ForeignKey("clinics.Facility", on_delete=models.PROTECT, related_name="+")
    drug = models.ForeignKey("prescriptions.Drug", on_delete=models.PROTECT, related_name="+")
    change = models.IntegerField(help_text="Packs added (positive) or taken (negative)")
    quantity_after = models.IntegerField()
    reason = models.CharField(max_length=24, choices=StockMovementReason.choices)
    note = models.CharField(max_length=300, blank=True)
    dispense = models.ForeignKey(
        "Dispense", null=True, blank=True, on_delete=models.PROTECT, related_name="movements"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_role = models.CharField(max_length=32)
    terminal = models.ForeignKey(
        "clinics.Terminal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    occurred_at = models.DateTimeField()

    objects: ClassVar[StockMovementQuerySet] = StockMovementQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(fields=["facility", "drug", "occurred_at"], name="stock_movement_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=StockMovementReason.values),
                name="stock_movement_reason_valid",
            ),
            models.CheckConstraint(condition=~Q(change=0), name="stock_movement_changes"),
            models.CheckConstraint(
                condition=Q(quantity_after__gte=0), name="stock_movement_after_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reason=StockMovementReason.DISPENSED, dispense__isnull=False)
                | (~Q(reason=StockMovementReason.DISPENSED) & Q(dispense__isnull=True)),
                name="stock_movement_dispense_link",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.facility_id}/{self.drug_id} {self.change:+d} ({self.reason})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Stock movements are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Stock movements are append-only.")


# --- Fulfilment ----------------------------------------------------------------------------------


class FulfilmentStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment", "待支付 awaiting payment"
    READY_FOR_PICKUP = "ready_for_pickup", "待取药 ready for pickup"
    PICKED_UP = "picked_up", "已取药 picked up"
    DISPATCHED = "dispatched", "已发货 dispatched"
    IN_TRANSIT = "in_transit", "运输中 in transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "派送中 out for delivery"
    DELIVERED = "delivered", "已签收 delivered"
    FAILED = "failed", "配送失败 failed"
    RETURNED = "returned", "已退回 returned"


# The allowed transitions; every transition service checks this one table. Courier reports may
# skip steps (a missed or late "in transit"), so a delivery may move forward over several at once.
TRANSITIONS: dict[str, frozenset[str]] = {
    FulfilmentStatus.AWAITING_PAYMENT: frozenset(
        {FulfilmentStatus.READY_FOR_PICKUP, FulfilmentStatus.DISPATCHED}
    ),
    FulfilmentStatus.READY_FOR_PICKUP: frozenset({FulfilmentStatus.PICKED_UP}),
    FulfilmentStatus.PICKED_UP: frozenset(),
    FulfilmentStatus.DISPATCHED: frozenset(
        {
            FulfilmentStatus.IN_TRANSIT,
            FulfilmentStatus.OUT_FOR_DELIVERY,
            FulfilmentStatus.DELIVERED,
            FulfilmentStatus.FAILED,
        }
    ),
    FulfilmentStatus.IN_TRANSIT: frozenset(
        {FulfilmentStatus.OUT_FOR_DELIVERY, FulfilmentStatus.DELIVERED, FulfilmentStatus.FAILED}
    ),
    FulfilmentStatus.OUT_FOR_DELIVERY: frozenset(
        {FulfilmentStatus.DELIVERED, FulfilmentStatus.FAILED}
    ),
    FulfilmentStatus.DELIVERED: frozenset(),
    FulfilmentStatus.FAILED: frozenset({FulfilmentStatus.DISPATCHED, FulfilmentStatus.RETURNED}),
    FulfilmentStatus.RETURNED: frozenset(),
}
# Which statuses each method passes through (a check constraint holds rows to them).
METHOD_STATUSES: dict[str, frozenset[str]] = {
    FulfilmentMethod.PICKUP: frozenset(
        {
            FulfilmentStatus.AWAITING_PAYMENT,
            FulfilmentStatus.READY_FOR_PICKUP,
            FulfilmentStatus.PICKED_UP,
        }
    ),
    FulfilmentMethod.DELIVERY: frozenset(
        {
            FulfilmentStatus.AWAITING_PAYMENT,
            FulfilmentStatus.DISPATCHED,
            FulfilmentStatus.IN_TRANSIT,
            FulfilmentStatus.OUT_FOR_DELIVERY,
            FulfilmentStatus.DELIVERED,
            FulfilmentStatus.FAILED,
            FulfilmentStatus.RETURNED,
        }
    ),
}


class Fulfilment(PublicIdModel):
    """How the medicine of one paid order reaches the patient: handed over at a facility against
    a pickup code, or delivered by a courier."""

    order = models.OneToOneField(
        "payments.PaymentOrder", on_delete=models.PROTECT, related_name="fulfilment"
    )
    prescription = models.ForeignKey(
        "prescriptions.Prescription", on_delete=models.PROTECT, related_name="fulfilments"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="fulfilments"
    )
    method = models.CharField(max_length=16, choices=FulfilmentMethod.choices)
    status = models.CharField(
        max_length=24,
        choices=FulfilmentStatus.choices,
        default=FulfilmentStatus.AWAITING_PAYMENT,
    )
    facility = models.ForeignKey(
        "clinics.Facility",
        on_delete=models.PROTECT,
        related_name="fulfilments",
        help_text="Pickup: where the medicine is handed over. Delivery: the consultation's "
        "facility, whose staff follow the parcel",
    )
    # Pickup: a short numeric code (typed) and a signed token (the QR code) for the patient.
    pickup_code = models.CharField(max_length=8, blank=True)
    pickup_code_expires_at = models.DateTimeField(null=True, blank=True)
    pickup_reminded_at = models.DateTimeField(null=True, blank=True)
    # Delivery: the recipient and address as the patient gave them (a snapshot).
    recipient_name = models.CharField(max_length=100, blank=True)
    recipient_phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    province = models.CharField(max_length=32, blank=True)
    city = models.CharField(max_length=32, blank=True)
    district = models.CharField(max_length=32, blank=True)
    address_detail = models.CharField(max_length=200, blank=True)
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    failure_reason = models.CharField(max_length=300, blank=True)
    # When the order was paid (the fulfilment's start) and each milestone after it.
    paid_at = models.DateTimeField()
    ready_at = models.DateTimeField(null=True, blank=True)
    picked_up_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["facility", "status"], name="fulfilment_facility_idx"),
            models.Index(fields=["patient", "-created_at"], name="fulfilment_patient_idx"),
            models.Index(fields=["status", "paid_at"], name="fulfilment_status_idx"),
            # A code typed at the counter that no ready pickup holds (already handed over,
            # expired): the facility's fulfilment that last had it.
            models.Index(fields=["facility", "pickup_code"], name="fulfilment_pickup_code_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=FulfilmentStatus.values), name="fulfilment_status_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        method=FulfilmentMethod.PICKUP,
                        status__in=METHOD_STATUSES[FulfilmentMethod.PICKUP],
                    )
                    | Q(
                        method=FulfilmentMethod.DELIVERY,
                        status__in=METHOD_STATUSES[FulfilmentMethod.DELIVERY],
                    )
                ),
                name="fulfilment_status_fits_method",
            ),
            models.CheckConstraint(
                condition=Q(method=FulfilmentMethod.DELIVERY)
                | Q(status=FulfilmentStatus.AWAITING_PAYMENT)
                | (~Q(pickup_code="") & Q(pickup_code_expires_at__isnull=False)),
                name="fulfilment_pickup_has_code",
            ),
            models.CheckConstraint(
                condition=Q(method=FulfilmentMethod.PICKUP)
                | (
                    Q(pickup_code="")
                    & ~Q(recipient_name="")
                    & ~Q(recipient_phone="")
                    & ~Q(province="")
                    & ~Q(city="")
                    & ~Q(district="")
                    & ~Q(address_detail="")
                ),
                name="fulfilment_delivery_has_address",
            ),
            models.CheckConstraint(
                condition=~Q(status=FulfilmentStatus.PICKED_UP) | Q(picked_up_at__isnull=False),
                name="fulfilment_picked_up_has_time",
            ),
            # A code the patient may still show identifies one fulfilment at a time.
            models.UniqueConstraint(
                fields=["pickup_code"],
                condition=Q(status=FulfilmentStatus.READY_FOR_PICKUP),
                name="fulfilment_active_pickup_code_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.method} ({self.status})"


class FulfilmentEvent(models.Model):
    """One transition: who (or which courier report) moved the fulfilment, from what to what."""

    fulfilment = models.ForeignKey(Fulfilment, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=24, blank=True)
    to_status = models.CharField(max_length=24)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_role = models.CharField(max_length=32)
    terminal = models.ForeignKey(
        "clinics.Terminal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tracking_event = models.ForeignKey(
        "TrackingEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.fulfilment_id}: {self.from_status or '∅'} → {self.to_status}"


# --- Dispense ------------------------------------------------------------------------------------


class Dispense(models.Model):
    """The handover of a prescription's medicine: at most once per fulfilment and per
    prescription (unique), by whom, at which terminal, when, from which facility's stock."""

    fulfilment = models.OneToOneField(Fulfilment, on_delete=models.PROTECT, related_name="dispense")
    prescription = models.OneToOneField(
        "prescriptions.Prescription", on_delete=models.PROTECT, related_name="dispense"
    )
    facility = models.ForeignKey(
        "clinics.Facility",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Whose stock: the pickup facility; none for a parcel from the hospital pharmacy",
    )
    dispensed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_role = models.CharField(max_length=32)
    terminal = models.ForeignKey(
        "clinics.Terminal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dispensed_at = models.DateTimeField()

    class Meta:
        ordering = ["-dispensed_at", "-id"]

    def __str__(self) -> str:
        return f"dispense {self.fulfilment_id} at {self.dispensed_at:%Y-%m-%d %H:%M}"


class DispenseItem(models.Model):
    dispense = models.ForeignKey(Dispense, on_delete=models.PROTECT, related_name="items")
    prescription_item = models.ForeignKey(
        "prescriptions.PrescriptionItem", on_delete=models.PROTECT, related_name="+"
    )
    drug = models.ForeignKey("prescriptions.Drug", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(help_text="Packs")

    class Meta:
        ordering = ["dispense", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dispense", "prescription_item"], name="dispense_item_once"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="dispense_item_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.dispense_id} {self.drug_id} × {self.quantity}"


# --- Delivery: waybills and courier tracking -----------------------------------------------------


class TrackingStatus(models.TextChoices):
    """What a courier reports about a waybill (plus `created` and `cancelled`, which are ours)."""

    CREATED = "created", "已下单 created"
    ACCEPTED = "accepted", "已接单 accepted"
    PICKED_UP = "picked_up", "已揽收 picked up"
    IN_TRANSIT = "in_transit", "运输中 in transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "派送中 out for delivery"
    DELIVERED = "delivered", "已签收 delivered"
    FAILED = "failed", "派送失败 failed"
    CANCELLED = "cancelled", "已取消 cancelled"


# How far along a waybill is: a report of a lower or equal rank than the waybill's never moves it
# (late, out of order, or repeated). delivered and failed both end the waybill.
TRACKING_RANK: dict[str, int] = {
    TrackingStatus.CREATED: 0,
    TrackingStatus.ACCEPTED: 1,
    TrackingStatus.PICKED_UP: 2,
    TrackingStatus.IN_TRANSIT: 3,
    TrackingStatus.OUT_FOR_DELIVERY: 4,
    TrackingStatus.DELIVERED: 5,
    TrackingStatus.FAILED: 5,
    TrackingStatus.CANCELLED: 5,
}
# The statuses a courier may report.
REPORTED_STATUSES = frozenset(TRACKING_RANK) - {TrackingStatus.CREATED, TrackingStatus.CANCELLED}
# What each report makes of the fulfilment (accepted leaves it dispatched).
FULFILMENT_STATUS_FOR: dict[str, str] = {
    TrackingStatus.PICKED_UP: FulfilmentStatus.IN_TRANSIT,
    TrackingStatus.IN_TRANSIT: FulfilmentStatus.IN_TRANSIT,
    TrackingStatus.OUT_FOR_DELIVERY: FulfilmentStatus.OUT_FOR_DELIVERY,
    TrackingStatus.DELIVERED: FulfilmentStatus.DELIVERED,
    TrackingStatus.FAILED: FulfilmentStatus.FAILED,
}
# A waybill in one of these is over: a new attempt needs a new waybill.
ENDED_WAYBILL_STATUSES = (
    TrackingStatus.DELIVERED,
    TrackingStatus.FAILED,
    TrackingStatus.CANCELLED,
)


class Waybill(models.Model):
    """One courier order for a delivery fulfilment; a retry after a failure is a new waybill."""

    fulfilment = models.ForeignKey(Fulfilment, on_delete=models.PROTECT, related_name="waybills")
    courier = models.CharField(max_length=32)
    attempt = models.PositiveSmallIntegerField()
    # Ours, sent with the request: the courier answers a repeated create with the same waybill.
    reference = models.CharField(max_length=64, unique=True)
    waybill_number = models.CharField(max_length=32)
    status = models.CharField(
        max_length=24, choices=TrackingStatus.choices, default=TrackingStatus.CREATED
    )
    signer_name = models.CharField(max_length=100, blank=True)
    proof_photo = models.CharField(max_length=300, blank=True, help_text="Courier's photo id/URL")
    failure_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["fulfilment", "attempt"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=TrackingStatus.values), name="waybill_status_valid"
            ),
            models.UniqueConstraint(
                fields=["courier", "waybill_number"], name="waybill_number_unique"
            ),
            models.UniqueConstraint(
                fields=["fulfilment", "attempt"], name="waybill_attempt_unique"
            ),
            models.UniqueConstraint(
                fields=["fulfilment"],
                condition=~Q(status__in=ENDED_WAYBILL_STATUSES),
                name="waybill_one_live_per_fulfilment",
            ),
            models.CheckConstraint(
                condition=~Q(status=TrackingStatus.DELIVERED) | ~Q(signer_name=""),
                name="waybill_delivered_has_signer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.courier} {self.waybill_number} ({self.status})"


class CallbackOutcome(models.TextChoices):
    RECEIVED = "received", "已接收 received"
    APPLIED = "applied", "已应用 applied"
    RECORDED = "recorded", "已记录（未改变状态）recorded, status unchanged"
    DUPLICATE = "duplicate", "重复 duplicate"
    REJECTED = "rejected", "已拒绝 rejected"


class CourierCallback(models.Model):
    """A tracking callback exactly as it arrived, stored before anything else is done with it
    (forged and malformed ones too, with the reason they were refused)."""

    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(
        max_length=16, choices=CallbackOutcome.choices, default=CallbackOutcome.RECEIVED
    )
    reject_code = models.CharField(max_length=64, blank=True)
    event_id = models.CharField(max_length=64, blank=True, help_text="Once verified")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["outcome", "received_at"], name="courier_callback_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=CallbackOutcome.values),
                name="courier_callback_outcome_valid",
            ),
            models.CheckConstraint(
                condition=~Q(outcome=CallbackOutcome.REJECTED) | ~Q(reject_code=""),
                name="courier_callback_rejected_has_code",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id or '(unverified)'} ({self.outcome})"


class TrackingEvent(models.Model):
    """A verified courier report: kept whether or not it moved the waybill (late, out-of-order
    reports are history too). The courier's event id is unique: a redelivery is a duplicate."""

    waybill = models.ForeignKey(Waybill, on_delete=models.PROTECT, related_name="events")
    callback = models.ForeignKey(
        CourierCallback, on_delete=models.PROTECT, related_name="tracking_events"
    )
    courier = models.CharField(max_length=32)
    event_id = models.CharField(max_length=64)
    status = models.CharField(max_length=24, choices=TrackingStatus.choices)
    occurred_at = models.DateTimeField(help_text="When it happened, by the courier's clock")
    location = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=200, blank=True)
    signer_name = models.CharField(max_length=100, blank=True)
    proof_photo = models.CharField(max_length=300, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    applied = models.BooleanField(help_text="Whether it moved the waybill forward")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["courier", "event_id"], name="tracking_event_once"),
            models.CheckConstraint(
                condition=Q(status__in=REPORTED_STATUSES), name="tracking_event_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.waybill_id} {self.status} @ {self.occurred_at:%Y-%m-%d %H:%M}"
