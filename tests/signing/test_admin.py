"""The credentials back office: lists without private key material, revocation by action."""

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from accounts.models import User
from core.models import AuditEvent
from signing.models import CertificateAuthority, SigningCredential
from signing.services import credential_issue
from tests.factories import make_user
from tests.signing.conftest import PIN

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("platform_ca")]
CREDENTIALS = "/admin/signing/signingcredential/"


@pytest.fixture
def operations(client: Any) -> User:
    user = make_user(username="ops-admin", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def test_lists_show_certificates_but_no_private_key(client: Any, operations: User, doctor: User):
    credential = credential_issue(user=doctor, pin=PIN)
    authority = CertificateAuthority.objects.get(algorithm="sm2-sm3")

    pages = [
        client.get(CREDENTIALS),
        client.get(f"{CREDENTIALS}{credential.pk}/change/"),
        client.get("/admin/signing/certificateauthority/"),
        client.get(f"/admin/signing/certificateauthority/{authority.pk}/change/"),
    ]

    assert [page.status_code for page in pages] == [200, 200, 200, 200]
    sealed = [credential.private_key_sealed, authority.private_key_sealed]
    for page in pages:
        text = page.content.decode()
        assert not any(value.split("$")[-1] in text for value in sealed)
        assert "scrypt-aes256gcm" not in text
        assert "hkdf-aes256gcm" not in text
    assert credential.certificate_serial in pages[0].content.decode()
    assert "Revoke selected credentials" in pages[0].content.decode()


def test_the_revoke_action_revokes_through_the_service(
    client: Any, operations: User, doctor: User, pharmacist: User
):
    revoked = credential_issue(user=doctor, pin=PIN)
    kept = credential_issue(user=pharmacist, pin=PIN)

    response = client.post(
        CREDENTIALS,
        {"action": "revoke", "_selected_action": [revoked.pk]},
        REMOTE_ADDR="10.1.2.3",
    )

    assert response.status_code == 302
    revoked.refresh_from_db()
    kept.refresh_from_db()
    assert (revoked.status, revoked.revocation_reason) == ("revoked", "revoked by operations")
    assert kept.status == "active"
    event = AuditEvent.objects.get(detail__event="revoked")
    assert (event.actor, event.ip_address, event.object_id) == (
        operations,
        "10.1.2.3",
        str(revoked.public_id),
    )


def test_staff_without_the_change_permission_cannot_revoke(client: Any, doctor: User):
    viewer = make_user(username="auditor", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_signingcredential"))
    client.force_login(viewer)
    credential = credential_issue(user=doctor, pin=PIN)

    listing = client.get(CREDENTIALS)
    response = client.post(CREDENTIALS, {"action": "revoke", "_selected_action": [credential.pk]})

    assert listing.status_code == 200
    assert "Revoke selected credentials" not in listing.content.decode()
    assert response.status_code == 200  # "no action selected": the action is not offered
    assert SigningCredential.objects.get().status == "active"
    assert not AuditEvent.objects.filter(detail__event="revoked").exists()
