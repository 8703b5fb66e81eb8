"""Back-office view of the registry. Every page that shows a patient records the read."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from core.actors import actor_for_user, client_ip
from core.models import AuditAction
from core.services import audit_record
from patients.models import IdentityVerification, Patient

AUDIT_OBJECT_TYPE = "patient"


def _actor(request: HttpRequest) -> Any:
    return actor_for_user(request.user, ip_address=client_ip(request))  # type: ignore[arg-type]


class IdentityVerificationInline(admin.TabularInline):
    model = IdentityVerification
    extra = 0
    can_delete = False
    fields = ("verified_at", "method", "verified_by", "facility", "note")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "id_type",
        "id_number_masked",
        "birth_date",
        "sex",
        "identity_verified_at",
    ]
    list_filter = ["id_type", "sex"]
    search_fields = ["name"]
    show_full_result_count = False
    fields = (
        "name",
        "id_type",
        "id_number_masked",
        "birth_date",
        "sex",
        "phone",
        "allergies",
        "chronic_conditions",
        "guardian_name",
        "guardian_relationship",
        "guardian_phone",
        "identity_verified_at",
    )
    # Edits go through the registry's services (API and clinic pages), which validate and audit.
    readonly_fields = fields
    inlines = [IdentityVerificationInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # medical records are never deleted

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            shown: QuerySet[Patient] = changelist.result_list
            audit_record(
                actor=_actor(request),
                action=AuditAction.READ,
                object_type=AUDIT_OBJECT_TYPE,
                object_ids=[patient.public_id for patient in shown],
                detail={"via": "admin_list"},
            )
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        original = getattr(response, "context_data", {}).get("original")
        if original is not None:
            audit_record(
                actor=_actor(request),
                action=AuditAction.READ,
                object_type=AUDIT_OBJECT_TYPE,
                object_ids=[original.public_id],
                detail={"via": "admin"},
            )
        return response
