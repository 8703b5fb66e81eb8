"""Back office for the platform CA and signing credentials: read-only lists (no private key
material is ever shown) and a revoke action that goes through `credential_revoke`."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.actors import actor_for_user, client_ip
from core.exceptions import DomainError
from signing.models import CertificateAuthority, SigningCredential
from signing.services import credential_revoke


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(ReadOnlyAdmin):
    list_display = ["subject", "algorithm", "serial", "is_active", "not_before", "not_after"]
    list_filter = ["algorithm", "is_active"]
    exclude = ["private_key_sealed"]


@admin.register(SigningCredential)
class SigningCredentialAdmin(ReadOnlyAdmin):
    list_display = [
        "user",
        "role",
        "algorithm",
        "certificate_serial",
        "status",
        "not_after",
        "locked_until",
        "last_signed_at",
        "revoked_at",
    ]
    list_filter = ["status", "role", "algorithm"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__full_name", "certificate_serial"]
    exclude = ["private_key_sealed"]
    actions = ["revoke"]

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        # Revoking is the one change allowed here: it needs the model's change permission.
        return request.user.has_perm("signing.change_signingcredential")

    @admin.action(description="Revoke selected credentials", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[SigningCredential]) -> None:
        actor = actor_for_user(request.user, ip_address=client_ip(request))  # type: ignore[arg-type]
        revoked = 0
        for credential in queryset:
            try:
                credential_revoke(
                    credential=credential, actor=actor, reason="revoked by operations"
                )
            except DomainError:
                continue  # already revoked
            revoked += 1
        self.message_user(request, f"Revoked {revoked} credential(s).", messages.SUCCESS)
