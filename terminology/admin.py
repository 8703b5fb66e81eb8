"""The code tables in the back office. Codes come from the CSV (`load_icd10`); only whether a
code may still be chosen is edited here, and nothing is deleted (records refer to codes)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from terminology.models import Icd10Code


@admin.register(Icd10Code)
class Icd10CodeAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "chapter", "is_chronic", "is_active"]
    list_filter = ["chapter", "is_chronic", "is_active"]
    search_fields = ["code", "name_zh", "name_en"]
    fields = ["code", "name_zh", "name_en", "chapter", "is_chronic", "is_active"]
    readonly_fields = ["code", "name_zh", "name_en", "chapter", "is_chronic"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
