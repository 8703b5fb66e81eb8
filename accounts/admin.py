from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import DoctorProfile, PharmacistProfile, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "full_name", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["username", "full_name"]
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Telehealth", {"fields": ("role", "full_name", "phone", "preferred_language")}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Telehealth", {"fields": ("role", "full_name")}),
    )


@admin.register(DoctorProfile)
class DoctorProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "department", "title", "licence_number", "independent_practice_since"]
    list_filter = ["department", "title"]
    search_fields = ["user__full_name", "licence_number"]
    list_select_related = ["user", "department"]
    raw_id_fields = ["user"]


@admin.register(PharmacistProfile)
class PharmacistProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "title", "licence_number"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
