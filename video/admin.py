"""Back office view of video rooms and what happened in them (read-only). Chat text is patient
data and stays out of the admin; it is read through the consultation."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from video.models import CallEvent, CallSession


class CallEventInline(admin.TabularInline):
    model = CallEvent
    extra = 0
    can_delete = False
    fields = ("occurred_at", "kind", "side", "role", "user", "terminal", "duration_seconds")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CallSession)
class CallSessionAdmin(admin.ModelAdmin):
    list_display = ["consultation", "opened_at", "closed_at"]
    list_select_related = ["consultation"]
    date_hierarchy = "opened_at"
    show_full_result_count = False
    readonly_fields = ["consultation", "opened_at", "closed_at"]
    inlines = [CallEventInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
