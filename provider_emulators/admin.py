"""Read-only views of the emulated providers' books, for demos and debugging."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from provider_emulators.models import (
    EmulatedCallback,
    EmulatedCallbackAttempt,
    EmulatedRefund,
    EmulatedTrade,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """The providers' records change only through their APIs and payer pages."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RefundInline(admin.TabularInline):
    model = EmulatedRefund
    extra = 0
    can_delete = False
    fields = ("out_refund_no", "refund_id", "amount_fen", "state", "created_at", "succeeded_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(EmulatedTrade)
class EmulatedTradeAdmin(ReadOnlyAdmin):
    list_display = (
        "out_trade_no",
        "provider",
        "channel",
        "amount_fen",
        "refunded_fen",
        "state",
        "created_at",
        "paid_at",
    )
    list_filter = ("provider", "state", "channel")
    search_fields = ("out_trade_no", "transaction_id")
    inlines = [RefundInline]


class AttemptInline(admin.TabularInline):
    model = EmulatedCallbackAttempt
    extra = 0
    can_delete = False
    fields = (
        "number",
        "probe",
        "scheduled_for",
        "sent_at",
        "http_status",
        "accepted",
        "response_excerpt",
        "error",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(EmulatedCallback)
class EmulatedCallbackAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "provider", "trade", "status", "attempts", "next_attempt_at")
    list_filter = ("provider", "status")
    search_fields = ("event_id", "trade__out_trade_no")
    exclude = ("payload",)
    inlines = [AttemptInline]
