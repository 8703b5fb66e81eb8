"""Back-office view of the registry. Every page that shows a patient records the read."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from core.actors import actor_for_user, client_ip
from core.models import AuditAction
from core.services import audit_record
from patients.models import (
    ConsentRecord,
    ConsentTemplate,
    IdentityVerification,
    Patient,
    PriorDiagnosisEvidence,
)

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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written only through the services (which validate and audit); never deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditedReadAdmin(ReadOnlyAdmin):
    """Pages showing patient data record one audit row per object shown."""

    audit_object_type = ""

    def audit_id(self, obj: Any) -> Any:
        return obj.pk

    def _record(self, request: HttpRequest, objects: Any, via: str) -> None:
        audit_record(
            actor=_actor(request),
            action=AuditAction.READ,
            object_type=self.audit_object_type,
            object_ids=[self.audit_id(obj) for obj in objects],
            detail={"via": via},
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            self._record(request, changelist.result_list, "admin_list")
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        original = getattr(response, "context_data", {}).get("original")
        if original is not None:
            self._record(request, [original], "admin")
        return response


@admin.register(ConsentTemplate)
class ConsentTemplateAdmin(ReadOnlyAdmin):
    # A published text is never edited: a new version comes with a data migration.
    list_display = ["version", "language", "title", "is_active", "published_at"]
    list_filter = ["language", "is_active"]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(AuditedReadAdmin):
    audit_object_type = "consent"
    list_display = ["patient", "template", "signer", "method", "facility", "signed_at"]
    list_filter = ["signer", "method"]
    list_select_related = ["patient", "template", "facility"]
    show_full_result_count = False


@admin.register(PriorDiagnosisEvidence)
class PriorDiagnosisEvidenceAdmin(AuditedReadAdmin):
    audit_object_type = "evidence"
    list_display = ["patient", "diagnosis", "issuing_institution", "diagnosis_date", "verified_at"]
    list_select_related = ["patient", "diagnosis"]
    exclude = ["document"]  # the file is served by the audited API, not by a media URL
    show_full_result_count = False

    def audit_id(self, obj: Any) -> Any:
        return obj.public_id
