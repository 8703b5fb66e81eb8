"""Back office for stock and fulfilments: read-only. Stock changes go through the adjust API
(a StockMovement with its reason each time) and fulfilments through their services."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from consultations.admin import ReadOnlyAdmin
from pharmacy.models import (
    CourierCallback,
    Dispense,
    DispenseItem,
    FacilityStock,
    Fulfilment,
    FulfilmentEvent,
    StockMovement,
    TrackingEvent,
    Waybill,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FacilityStock)
class FacilityStockAdmin(ReadOnlyAdmin):
    list_display = ["facility", "drug", "quantity", "updated_at"]
    list_select_related = ["facility", "drug"]
    search_fields = ["facility__code", "drug__code", "drug__name_zh"]
    show_full_result_count = False


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "facility", "drug", "change", "quantity_after", "reason"]
    list_filter = ["reason"]
    list_select_related = ["facility", "drug"]
    search_fields = ["facility__code", "drug__code"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


class FulfilmentEventInline(ReadOnlyInline):
    model = FulfilmentEvent
    fields = ("occurred_at", "from_status", "to_status", "actor", "actor_role", "reason")
    readonly_fields = fields


class WaybillInline(ReadOnlyInline):
    model = Waybill
    fields = ("attempt", "courier", "waybill_number", "status", "signer_name", "failure_reason")
    readonly_fields = fields


@admin.register(Fulfilment)
class FulfilmentAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "method", "status", "facility", "paid_at"]
    list_filter = ["method", "status"]
    list_select_related = ["facility"]
    date_hierarchy = "paid_at"
    show_full_result_count = False
    inlines = [FulfilmentEventInline, WaybillInline]
    # Nobody reads a pickup code or an address off the back office.
    exclude = [
        "patient",
        "pickup_code",
        "recipient_name",
        "recipient_phone",
        "address_detail",
    ]


class DispenseItemInline(ReadOnlyInline):
    model = DispenseItem
    fields = ("drug", "quantity")
    readonly_fields = fields


@admin.register(Dispense)
class DispenseAdmin(ReadOnlyAdmin):
    list_display = ["dispensed_at", "facility", "actor_role", "dispensed_by"]
    list_select_related = ["facility", "dispensed_by"]
    date_hierarchy = "dispensed_at"
    inlines = [DispenseItemInline]
    exclude = ["prescription"]


@admin.register(CourierCallback)
class CourierCallbackAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event_id", "outcome", "reject_code", "remote_addr"]
    list_filter = ["outcome", "reject_code"]
    date_hierarchy = "received_at"


@admin.register(TrackingEvent)
class TrackingEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "waybill", "status", "applied", "location"]
    list_filter = ["status", "applied"]
    list_select_related = ["waybill"]
