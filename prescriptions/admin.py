from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from prescriptions.models import Drug, DrugInteraction, Prescription, PrescriptionItem


@admin.register(Drug)
class DrugAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name_zh",
        "name_en",
        "atc_code",
        "strength",
        "price_fen",
        "control_class",
        "online_prescribable",
        "cold_chain",
        "long_term_eligible",
        "is_active",
    ]
    list_filter = ["control_class", "online_prescribable", "cold_chain", "long_term_eligible"]
    search_fields = ["code", "name_zh", "name_en", "atc_code"]


@admin.register(DrugInteraction)
class DrugInteractionAdmin(admin.ModelAdmin):
    list_display = ["atc_a", "atc_b", "severity", "description_en"]
    search_fields = ["atc_a", "atc_b"]


class ItemInline(admin.TabularInline):
    model = PrescriptionItem
    extra = 0
    can_delete = False
    readonly_fields = [
        "position",
        "drug",
        "dose",
        "dose_unit",
        "frequency",
        "route",
        "days_supply",
        "quantity",
        "instructions",
        "unit_price_fen",
    ]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Prescription)
class PrescriptionAdmin(admin.ModelAdmin):
    """Read-only: prescriptions change only through their services (signatures, events)."""

    list_display = ["number", "version", "status", "doctor", "signed_at", "valid_until"]
    list_filter = ["status"]
    search_fields = ["number"]
    inlines = [ItemInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Prescription._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
