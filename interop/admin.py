"""Back office: FHIR system clients (issued and rotated by `manage.py fhir_client`, secrets are
shown once) and the regulator feed's batches and reports (read-only: the feed writes them)."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.actors import actor_for_user
from interop.fhir.clients import system_client_revoke
from interop.models import RegulatorBatch, RegulatorReport, SystemClient


@admin.register(SystemClient)
class SystemClientAdmin(admin.ModelAdmin):
    list_display = ["client_id", "name", "is_active", "sees_full_identifiers", "last_token_at"]
    list_filter = ["is_active", "sees_full_identifiers"]
    search_fields = ["client_id", "name"]
    readonly_fields = ["client_id", "scopes", "created_at", "revoked_at", "last_token_at"]
    fields = ["client_id", "name", "scopes", "sees_full_identifiers", *readonly_fields[2:]]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # issued by the command, which shows the secret once

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected clients (their tokens stop at once)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[SystemClient]) -> None:
        actor = actor_for_user(request.user)  # type: ignore[arg-type]
        for client in queryset:
            system_client_revoke(actor=actor, client_id=client.client_id)
        messages.info(request, f"Revoked {queryset.count()} clients.")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RegulatorBatch)
class RegulatorBatchAdmin(ReadOnlyAdmin):
    list_display = [
        "batch_no",
        "report_date",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "acknowledged_at",
    ]
    list_filter = ["status"]
    search_fields = ["batch_no"]


@admin.register(RegulatorReport)
class RegulatorReportAdmin(ReadOnlyAdmin):
    """Reports without their payload (it carries identity numbers; the digest identifies it)."""

    list_display = [
        "kind",
        "source_reference",
        "occurred_at",
        "status",
        "batch",
        "ack_status",
        "reject_code",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["source_reference", "public_id"]
    list_select_related = ["batch"]
    exclude = ["payload_encrypted"]
