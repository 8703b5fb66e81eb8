"""The patient registry API: registration, encryption at rest, lookups, access, audit."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from core.crypto import decrypt_text
from core.models import AuditEvent
from patients.models import Patient, PatientFacility
from tests.factories import (
    api_client,
    make_doctor,
    make_facility,
    make_patient,
    make_staff,
    resident_id,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/patients/"


def detail(patient):
    return f"/api/v1/patients/{patient.public_id}/"


@pytest.fixture
def staff():
    return make_staff(facility=make_facility(code="FAC-X"))


@pytest.fixture
def other_staff():
    return make_staff(facility=make_facility(code="FAC-Y"))


def register_payload(**overrides):
    payload = {
        "name": "李秀英",
        "id_type": "resident_id",
        "id_number": resident_id(region="440106", birth="19580312", sequence=24),
        "phone": "139 2233 4455",
        "allergies": ["青霉素 penicillin"],
        "chronic_conditions": ["高血压 hypertension"],
    }
    payload.update(overrides)
    return payload


def test_staff_register_a_patient_with_derived_birth_date_and_sex(staff):
    payload = register_payload()
    response = api_client(staff).post(LIST, payload, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["birth_date"] == "1958-03-12"
    assert body["sex"] == "female"
    assert body["phone"] == "+8613922334455"
    assert (
        body["id_number_masked"] == payload["id_number"][:4] + "*" * 10 + payload["id_number"][-4:]
    )
    assert "id_number" not in body
    patient = Patient.objects.get(public_id=body["id"])
    assert list(
        PatientFacility.objects.filter(patient=patient).values_list("facility_id", flat=True)
    ) == [staff.staff_membership.facility_id]
    audit = AuditEvent.objects.get(object_id=str(patient.public_id))
    assert (audit.action, audit.actor_id, audit.actor_role, audit.facility_id) == (
        "create",
        staff.pk,
        "clinic_staff",
        staff.staff_membership.facility_id,
    )


def test_id_number_is_encrypted_at_rest(staff):
    number = resident_id(region="440106", birth="19700101", sequence=11)
    patient = make_patient(staff, id_number=number)

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM patients_patient WHERE id = %s", [patient.pk])
        raw_row = " ".join(str(value) for value in cursor.fetchone())
    assert number not in raw_row
    assert number[6:14] not in raw_row  # not even the birth-date part in clear
    assert decrypt_text(patient.id_number_encrypted) == number


def test_wrong_check_digit_is_a_400_with_a_stable_code(staff):
    payload = register_payload(id_number="110105194912310021")
    response = api_client(staff).post(LIST, payload, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "id_number_checksum"
    assert "id_number" in response.json()["fields"]
    assert Patient.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_birth_date_contradicting_the_id_number_is_refused(staff):
    response = api_client(staff).post(
        LIST, register_payload(birth_date="1960-01-01"), format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "birth_date_mismatch"


def test_passport_holder_needs_birth_date_and_sex(staff):
    client = api_client(staff)
    missing = client.post(
        LIST, register_payload(id_type="passport", id_number="E12345678"), format="json"
    )
    assert missing.status_code == 400
    assert missing.json()["code"] == "birth_date_required"

    given = client.post(
        LIST,
        register_payload(
            id_type="passport", id_number="E12345678", birth_date="1985-06-01", sex="male"
        ),
        format="json",
    )
    assert given.status_code == 201
    assert (given.json()["birth_date"], given.json()["sex"]) == ("1985-06-01", "male")


def test_second_registration_of_the_same_document_is_a_conflict(staff, other_staff):
    payload = register_payload()
    assert api_client(staff).post(LIST, payload, format="json").status_code == 201

    again = api_client(other_staff).post(LIST, payload, format="json")

    assert again.status_code == 409
    assert again.json()["code"] == "patient_exists"
    assert Patient.objects.count() == 1


def test_child_under_six_keeps_a_guardian(staff):
    payload = register_payload(
        id_number=resident_id(region="440106", birth="20230501", sequence=31),
        guardian_name="王建国",
        guardian_relationship="父亲",
        guardian_phone="13712345678",
    )
    body = api_client(staff).post(LIST, payload, format="json").json()
    assert body["guardian_required"] is True
    assert body["guardian"] == {"name": "王建国", "relationship": "父亲", "phone": "+8613712345678"}


def test_read_via_the_api_is_audited(staff):
    patient = make_patient(staff)

    response = api_client(staff).get(detail(patient), REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    assert response.json()["id"] == str(patient.public_id)
    read = AuditEvent.objects.get(action="read", object_id=str(patient.public_id))
    assert (read.actor_id, read.object_type, read.ip_address, read.facility_id) == (
        staff.pk,
        "patient",
        "10.1.2.3",
        staff.staff_membership.facility_id,
    )


def test_write_via_the_api_is_audited_with_changed_fields(staff):
    patient = make_patient(staff)

    response = api_client(staff).patch(
        detail(patient), {"phone": "13600001111", "allergies": ["磺胺 sulfonamides"]}, format="json"
    )

    assert response.status_code == 200
    patient.refresh_from_db()
    assert (patient.phone, patient.allergies) == ("+8613600001111", ["磺胺 sulfonamides"])
    update = AuditEvent.objects.get(action="update", object_id=str(patient.public_id))
    assert update.actor_id == staff.pk
    assert update.detail == {"fields": ["allergies", "phone"]}


def test_identity_document_cannot_be_edited(staff):
    patient = make_patient(staff)
    response = api_client(staff).patch(
        detail(patient), {"id_number": "11010519491231002X"}, format="json"
    )
    # Unknown fields are ignored by the input serializer: nothing changes.
    assert response.status_code == 200
    assert Patient.objects.get(pk=patient.pk).id_number_hash == patient.id_number_hash


def test_list_read_is_audited_one_row_per_patient(staff):
    first = make_patient(staff, id_number=resident_id(sequence=101))
    second = make_patient(staff, id_number=resident_id(sequence=103))

    response = api_client(staff).get(LIST)

    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {
        str(first.public_id),
        str(second.public_id),
    }
    reads = AuditEvent.objects.filter(action="read").values_list("object_id", flat=True)
    assert sorted(reads) == sorted([str(first.public_id), str(second.public_id)])


def test_staff_of_another_facility_get_404(staff, other_staff):
    patient = make_patient(staff)
    client = api_client(other_staff)

    assert client.get(detail(patient)).status_code == 404
    assert client.get(detail(patient)).json()["code"] == "not_found"
    assert client.patch(detail(patient), {"name": "改名"}, format="json").status_code == 404
    assert client.get(LIST).json()["count"] == 0
    assert client.get(LIST, {"phone": "13800138000"}).json()["count"] == 0
    assert Patient.objects.get(pk=patient.pk).name == "陈志强"
    assert not AuditEvent.objects.filter(actor=other_staff).exists()


def test_doctor_and_anonymous_cannot_read_the_registry(staff):
    patient = make_patient(staff)
    assert api_client(make_doctor()).get(detail(patient)).status_code == 404
    anonymous = api_client().get(detail(patient))
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"


def test_lookup_by_phone_within_the_facility(staff):
    patient = make_patient(staff, phone="13500001234")
    response = api_client(staff).get(LIST, {"phone": "135-0000-1234"})
    assert [row["id"] for row in response.json()["results"]] == [str(patient.public_id)]

    bad = api_client(staff).get(LIST, {"phone": "12"})
    assert (bad.status_code, bad.json()["code"]) == (400, "phone_invalid")


def test_exact_lookup_by_document_crosses_facilities_and_is_audited(staff, other_staff):
    number = resident_id(region="440106", birth="19660909", sequence=77)
    patient = make_patient(staff, id_number=number)
    client = api_client(other_staff)

    response = client.post(
        f"{LIST}lookup/", {"id_type": "resident_id", "id_number": number.lower()}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["id"] == str(patient.public_id)
    read = AuditEvent.objects.get(actor=other_staff, action="read")
    assert read.detail == {"via": "document_lookup"}
    # The patient stands at this counter now: they are served here from now on.
    assert client.get(detail(patient)).status_code == 200


def test_lookup_of_unknown_document_is_404_and_links_nothing(staff):
    response = api_client(staff).post(
        f"{LIST}lookup/",
        {"id_type": "resident_id", "id_number": resident_id(sequence=555)},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (404, "patient_not_found")
    assert PatientFacility.objects.count() == 0


def test_identity_verification_is_recorded(staff):
    patient = make_patient(staff)
    response = api_client(staff).post(
        f"{detail(patient)}verify-identity/", {"method": "id_card_reader"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["verified_by"] == str(staff.public_id)
    patient.refresh_from_db()
    verification = patient.verifications.get()
    assert (verification.method, verification.verified_by_id, patient.identity_verified_at) == (
        "id_card_reader",
        staff.pk,
        verification.verified_at,
    )


def test_key_rotation_keeps_lookups_working(staff, settings):
    number = resident_id(region="440106", birth="19751120", sequence=45)
    patient = make_patient(staff, id_number=number)
    old_data_key, old_lookup_key = settings.PATIENT_DATA_KEYS[0], settings.PATIENT_LOOKUP_KEYS[0]
    new_data_key, new_lookup_key = Fernet.generate_key().decode(), "rotated-lookup-key-for-tests"
    lookup = {"id_type": "resident_id", "id_number": number}
    client = api_client(staff)

    # 1. New keys first, old keys still listed: existing rows are found before rotation.
    settings.PATIENT_DATA_KEYS = [new_data_key, old_data_key]
    settings.PATIENT_LOOKUP_KEYS = [new_lookup_key, old_lookup_key]
    assert client.post(f"{LIST}lookup/", lookup, format="json").json()["id"] == str(
        patient.public_id
    )

    # 2. Rotate: rows move to the new keys.
    call_command("rotate_patient_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    rotated = Patient.objects.get(pk=patient.pk)
    assert rotated.id_number_hash != patient.id_number_hash
    assert rotated.id_number_encrypted != patient.id_number_encrypted
    assert (
        Fernet(new_data_key.encode()).decrypt(rotated.id_number_encrypted.encode()).decode()
        == number
    )

    # 3. Old keys removed: lookups and decryption still work.
    settings.PATIENT_DATA_KEYS = [new_data_key]
    settings.PATIENT_LOOKUP_KEYS = [new_lookup_key]
    assert client.post(f"{LIST}lookup/", lookup, format="json").json()["id"] == str(
        patient.public_id
    )
    assert decrypt_text(rotated.id_number_encrypted) == number
    # And the same document still cannot be registered twice.
    duplicate = client.post(
        LIST,
        {"name": "陈志强", "id_type": "resident_id", "id_number": number, "phone": "13800138000"},
        format="json",
    )
    assert duplicate.json()["code"] == "patient_exists"
