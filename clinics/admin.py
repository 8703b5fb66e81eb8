from django.contrib import admin

from clinics.models import Department, Facility, Hospital, StaffMembership, Terminal


@admin.register(Hospital)
class HospitalAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "consultation_fee_fen", "is_active"]
    list_filter = ["is_active"]


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "facility_type", "city", "district", "is_active"]
    list_filter = ["facility_type", "city", "is_active", "is_licensed_medical_institution"]
    search_fields = ["code", "name", "operator"]
    show_full_result_count = False  # the full network has ~9,000 rows


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    """Credentials are issued and revoked through the API (they are shown once)."""

    list_display = ["serial", "facility", "status", "last_heartbeat_at", "credential_revoked_at"]
    list_filter = ["status"]
    search_fields = ["serial", "facility__code"]
    list_select_related = ["facility"]
    raw_id_fields = ["facility"]
    readonly_fields = ["last_heartbeat_at", "credential_issued_at", "credential_revoked_at"]


@admin.register(StaffMembership)
class StaffMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "facility", "position", "is_active"]
    list_select_related = ["user", "facility"]
    raw_id_fields = ["user", "facility"]
    search_fields = ["user__username", "facility__code"]
