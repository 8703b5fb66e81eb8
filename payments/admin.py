"""Back office for payments. Orders, the ledger, refunds, callbacks and reports are read-only:
money moves only through the services (and the API), which lock, check and record. Insurance
vouchers are recorded through their service."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from core.actors import actor_for_user
from payments.models import (
    InboundCallback,
    InsuranceSettlement,
    InsuranceVoucher,
    OrderEvent,
    OrderLine,
    PaymentAttempt,
    PaymentEvent,
    PaymentOrder,
    ReconciliationDiscrepancy,
    ReconciliationReport,
    Refund,
)
from payments.services.insurance import insurance_voucher_register


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("kind", "description", "quantity", "unit_price_fen", "amount_fen")
    readonly_fields = fields


class AttemptInline(ReadOnlyInline):
    model = PaymentAttempt
    fields = ("out_trade_no", "provider", "channel", "status", "amount_fen", "transaction_id")
    readonly_fields = fields


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ("out_refund_no", "amount_fen", "status", "trigger", "reason", "settled_at")
    readonly_fields = fields


class LedgerInline(ReadOnlyInline):
    model = PaymentEvent
    fields = ("recorded_at", "kind", "amount_fen", "provider", "out_trade_no", "source")
    readonly_fields = fields


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ("occurred_at", "from_status", "to_status", "actor_role", "reason")
    readonly_fields = fields


@admin.register(PaymentOrder)
class PaymentOrderAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "status",
        "payable_fen",
        "paid_fen",
        "refunded_fen",
        "needs_attention",
        "created_at",
    ]
    list_filter = ["status", "needs_attention", "fulfilment_method"]
    search_fields = ["number", "attempts__out_trade_no"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [OrderLineInline, AttemptInline, RefundInline, LedgerInline, OrderEventInline]


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnlyAdmin):
    list_display = ["recorded_at", "kind", "amount_fen", "provider", "out_trade_no", "source"]
    list_filter = ["kind", "provider", "source"]
    search_fields = ["out_trade_no", "transaction_id", "out_refund_no"]
    show_full_result_count = False


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["out_refund_no", "amount_fen", "status", "trigger", "created_at"]
    list_filter = ["status", "trigger"]
    search_fields = ["out_refund_no"]


@admin.register(InboundCallback)
class InboundCallbackAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "provider", "kind", "outcome", "reject_code", "deliveries"]
    list_filter = ["provider", "outcome", "reject_code"]
    search_fields = ["event_id", "out_trade_no", "out_refund_no"]
    exclude = ["body"]
    show_full_result_count = False


class ReconciliationDiscrepancyInline(ReadOnlyInline):
    model = ReconciliationDiscrepancy
    fields = (
        "kind",
        "line_kind",
        "out_trade_no",
        "out_refund_no",
        "provider_amount_fen",
        "ledger_amount_fen",
    )
    readonly_fields = fields


@admin.register(ReconciliationReport)
class ReconciliationReportAdmin(ReadOnlyAdmin):
    list_display = [
        "bill_date",
        "provider",
        "status",
        "matched",
        "missing_locally",
        "missing_at_provider",
        "amount_mismatch",
    ]
    list_filter = ["provider", "status"]
    inlines = [ReconciliationDiscrepancyInline]


@admin.register(InsuranceSettlement)
class InsuranceSettlementAdmin(ReadOnlyAdmin):
    list_display = ["order", "fund_fen", "personal_account_fen", "status", "created_at"]
    list_filter = ["status"]


class InsuranceVoucherForm(forms.ModelForm):
    member_id = forms.CharField(
        max_length=64, help_text="参保人编号; stored encrypted, shown masked"
    )

    class Meta:
        model = InsuranceVoucher
        fields = ["patient", "insurer", "personal_account_balance_fen"]


@admin.register(InsuranceVoucher)
class InsuranceVoucherAdmin(admin.ModelAdmin):
    form = InsuranceVoucherForm
    list_display = ["patient", "insurer", "member_id_masked", "personal_account_balance_fen"]
    raw_id_fields = ["patient"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        saved = insurance_voucher_register(
            actor=actor_for_user(request.user),  # type: ignore[arg-type]
            patient=form.cleaned_data["patient"],
            insurer=form.cleaned_data["insurer"],
            member_id=form.cleaned_data["member_id"],
            personal_account_balance_fen=form.cleaned_data["personal_account_balance_fen"],
        )
        obj.pk = saved.pk
