"""The prescriptions API as each role sees it, the PDF, the public verification page."""

import io
import unicodedata
from decimal import Decimal

import pytest
import zxingcpp
from django.conf import settings
from pypdf import PdfReader

from prescriptions.models import Prescription, PrescriptionStatus
from tests.consultations.builders import make_visit
from tests.factories import api_client, make_doctor, make_patient_user, make_staff, make_user
from tests.prescriptions.builders import (
    PIN,
    make_approved,
    make_draft,
    make_drug,
    make_pharmacist,
    make_signed,
    with_signing_key,
)

pytestmark = pytest.mark.django_db


def body(drug_code: str, **fields: object) -> dict[str, object]:
    return {
        "diagnosis": "I10",
        "items": [
            {"drug": drug_code, "dose": "5", "frequency": "qd", "route": "oral", "days_supply": 7}
        ],
        **fields,
    }


def test_doctor_writes_acknowledges_and_signs_through_the_api() -> None:
    visit = make_visit("in_progress")
    drug = make_drug()
    client = api_client(with_signing_key(visit.doctor))
    created = client.post(
        "/api/v1/prescriptions/",
        body(drug.code, consultation=str(visit.consultation.public_id))
        | {
            "items": [
                {
                    "drug": drug.code,
                    "dose": "20",
                    "frequency": "qd",
                    "route": "oral",
                    "days_supply": 7,
                }
            ]
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    data = created.json()
    assert (data["status"], data["items"][0]["quantity"], data["number"][:2]) == ("draft", 1, "RX")
    url = f"/api/v1/prescriptions/{data['id']}/"
    refused = client.post(f"{url}sign/", {"pin": PIN}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "warnings_unacknowledged")
    warning = data["warnings"][0]
    acknowledged = client.post(
        f"{url}acknowledge/", {"warning": warning["id"], "reason": "难治性高血压"}, format="json"
    )
    assert acknowledged.json()["warnings"][0]["acknowledged_reason"] == "难治性高血压"
    wrong = client.post(f"{url}sign/", {"pin": "000000"}, format="json")
    assert (wrong.status_code, wrong.json()["code"]) == (403, "signing_pin_invalid")
    signed = client.post(f"{url}sign/", {"pin": PIN}, format="json")
    assert (signed.status_code, signed.json()["status"]) == (200, "signed")
    assert signed.json()["doctor_certificate_serial"]


def test_rule_violation_through_the_api_has_its_code_and_saves_nothing() -> None:
    visit = make_visit("in_progress")
    drug = make_drug(control_class="narcotic", online_prescribable=False)
    response = api_client(visit.doctor).post(
        "/api/v1/prescriptions/",
        body(drug.code, consultation=str(visit.consultation.public_id)),
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (400, "controlled_drug_banned")
    assert Prescription.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"items": "x"}, "validation_error"),
        (
            {
                "items": [
                    {
                        "drug": "NOPE",
                        "dose": "1",
                        "frequency": "qd",
                        "route": "oral",
                        "days_supply": 1,
                    }
                ]
            },
            "drug_unknown",
        ),
        ({"diagnosis": ""}, "validation_error"),
        ({"consultation": "not-a-uuid"}, "validation_error"),
    ],
)
def test_malformed_input_is_a_400_with_a_code(payload: dict[str, object], code: str) -> None:
    visit = make_visit("in_progress")
    drug = make_drug()
    response = api_client(visit.doctor).post(
        "/api/v1/prescriptions/",
        body(drug.code, consultation=str(visit.consultation.public_id)) | payload,
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert Prescription.objects.count() == 0


def test_another_doctor_cannot_prescribe_for_the_consultation() -> None:
    visit = make_visit("in_progress")
    response = api_client(make_doctor()).post(
        "/api/v1/prescriptions/",
        body(make_drug().code, consultation=str(visit.consultation.public_id)),
        format="json",
    )
    assert response.status_code == 404
    assert Prescription.objects.count() == 0


def test_who_sees_a_draft_and_a_signed_prescription() -> None:
    draft = make_draft()
    signed = make_signed()
    patient_user = make_patient_user(signed.visit.patient)
    cases = [
        (draft.visit.doctor, draft, 200),
        (make_doctor(), draft, 404),
        (make_pharmacist(), draft, 404),
        (draft.visit.staff, draft, 404),
        (signed.visit.doctor, signed, 200),
        (make_pharmacist(), signed, 200),
        (signed.visit.staff, signed, 200),
        (make_staff(), signed, 404),
        (patient_user, signed, 200),
        (make_patient_user(draft.visit.patient), signed, 404),
        (make_user(), signed, 200),
    ]
    for user, rx, expected in cases:
        response = api_client(user).get(f"/api/v1/prescriptions/{rx.prescription.public_id}/")
        assert response.status_code == expected, (user.role, rx.prescription.status)
    assert (
        api_client().get(f"/api/v1/prescriptions/{signed.prescription.public_id}/").status_code
        == 401
    )


def test_review_queue_is_the_pharmacists_with_prescreen_flags() -> None:
    long = make_signed()
    pharmacist = make_pharmacist()
    queue = api_client(pharmacist).get("/api/v1/prescriptions/review-queue/")
    assert queue.status_code == 200
    assert [row["id"] for row in queue.json()["results"]] == [str(long.prescription.public_id)]
    assert queue.json()["results"][0]["prescreen_flags"] == []
    assert (
        api_client(long.visit.doctor).get("/api/v1/prescriptions/review-queue/").status_code == 403
    )


def test_pharmacist_approves_and_rejects_through_the_api() -> None:
    pharmacist = make_pharmacist()
    client = api_client(pharmacist)
    first, second = make_signed(), make_signed()
    approved = client.post(
        f"/api/v1/prescriptions/{first.prescription.public_id}/review/",
        {"decision": "approve", "pin": PIN},
        format="json",
    )
    assert (approved.status_code, approved.json()["status"]) == (200, "approved")
    assert approved.json()["pharmacist_name"] == pharmacist.full_name
    rejected = client.post(
        f"/api/v1/prescriptions/{second.prescription.public_id}/review/",
        {"decision": "reject", "reasons": ["indication"], "comment": "诊断与用药不符"},
        format="json",
    )
    assert (rejected.status_code, rejected.json()["status"]) == (200, "rejected")
    again = client.post(
        f"/api/v1/prescriptions/{first.prescription.public_id}/review/",
        {"decision": "reject", "reasons": ["dose"], "comment": "x"},
        format="json",
    )
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")


def test_verify_action_reports_the_status_and_masks_the_patient() -> None:
    rx = make_approved()
    response = api_client(rx.visit.doctor).get(
        f"/api/v1/prescriptions/{rx.prescription.public_id}/verify/"
    )
    data = response.json()
    assert (data["valid"], data["problems"], data["status"]) == (True, [], "approved")
    assert data["patient_name"] == "陈**"


def test_pdf_has_the_patient_diagnosis_every_drug_and_a_qr_to_the_verification_page() -> None:
    from prescriptions.rules import DraftSpec, ItemSpec

    visit = make_visit("in_progress")
    metformin = make_drug(
        name_zh="盐酸二甲双胍片",
        atc_code="A10BA02",
        strength="0.5 g",
        dose_unit="mg",
        strength_per_unit=Decimal(500),
        units_per_pack=20,
        max_daily_dose=Decimal(2550),
    )
    amlodipine = make_drug()
    draft = DraftSpec(
        items=[
            ItemSpec(drug=amlodipine, dose=Decimal(5), frequency="qd", route="oral", days_supply=7),
            ItemSpec(
                drug=metformin, dose=Decimal(500), frequency="tid", route="oral", days_supply=7
            ),
        ]
    )
    rx = make_approved(visit=visit, draft=draft)
    response = api_client(visit.doctor).get(
        f"/api/v1/prescriptions/{rx.prescription.public_id}/pdf/"
    )
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    page = PdfReader(io.BytesIO(response.content)).pages[0]
    # NFKC: the CID font's half-width brackets come back from extraction as full-width ones.
    text = unicodedata.normalize("NFKC", page.extract_text())
    for expected in (
        visit.patient.name,
        "特发性(原发性)高血压",
        "苯磺酸氨氯地平片",
        "盐酸二甲双胍片",
    ):
        assert expected in text
    assert rx.refresh().doctor_certificate_serial in text
    (image,) = page.images
    (barcode,) = zxingcpp.read_barcodes(image.image)
    assert barcode.text == (
        f"{settings.SITE_URL}/verify/prescriptions/{rx.prescription.public_id}/"
    )


def test_public_verification_page_shows_a_dispensed_prescription() -> None:
    from django.db import transaction
    from django.test import Client

    from core.actors import actor_for_user
    from prescriptions.services.lifecycle import prescription_mark_dispensed

    rx = make_approved()
    with transaction.atomic():
        prescription_mark_dispensed(
            actor=actor_for_user(rx.visit.staff), prescription=rx.prescription
        )
    page = Client().get(f"/verify/prescriptions/{rx.prescription.public_id}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-valid="true"' in html
    assert 'data-status="dispensed"' in html
    assert rx.visit.patient.name not in html
    assert "陈**" in html


def test_public_verification_page_of_a_tampered_prescription_fails() -> None:
    from django.test import Client

    from prescriptions.models import PrescriptionItem

    rx = make_approved()
    PrescriptionItem.objects.filter(prescription=rx.prescription).update(quantity=2)
    html = Client().get(f"/verify/prescriptions/{rx.prescription.public_id}/").content.decode()
    assert 'data-valid="false"' in html
    assert "content_changed" in html


def test_drafts_and_unknown_ids_have_no_public_page() -> None:
    from django.test import Client

    rx = make_draft()
    assert Client().get(f"/verify/prescriptions/{rx.prescription.public_id}/").status_code == 404
    assert rx.prescription.status == PrescriptionStatus.DRAFT


def test_formulary_search() -> None:
    make_drug(name_zh="阿托伐他汀钙片", name_en="Atorvastatin", atc_code="C10AA05")
    make_drug(
        name_zh="吗啡片", atc_code="N02AA01", control_class="narcotic", online_prescribable=False
    )
    client = api_client(make_doctor())
    assert [d["name_zh"] for d in client.get("/api/v1/drugs/?q=他汀").json()["results"]] == [
        "阿托伐他汀钙片"
    ]
    names = [d["name_zh"] for d in client.get("/api/v1/drugs/?prescribable=1").json()["results"]]
    assert "吗啡片" not in names
