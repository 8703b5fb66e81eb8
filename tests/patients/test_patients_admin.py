"""The back office shows patients read-only and records every read in the audit log."""

import pytest

from core.models import AuditEvent
from tests.factories import make_patient, make_staff, make_user, resident_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(make_user(username="ops-admin", is_staff=True, is_superuser=True))
    return client


def test_changelist_and_change_page_record_reads(admin_client):
    staff = make_staff()
    first = make_patient(staff, id_number=resident_id(sequence=201))
    second = make_patient(staff, id_number=resident_id(sequence=203))

    listing = admin_client.get("/admin/patients/patient/", REMOTE_ADDR="10.9.8.7")
    assert listing.status_code == 200
    assert first.id_number_masked in listing.content.decode()
    list_reads = AuditEvent.objects.filter(action="read", detail={"via": "admin_list"})
    assert sorted(list_reads.values_list("object_id", flat=True)) == sorted(
        [str(first.public_id), str(second.public_id)]
    )
    assert set(list_reads.values_list("ip_address", flat=True)) == {"10.9.8.7"}

    page = admin_client.get(f"/admin/patients/patient/{first.pk}/change/")
    assert page.status_code == 200
    assert (
        AuditEvent.objects.filter(
            action="read", object_id=str(first.public_id), detail={"via": "admin"}
        ).count()
        == 1
    )


def test_admin_cannot_delete_or_edit_patients(admin_client):
    patient = make_patient(make_staff())
    delete = admin_client.post(f"/admin/patients/patient/{patient.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    admin_client.post(f"/admin/patients/patient/{patient.pk}/change/", {"name": "改名"})
    patient.refresh_from_db()
    assert patient.name == "陈志强"
