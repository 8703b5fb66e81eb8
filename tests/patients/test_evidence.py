"""Prior-diagnosis evidence: upload checks, storage, verification, download, and who may do what."""

import datetime
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from core.actors import actor_for_user
from core.exceptions import PermissionDeniedError
from core.models import AuditEvent
from patients import evidence as evidence_module
from patients.evidence import (
    evidence_upload,
    evidence_verify,
    patient_has_verified_evidence,
    patient_verified_diagnosis_codes,
)
from patients.models import Patient, PriorDiagnosisEvidence
from tests.factories import (
    PDF_BYTES,
    api_client,
    make_consent,
    make_consultation,
    make_doctor,
    make_evidence,
    make_patient,
    make_user,
    resident_id,
    terminal_client,
)
from tests.patients.cast import Cast, make_cast

pytestmark = pytest.mark.django_db

JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 17 + b"IEND\xaeB`\x82"
STORED_NAME = re.compile(r"^evidence/\d{4}/\d{2}/[0-9a-f]{32}\.(pdf|jpg|png)$")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media_root) -> list[str]:
    return sorted(
        str(path.relative_to(media_root)) for path in media_root.rglob("*") if path.is_file()
    )


def evidence_url(patient: Patient, evidence: PriorDiagnosisEvidence | None = None) -> str:
    base = f"/api/v1/patients/{patient.public_id}/evidence/"
    return base if evidence is None else f"{base}{evidence.public_id}/"


@pytest.fixture
def cast() -> Cast:
    return make_cast(name="陈志强", birth="19620815")


def upload(name="陈志强_诊断证明.pdf", content=PDF_BYTES, content_type="application/pdf", **fields):
    values = {
        "document": SimpleUploadedFile(name, content, content_type=content_type),
        "issuing_institution": "中山大学附属第一医院",
        "diagnosis_code": "E11.9",
        "diagnosis_date": "2023-06-20",
    }
    return values | fields


# --- upload ------------------------------------------------------------------------------------


def test_staff_upload_a_pdf_stored_under_a_random_name(cast, media_root):
    response = api_client(cast.staff).post(evidence_url(cast.patient), upload(), format="multipart")

    assert response.status_code == 201, response.json()
    body = response.json()
    evidence = PriorDiagnosisEvidence.objects.get()
    assert body["id"] == str(evidence.public_id)
    assert body["diagnosis"] == {
        "code": "E11.9",
        "name_zh": "2型糖尿病不伴有并发症",
        "name_en": "Type 2 diabetes mellitus without complications",
    }
    assert (body["diagnosis_date"], body["issuing_institution"]) == (
        "2023-06-20",
        "中山大学附属第一医院",
    )
    assert (body["content_type"], body["size_bytes"], body["document_name"]) == (
        "application/pdf",
        len(PDF_BYTES),
        "陈志强_诊断证明.pdf",
    )
    assert (body["verified"], body["verified_by"], body["verified_at"]) == (False, None, None)
    assert body["uploaded_by"] == str(cast.staff.public_id)
    assert body["document_url"] == f"{evidence_url(cast.patient, evidence)}document/"
    assert "document" not in body

    stored = str(evidence.document.name)
    assert STORED_NAME.match(stored)
    assert "陈志强" not in stored
    assert "诊断" not in stored
    assert stored_files(media_root) == [stored]
    assert (media_root / stored).read_bytes() == PDF_BYTES
    create = AuditEvent.objects.get(action="create", object_type="evidence")
    assert (create.object_id, create.actor_id, create.detail) == (
        str(evidence.public_id),
        cast.staff.pk,
        {"patient": str(cast.patient.public_id)},
    )
    assert not patient_has_verified_evidence(patient=cast.patient)


@pytest.mark.parametrize(
    ("content", "declared", "stored_type", "extension"),
    [
        (JPEG_BYTES, "image/jpeg", "image/jpeg", "jpg"),
        (PNG_BYTES, "application/octet-stream", "image/png", "png"),
        (PDF_BYTES, "image/png", "application/pdf", "pdf"),
    ],
)
def test_the_type_comes_from_the_content_not_the_header(
    cast, content, declared, stored_type, extension
):
    response = api_client(cast.staff).post(
        evidence_url(cast.patient),
        upload(name="scan", content=content, content_type=declared),
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["content_type"] == stored_type
    assert str(PriorDiagnosisEvidence.objects.get().document.name).endswith(f".{extension}")


@pytest.mark.parametrize(
    ("name", "content", "declared", "code"),
    [
        ("report.pdf", b"<html><script>alert(1)</script></html>", "application/pdf", "type"),
        ("scan.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif", "type"),
        ("report.pdf", b"MZ\x90\x00\x03\x00\x00\x00", "application/pdf", "type"),
        ("report.pdf", b"", "application/pdf", "empty"),
    ],
)
def test_files_that_are_not_pdf_jpeg_or_png_are_refused(
    cast, media_root, name, content, declared, code
):
    response = api_client(cast.staff).post(
        evidence_url(cast.patient),
        upload(name=name, content=content, content_type=declared),
        format="multipart",
    )
    assert response.status_code == 400
    expected = "evidence_type_not_allowed" if code == "type" else "evidence_empty"
    assert response.json()["code"] == expected
    assert "document" in response.json()["fields"]
    assert not PriorDiagnosisEvidence.objects.exists()
    assert stored_files(media_root) == []


def test_a_file_over_the_limit_is_refused(cast, settings, media_root):
    settings.EVIDENCE_MAX_BYTES = len(PDF_BYTES) - 1
    response = api_client(cast.staff).post(evidence_url(cast.patient), upload(), format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "evidence_too_large"
    assert stored_files(media_root) == []

    settings.EVIDENCE_MAX_BYTES = len(PDF_BYTES)
    again = api_client(cast.staff).post(evidence_url(cast.patient), upload(), format="multipart")
    assert again.status_code == 201


def test_a_type_removed_from_the_settings_is_refused(cast, settings):
    settings.EVIDENCE_CONTENT_TYPES = ["application/pdf"]
    response = api_client(cast.staff).post(
        evidence_url(cast.patient),
        upload(content=PNG_BYTES, content_type="image/png"),
        format="multipart",
    )
    assert response.json()["code"] == "evidence_type_not_allowed"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"diagnosis_code": "E11.99"}, "diagnosis_code_unknown"),
        ({"diagnosis_code": "糖尿病"}, "diagnosis_code_unknown"),
        ({"diagnosis_date": "2099-01-01"}, "diagnosis_date_invalid"),
        ({"diagnosis_date": "1962-08-14"}, "diagnosis_date_invalid"),
        ({"issuing_institution": "   "}, "validation_error"),
        ({"diagnosis_date": "2023-13-01"}, "validation_error"),
    ],
)
def test_diagnosis_details_are_checked(cast, media_root, fields, code):
    response = api_client(cast.staff).post(
        evidence_url(cast.patient), upload(**fields), format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not PriorDiagnosisEvidence.objects.exists()
    assert stored_files(media_root) == []


def test_boundary_dates_and_a_lowercase_code_are_accepted(cast):
    client = api_client(cast.staff)
    birth = client.post(
        evidence_url(cast.patient),
        upload(diagnosis_date="1962-08-15", diagnosis_code=" i10 "),
        format="multipart",
    )
    assert birth.status_code == 201, birth.json()
    assert birth.json()["diagnosis"]["code"] == "I10"
    today = client.post(
        evidence_url(cast.patient),
        upload(diagnosis_date=timezone.localdate().isoformat()),
        format="multipart",
    )
    assert today.status_code == 201


def test_a_failed_write_leaves_no_file_behind(cast, media_root, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(evidence_module, "audit_record", fail)
    with pytest.raises(RuntimeError):
        evidence_upload(
            actor=actor_for_user(cast.staff),
            patient=cast.patient,
            document=SimpleUploadedFile("a.pdf", PDF_BYTES),
            issuing_institution="广东省人民医院",
            diagnosis_code="I10",
            diagnosis_date=datetime.date(2024, 1, 2),
        )
    assert not PriorDiagnosisEvidence.objects.exists()
    assert stored_files(media_root) == []


# --- verification ------------------------------------------------------------------------------


def test_the_treating_doctor_verifies_once(cast):
    evidence = make_evidence(cast.patient, cast.staff)
    client = api_client(cast.doctor)

    response = client.post(f"{evidence_url(cast.patient, evidence)}verify/")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["verified"], body["verified_by"]) == (True, str(cast.doctor.public_id))
    first_at = body["verified_at"]
    assert patient_has_verified_evidence(patient=cast.patient)
    assert patient_verified_diagnosis_codes(patient=cast.patient) == {"I10"}

    # Again, and by a second treating doctor: the first verification stands.
    again = client.post(f"{evidence_url(cast.patient, evidence)}verify/").json()
    second_doctor = make_doctor()
    make_consultation(
        patient=cast.patient, doctor_user=second_doctor, facility=cast.facility, status="completed"
    )
    by_second = api_client(second_doctor).post(f"{evidence_url(cast.patient, evidence)}verify/")
    assert by_second.status_code == 200
    for result in (again, by_second.json()):
        assert (result["verified_by"], result["verified_at"]) == (
            str(cast.doctor.public_id),
            first_at,
        )
    updates = AuditEvent.objects.filter(action="update", object_type="evidence").order_by("pk")
    assert [(e.actor_id, e.detail["fields"]) for e in updates] == [
        (cast.doctor.pk, ["verified_by", "verified_at"]),
        (cast.doctor.pk, []),
        (second_doctor.pk, []),
    ]


def test_verified_codes_only_count_verified_evidence(cast):
    make_evidence(cast.patient, cast.staff, verified_by=cast.doctor)
    make_evidence(cast.patient, cast.staff, diagnosis_code="J44.9", verified_by=cast.doctor)
    make_evidence(cast.patient, cast.staff, diagnosis_code="M81.0")
    assert patient_verified_diagnosis_codes(patient=cast.patient) == {"I10", "J44.9"}


def test_a_doctor_whose_consultation_was_cancelled_reads_but_does_not_verify(cast):
    doctor = make_doctor()
    make_consultation(
        patient=cast.patient, doctor_user=doctor, facility=cast.facility, status="cancelled"
    )
    evidence = make_evidence(cast.patient, cast.staff)
    client = api_client(doctor)
    assert client.get(evidence_url(cast.patient)).status_code == 200
    response = client.post(f"{evidence_url(cast.patient, evidence)}verify/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    evidence.refresh_from_db()
    assert evidence.verified_at is None
    with pytest.raises(PermissionDeniedError):
        evidence_verify(actor=actor_for_user(doctor), evidence=evidence)


# --- reading and downloading -------------------------------------------------------------------


def test_list_and_detail_show_diagnosis_names_and_record_reads(cast):
    older = make_evidence(cast.patient, cast.staff, verified_by=cast.doctor)
    newer = make_evidence(cast.patient, cast.staff, diagnosis_code="K29.5")
    make_evidence(make_patient(cast.staff, id_number=resident_id()), cast.staff)
    client = api_client(cast.doctor)

    listing = client.get(evidence_url(cast.patient)).json()
    assert [item["id"] for item in listing["results"]] == [
        str(newer.public_id),
        str(older.public_id),
    ]
    assert listing["results"][0]["diagnosis"]["name_zh"] == "慢性胃炎"
    assert listing["results"][1]["verified_by"] == str(cast.doctor.public_id)
    detail = client.get(evidence_url(cast.patient, older)).json()
    assert detail["diagnosis"]["name_en"] == "Essential (primary) hypertension"
    reads = AuditEvent.objects.filter(action="read", object_type="evidence", actor=cast.doctor)
    assert sorted((e.object_id, e.detail["via"]) for e in reads) == sorted(
        [
            (str(newer.public_id), "list"),
            (str(older.public_id), "list"),
            (str(older.public_id), "detail"),
        ]
    )


def test_evidence_of_another_patient_is_not_found_under_this_patient(cast):
    stranger = make_patient(cast.staff, id_number=resident_id())
    theirs = make_evidence(stranger, cast.staff)
    client = api_client(cast.staff)
    assert client.get(evidence_url(cast.patient, theirs)).status_code == 404
    assert client.get(f"{evidence_url(cast.patient, theirs)}document/").status_code == 404
    make_consultation(patient=stranger, doctor_user=cast.other_doctor, facility=cast.facility)
    verify = api_client(cast.doctor).post(f"{evidence_url(cast.patient, theirs)}verify/")
    assert verify.status_code == 404


def test_the_document_downloads_as_an_attachment_with_a_neutral_name(cast):
    evidence = make_evidence(cast.patient, cast.staff)
    response = api_client(cast.staff).get(
        f"{evidence_url(cast.patient, evidence)}document/", HTTP_ACCEPT="application/pdf"
    )
    assert response.status_code == 200
    assert response.getvalue() == PDF_BYTES
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="evidence-{evidence.public_id}.pdf"'
    )
    assert response["Cache-Control"] == "private, no-store"
    read = AuditEvent.objects.get(action="read", object_type="evidence", detail__via="document")
    assert (read.object_id, read.actor_id) == (str(evidence.public_id), cast.staff.pk)


# --- who may do what ---------------------------------------------------------------------------


def client_for(cast: Cast, role: str):
    if role == "anonymous":
        return api_client()
    if role == "terminal":
        return terminal_client(cast.terminal_credential)
    return api_client(getattr(cast, role))


OUTSIDERS = [
    ("other_staff", 404),
    ("other_doctor", 404),
    ("other_patient_user", 404),
    ("terminal", 404),
    ("anonymous", 401),
]


@pytest.mark.parametrize(
    ("role", "expected"),
    [("staff", 200), ("doctor", 200), ("operations", 200), ("patient_user", 200), *OUTSIDERS],
)
def test_who_reads_the_list_and_the_detail(cast, role, expected):
    evidence = make_evidence(cast.patient, cast.staff)
    client = client_for(cast, role)
    assert client.get(evidence_url(cast.patient)).status_code == expected
    assert client.get(evidence_url(cast.patient, evidence)).status_code == expected
    reads = AuditEvent.objects.filter(action="read", object_type="evidence")
    assert reads.count() == (2 if expected == 200 else 0)


@pytest.mark.parametrize(
    ("role", "expected"),
    [("staff", 200), ("doctor", 200), ("operations", 200), ("patient_user", 404), *OUTSIDERS],
)
def test_who_downloads_the_document(cast, role, expected):
    evidence = make_evidence(cast.patient, cast.staff)
    response = client_for(cast, role).get(f"{evidence_url(cast.patient, evidence)}document/")
    assert response.status_code == expected
    documents = AuditEvent.objects.filter(action="read", detail__via="document")
    if expected == 200:
        assert response.getvalue() == PDF_BYTES
        assert documents.count() == 1
    else:
        assert response.json()["code"] in ("not_found", "not_authenticated")
        assert not documents.exists()


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("staff", 201),
        ("doctor", 403),
        ("operations", 403),
        ("patient_user", 403),
        *OUTSIDERS,
    ],
)
def test_who_uploads(cast, media_root, role, expected):
    response = client_for(cast, role).post(evidence_url(cast.patient), upload(), format="multipart")
    assert response.status_code == expected
    assert PriorDiagnosisEvidence.objects.count() == (1 if expected == 201 else 0)
    assert len(stored_files(media_root)) == (1 if expected == 201 else 0)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("doctor", 200),
        ("staff", 403),
        ("operations", 403),
        ("patient_user", 403),
        *OUTSIDERS,
    ],
)
def test_who_verifies(cast, role, expected):
    evidence = make_evidence(cast.patient, cast.staff)
    response = client_for(cast, role).post(f"{evidence_url(cast.patient, evidence)}verify/")
    assert response.status_code == expected
    evidence.refresh_from_db()
    assert (evidence.verified_at is not None) == (expected == 200)


def test_evidence_is_never_deleted(cast):
    evidence = make_evidence(cast.patient, cast.staff)
    client = api_client(cast.operations)
    assert client.delete(evidence_url(cast.patient, evidence)).status_code == 405
    assert client.delete(f"{evidence_url(cast.patient, evidence)}document/").status_code == 405
    assert PriorDiagnosisEvidence.objects.filter(pk=evidence.pk).exists()


def test_a_lost_file_is_a_404_with_its_own_code_and_no_read_recorded(cast, media_root):
    evidence = make_evidence(cast.patient, cast.staff)
    (media_root / str(evidence.document.name)).unlink()
    response = api_client(cast.staff).get(f"{evidence_url(cast.patient, evidence)}document/")
    assert response.status_code == 404
    assert response.json()["code"] == "evidence_document_missing"
    assert not AuditEvent.objects.filter(detail__via="document").exists()


# --- the back office ---------------------------------------------------------------------------


@pytest.fixture
def admin_client(client):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def test_admin_shows_evidence_and_consents_read_only_and_records_reads(cast, admin_client):
    evidence = make_evidence(cast.patient, cast.staff)
    record = make_consent(cast.patient, cast.staff)

    listing = admin_client.get("/admin/patients/priordiagnosisevidence/")
    assert listing.status_code == 200
    page = admin_client.get(f"/admin/patients/priordiagnosisevidence/{evidence.pk}/change/")
    assert page.status_code == 200
    assert str(evidence.document.name) not in page.content.decode()  # no media link
    consents = admin_client.get(f"/admin/patients/consentrecord/{record.pk}/change/")
    assert consents.status_code == 200

    reads = AuditEvent.objects.filter(action="read", detail__via__startswith="admin")
    assert sorted((e.object_type, e.object_id, e.detail["via"]) for e in reads) == sorted(
        [
            ("evidence", str(evidence.public_id), "admin_list"),
            ("evidence", str(evidence.public_id), "admin"),
            ("consent", str(record.pk), "admin"),
        ]
    )
    delete = admin_client.post(
        f"/admin/patients/priordiagnosisevidence/{evidence.pk}/delete/", {"post": "yes"}
    )
    assert delete.status_code == 403
    assert admin_client.get("/admin/patients/consentrecord/add/").status_code == 403
    assert admin_client.get("/admin/patients/consenttemplate/").status_code == 200
    assert admin_client.get("/admin/terminology/icd10code/?q=E11").status_code == 200
