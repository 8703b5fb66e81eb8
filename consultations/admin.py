"""Back office for schedules and consultations. Consultations are read-only here: they change
only through their lifecycle services, which check the rules and record events."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from consultations.models import (
    Consultation,
    ConsultationEvent,
    ScheduleException,
    Slot,
    WeeklyAvailability,
)


@admin.register(WeeklyAvailability)
class WeeklyAvailabilityAdmin(admin.ModelAdmin):
    list_display = ["doctor", "weekday", "starts_at", "ends_at"]
    list_filter = ["weekday"]
    list_select_related = ["doctor__user"]
    raw_id_fields = ["doctor"]


@admin.register(ScheduleException)
class ScheduleExceptionAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "doctor", "starts_at", "ends_at", "reason"]
    list_filter = ["kind"]
    list_select_related = ["doctor__user"]
    raw_id_fields = ["doctor"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Slot)
class SlotAdmin(ReadOnlyAdmin):
    list_display = ["starts_at", "doctor", "department", "is_withdrawn"]
    list_filter = ["department", "is_withdrawn"]
    list_select_related = ["doctor__user", "department"]
    date_hierarchy = "starts_at"
    show_full_result_count = False


class ConsultationEventInline(admin.TabularInline):
    model = ConsultationEvent
    extra = 0
    can_delete = False
    fields = ("occurred_at", "from_status", "to_status", "actor", "actor_role", "reason")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Consultation)
class ConsultationAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "status", "kind", "scheduled_start", "department", "facility"]
    list_filter = ["status", "kind", "department"]
    list_select_related = ["department", "facility"]
    date_hierarchy = "scheduled_start"
    show_full_result_count = False
    inlines = [ConsultationEventInline]
    # Patient names stay out of the list; the detail shows the masked document only.
    exclude = ["patient"]
