"""The clinic console pages: who may open them, and that each form does what the service does
(and shows the service's refusal, with nothing written)."""

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from clinics.models import Facility, Terminal
from consultations.models import Consultation, Slot, VitalSign
from patients.consents import consent_text_sha256
from patients.models import ConsentRecord, ConsentTemplate, Patient, PriorDiagnosisEvidence
from pharmacy.models import FulfilmentStatus
from prescriptions.models import PrescriptionStatus
from tests.consultations.builders import icd10
from tests.factories import (
    PDF_BYTES,
    make_consultation,
    make_doctor,
    make_facility,
    make_patient,
    make_slot,
    make_staff,
    make_terminal,
    make_user,
    resident_id,
)
from tests.pharmacy.builders import make_pickup

pytestmark = pytest.mark.django_db


@dataclass
class Site:
    facility: Facility
    staff: User
    other_staff: User
    doctor: User
    patient: Patient
    consultation: Consultation
    terminal: Terminal


@pytest.fixture
def site() -> Site:
    facility = make_facility()
    staff = make_staff(facility=facility, full_name="周晓敏")
    doctor = make_doctor(full_name="林志明")
    patient = make_patient(staff, name="陈志强", id_number=resident_id(birth="19580312"))
    consultation = make_consultation(patient=patient, doctor_user=doctor, facility=facility)
    terminal = Terminal.objects.get(pk=make_terminal(facility).terminal.pk)
    return Site(
        facility=facility,
        staff=staff,
        other_staff=make_staff(facility=make_facility()),
        doctor=doctor,
        patient=patient,
        consultation=consultation,
        terminal=terminal,
    )


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


# (name, method, path): every console page and action.
PAGES: list[tuple[str, str, Callable[[Site], str]]] = [
    ("home", "get", lambda s: reverse("console:home")),
    ("day", "get", lambda s: reverse("console:day")),
    ("lookup", "post", lambda s: reverse("console:patient-lookup")),
    ("register", "get", lambda s: reverse("console:patient-new")),
    ("validate-id", "post", lambda s: reverse("console:validate-id")),
    ("patient", "get", lambda s: reverse("console:patient", args=[s.patient.public_id])),
    ("edit", "post", lambda s: reverse("console:patient-edit", args=[s.patient.public_id])),
    (
        "verify-identity",
        "post",
        lambda s: reverse("console:patient-verify-identity", args=[s.patient.public_id]),
    ),
    ("consent", "get", lambda s: reverse("console:consent", args=[s.patient.public_id])),
    ("evidence", "get", lambda s: reverse("console:evidence", args=[s.patient.public_id])),
    ("book", "get", lambda s: reverse("console:book", args=[s.patient.public_id])),
    (
        "consultation",
        "get",
        lambda s: reverse("console:consultation", args=[s.consultation.public_id]),
    ),
    ("check-in", "post", lambda s: reverse("console:check-in", args=[s.consultation.public_id])),
    ("vitals", "post", lambda s: reverse("console:vitals", args=[s.consultation.public_id])),
    ("cancel", "post", lambda s: reverse("console:cancel", args=[s.consultation.public_id])),
    ("pickup", "get", lambda s: reverse("console:pickup")),
]
PAGES_OF_ONE_PATIENT = {
    "patient",
    "edit",
    "verify-identity",
    "consent",
    "evidence",
    "book",
    "consultation",
    "check-in",
    "vitals",
    "cancel",
}


def request(client: Client, method: str, path: str) -> Any:
    return client.get(path) if method == "get" else client.post(path, {})


@pytest.mark.parametrize(("name", "method", "path"), PAGES, ids=[page[0] for page in PAGES])
def test_anonymous_visitors_are_sent_to_sign_in(site: Site, name: str, method: str, path: Any):
    url = path(site)
    response = request(client_for(None), method, url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("role", [Role.DOCTOR, Role.PHARMACIST, Role.PATIENT, Role.OPERATIONS])
@pytest.mark.parametrize(("name", "method", "path"), PAGES, ids=[page[0] for page in PAGES])
def test_other_roles_are_refused(site: Site, role: str, name: str, method: str, path: Any):
    response = request(client_for(make_user(role=role)), method, path(site))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("name", "method", "path"),
    [page for page in PAGES if page[0] in PAGES_OF_ONE_PATIENT],
    ids=[page[0] for page in PAGES if page[0] in PAGES_OF_ONE_PATIENT],
)
def test_staff_of_another_facility_find_nothing(site: Site, name: str, method: str, path: Any):
    before = (Consultation.objects.get(pk=site.consultation.pk).status, VitalSign.objects.count())
    response = request(client_for(site.other_staff), method, path(site))
    assert response.status_code == 404
    after = (Consultation.objects.get(pk=site.consultation.pk).status, VitalSign.objects.count())
    assert after == before


def test_staff_without_an_active_facility_are_refused(site: Site):
    site.staff.staff_membership.is_active = False
    site.staff.staff_membership.save()
    assert client_for(site.staff).get(reverse("console:home")).status_code == 403


def test_the_home_page_lists_the_days_consultations_and_finds_patients_by_phone(site: Site):
    client = client_for(site.staff)
    home = client.get(reverse("console:home"))
    assert home.status_code == 200
    assert [c.pk for c in home.context["consultations"]] == [site.consultation.pk]
    found = client.get(reverse("console:home"), {"phone": "138 0013 8000"})
    assert [p.pk for p in found.context["found"]] == [site.patient.pk]
    assert client.get(reverse("console:home"), {"name": "王芳"}).context["found"] == []


def test_a_bad_phone_number_in_the_search_is_shown_not_raised(site: Site):
    response = client_for(site.staff).get(reverse("console:home"), {"phone": "12345"})
    assert response.status_code == 200
    assert response.context["search_error"]["code"] == "phone_invalid"
    assert response.context["found"] is None


def test_the_day_list_polls_every_ten_seconds(site: Site):
    response = client_for(site.staff).get(reverse("console:day"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-trigger="every 10s"' in html
    assert str(site.consultation.public_id) in html


def test_looking_up_by_document_opens_the_patient_and_links_them_here(site: Site):
    number = resident_id(birth="19800101", sequence=101)
    other = make_patient(site.other_staff, name="王芳", id_number=number)
    response = client_for(site.staff).post(
        reverse("console:patient-lookup"), {"id_type": "resident_id", "id_number": number}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("console:patient", args=[other.public_id])
    assert other.facility_links.filter(facility=site.facility).exists()


def test_an_unknown_document_is_reported_on_the_form(site: Site):
    response = client_for(site.staff).post(
        reverse("console:patient-lookup"),
        {"id_type": "resident_id", "id_number": resident_id(birth="19991231")},
    )
    assert response.status_code == 404
    assert response.context["lookup_error"]["code"] == "patient_not_found"


def test_the_inline_id_check_shows_birth_date_and_sex(site: Site):
    number = resident_id(birth="19580312", sequence=123)  # odd sequence: male
    response = client_for(site.staff).post(
        reverse("console:validate-id"), {"id_type": "resident_id", "id_number": number}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="derived-birth-date">1958-03-12<' in html
    assert 'data-valid="true"' in html
    assert response.context["identity"].sex == "male"


def test_the_inline_id_check_names_a_wrong_check_digit(site: Site):
    number = resident_id(birth="19580312", sequence=123)
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    response = client_for(site.staff).post(
        reverse("console:validate-id"), {"id_type": "resident_id", "id_number": wrong}
    )
    assert response.status_code == 200
    assert response.context["error"]["code"] == "id_number_checksum"
    assert 'data-code="id_number_checksum"' in response.content.decode()


def register_form(**changes: Any) -> dict[str, Any]:
    return {
        "name": "李秀英",
        "id_type": "resident_id",
        "id_number": resident_id(birth="19620715", sequence=224),
        "phone": "13912345678",
        "allergies": "青霉素，磺胺类药物",
        "chronic_conditions": "高血压\n2型糖尿病",
        "identity_checked": "on",
        "verification_method": "document_in_person",
        **changes,
    }


def test_registering_a_patient_derives_birth_date_and_sex_and_records_the_identity_check(
    site: Site,
):
    response = client_for(site.staff).post(reverse("console:patient-new"), register_form())
    patient = Patient.objects.get(name="李秀英")
    assert response.status_code == 302
    assert response["Location"] == reverse("console:patient", args=[patient.public_id])
    assert (patient.birth_date, patient.sex, patient.phone) == (
        datetime.date(1962, 7, 15),
        "female",
        "+8613912345678",
    )
    assert patient.allergies == ["青霉素", "磺胺类药物"]
    assert patient.chronic_conditions == ["高血压", "2型糖尿病"]
    assert patient.identity_verified_at is not None
    assert patient.facility_links.get().facility == site.facility


def test_a_wrong_check_digit_is_shown_next_to_the_number_and_nothing_is_registered(site: Site):
    number = resident_id(birth="19620715", sequence=224)
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    response = client_for(site.staff).post(
        reverse("console:patient-new"), register_form(id_number=wrong)
    )
    assert response.status_code == 400
    assert response.context["error"]["code"] == "id_number_checksum"
    assert response.context["form"].errors["id_number"] == [
        "The check digit does not match (GB 11643)."
    ]
    assert not Patient.objects.filter(name="李秀英").exists()


def test_registering_the_same_document_twice_is_refused(site: Site):
    client = client_for(site.staff)
    client.post(reverse("console:patient-new"), register_form())
    response = client.post(reverse("console:patient-new"), register_form(name="李秀"))
    assert response.status_code == 409
    assert response.context["error"]["code"] == "patient_exists"
    assert Patient.objects.filter(name__startswith="李秀").count() == 1


def test_the_patient_page_shows_history_and_the_steps_before_booking(site: Site):
    response = client_for(site.staff).get(reverse("console:patient", args=[site.patient.public_id]))
    assert response.status_code == 200
    assert [c.pk for c in response.context["consultations"]] == [site.consultation.pk]
    html = response.content.decode()
    assert 'data-step="consent" data-done="false"' in html
    assert 'data-step="evidence" data-done="false"' in html


def test_correcting_allergies_goes_through_the_service(site: Site):
    response = client_for(site.staff).post(
        reverse("console:patient-edit", args=[site.patient.public_id]),
        {"phone": "13800138000", "allergies": "阿司匹林", "chronic_conditions": ""},
    )
    assert response.status_code == 302
    site.patient.refresh_from_db()
    assert site.patient.allergies == ["阿司匹林"]


def test_the_consent_page_shows_the_published_text_and_records_its_hash(site: Site):
    template = ConsentTemplate.objects.get(version="2026.1", language="zh-hans")
    client = client_for(site.staff)
    page = client.get(reverse("console:consent", args=[site.patient.public_id]))
    assert page.status_code == 200
    assert page.context["template"] == template
    assert template.title in page.content.decode()
    form = {
        "template_version": "2026.1",
        "language": "zh-hans",
        "text_sha256": consent_text_sha256(template.text),
        "signer": "patient",
        "signer_name": "陈志强",
        "method": "terminal_confirmation",
        "terminal": str(site.terminal.public_id),
        "signed": "on",
    }
    response = client.post(reverse("console:consent", args=[site.patient.public_id]), form)
    assert response.status_code == 302
    record = ConsentRecord.objects.get(patient=site.patient)
    assert record.text_sha256 == consent_text_sha256(template.text)
    assert (record.signer_name, record.terminal, record.recorded_by) == (
        "陈志强",
        site.terminal,
        site.staff,
    )


def test_consent_is_not_recorded_unless_signed_or_with_a_stale_text(site: Site):
    client = client_for(site.staff)
    url = reverse("console:consent", args=[site.patient.public_id])
    form = {
        "template_version": "2026.1",
        "language": "zh-hans",
        "text_sha256": "0" * 64,
        "signer": "patient",
        "signer_name": "陈志强",
        "method": "terminal_confirmation",
    }
    unsigned = client.post(url, form)
    assert unsigned.status_code == 400
    assert "signed" in unsigned.context["form"].errors
    stale = client.post(url, {**form, "signed": "on"})
    assert stale.status_code == 400
    assert stale.context["error"]["code"] == "consent_text_mismatch"
    assert not ConsentRecord.objects.exists()


def test_uploading_evidence_stores_the_document_unverified(site: Site, settings: Any, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    icd10()
    response = client_for(site.staff).post(
        reverse("console:evidence", args=[site.patient.public_id]),
        {
            "document": SimpleUploadedFile("病历.pdf", PDF_BYTES, content_type="application/pdf"),
            "issuing_institution": "广州市第一人民医院",
            "diagnosis_code": "i10",
            "diagnosis_date": "2024-03-01",
        },
    )
    assert response.status_code == 302
    evidence = PriorDiagnosisEvidence.objects.get(patient=site.patient)
    assert (evidence.diagnosis.code, evidence.verified_at, evidence.uploaded_by) == (
        "I10",
        None,
        site.staff,
    )


def test_evidence_that_is_not_a_document_is_refused_and_nothing_is_stored(
    site: Site, settings: Any, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    icd10()
    response = client_for(site.staff).post(
        reverse("console:evidence", args=[site.patient.public_id]),
        {
            "document": SimpleUploadedFile("note.txt", b"hello", content_type="application/pdf"),
            "issuing_institution": "广州市第一人民医院",
            "diagnosis_code": "I10",
            "diagnosis_date": "2024-03-01",
        },
    )
    assert response.status_code == 400
    assert response.context["error"]["code"] == "evidence_type_not_allowed"
    assert response.context["form"].errors["document"] == ["Not a PDF, JPEG or PNG file."]
    assert not PriorDiagnosisEvidence.objects.exists()
    assert list(tmp_path.rglob("*.*")) == []


def test_the_icd10_picker_offers_matching_codes(site: Site):
    icd10()
    response = client_for(site.staff).get(
        reverse("icd10-options"), {"for": "diagnosis_code", "diagnosis_code": "I1"}
    )
    assert response.status_code == 200
    assert '<option value="I10">' in response.content.decode()


def test_the_slot_picker_shows_free_slots_of_the_day_with_the_fee(site: Site):
    department = site.doctor.doctor_profile.department
    free = make_slot(site.doctor, starts_in=datetime.timedelta(minutes=20))
    response = client_for(site.staff).get(
        reverse("console:book", args=[site.patient.public_id]),
        {"department": str(department.public_id), "date": timezone.localdate().isoformat()},
    )
    assert response.status_code == 200
    assert free in response.context["slots"]
    assert site.consultation.slot not in response.context["slots"]  # booked
    assert response.context["department_fee"] == "¥30.00"


def test_booking_a_slot_books_it_and_shows_the_fee(site: Site):
    slot = make_slot(site.doctor, starts_in=datetime.timedelta(hours=3))
    response = client_for(site.staff).post(
        reverse("console:book", args=[site.patient.public_id]),
        {"mode": "slot", "slot": str(slot.public_id)},
    )
    booked = Consultation.objects.get(slot=slot)
    assert response.status_code == 302
    assert response["Location"] == reverse("console:consultation", args=[booked.public_id])
    assert (booked.patient, booked.facility, booked.fee_fen) == (site.patient, site.facility, 3000)


def test_a_slot_booked_meanwhile_is_refused_with_its_code(site: Site):
    taken = site.consultation.slot
    assert taken is not None
    response = client_for(site.staff).post(
        reverse("console:book", args=[site.patient.public_id]),
        {"mode": "slot", "slot": str(taken.public_id)},
    )
    assert response.status_code == 409
    assert response.context["error"]["code"] == "slot_taken"
    assert Consultation.objects.count() == 1


def test_a_walk_in_token_is_issued_for_the_department(site: Site):
    department = site.doctor.doctor_profile.department
    response = client_for(site.staff).post(
        reverse("console:book", args=[site.patient.public_id]),
        {"mode": "walk_in", "department": str(department.public_id)},
    )
    walk_in = Consultation.objects.get(kind="walk_in")
    assert response.status_code == 302
    assert (walk_in.walk_in_token, walk_in.department) == (1, department)


def test_booking_without_a_choice_is_refused(site: Site):
    response = client_for(site.staff).post(
        reverse("console:book", args=[site.patient.public_id]), {"mode": "department"}
    )
    assert response.status_code == 400
    assert response.context["error"]["code"] == "validation_error"
    assert Consultation.objects.count() == 1


def test_check_in_opens_thirty_minutes_before_the_slot(site: Site):
    url = reverse("console:check-in", args=[site.consultation.public_id])
    client = client_for(site.staff)
    early = client.post(url, {"terminal": str(site.terminal.public_id)})
    assert early.status_code == 409
    assert early.context["error"]["code"] == "check_in_too_early"
    assert Consultation.objects.get(pk=site.consultation.pk).status == "booked"
    Slot.objects.filter(consultations=site.consultation).update(
        starts_at=timezone.now() + datetime.timedelta(minutes=10)
    )
    Consultation.objects.filter(pk=site.consultation.pk).update(
        scheduled_start=timezone.now() + datetime.timedelta(minutes=10)
    )
    checked_in = client.post(url, {"terminal": str(site.terminal.public_id)})
    assert checked_in.status_code == 302
    consultation = Consultation.objects.get(pk=site.consultation.pk)
    assert (consultation.status, consultation.checked_in_terminal) == ("checked_in", site.terminal)


def test_staff_record_vitals_on_the_facilitys_terminal(site: Site):
    Consultation.objects.filter(pk=site.consultation.pk).update(
        status="checked_in", checked_in_terminal=site.terminal
    )
    client = client_for(site.staff)
    url = reverse("console:vitals", args=[site.consultation.public_id])
    response = client.post(
        url,
        {
            "terminal": str(site.terminal.public_id),
            "kind": "blood_pressure",
            "value": "148",
            "value_secondary": "92",
        },
    )
    assert response.status_code == 302
    reading = VitalSign.objects.get()
    assert (reading.value, reading.value_secondary, reading.is_abnormal) == (148, 92, True)
    implausible = client.post(
        url, {"terminal": str(site.terminal.public_id), "kind": "temperature", "value": "52"}
    )
    assert implausible.status_code == 400
    assert implausible.context["error"]["code"] == "vital_implausible"
    assert VitalSign.objects.count() == 1


def test_a_booking_is_cancelled_with_a_reason(site: Site):
    response = client_for(site.staff).post(
        reverse("console:cancel", args=[site.consultation.public_id]), {"reason": "患者改期"}
    )
    assert response.status_code == 302
    consultation = Consultation.objects.get(pk=site.consultation.pk)
    assert (consultation.status, consultation.cancel_reason) == ("cancelled", "患者改期")


def test_the_video_link_shows_while_the_consultation_is_in_progress(site: Site):
    page = reverse("console:consultation", args=[site.consultation.public_id])
    client = client_for(site.staff)
    assert "join-video" not in client.get(page).content.decode()
    Consultation.objects.filter(pk=site.consultation.pk).update(status="in_progress")
    html = client.get(page).content.decode()
    assert reverse("video-consultation-call", args=[site.consultation.public_id]) in html


def test_typing_the_pickup_code_hands_the_medicine_over_once():
    scene = make_pickup()
    client = client_for(scene.staff)
    ready = client.get(reverse("console:pickup"))
    assert [f.pk for f in ready.context["waiting"]] == [scene.fulfilment.pk]
    assert scene.fulfilment.pickup_code
    response = client.post(reverse("console:pickup"), {"code": scene.fulfilment.pickup_code})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('console:pickup')}?done={scene.fulfilment.public_id}"
    fulfilment = scene.refresh()
    assert fulfilment.status == FulfilmentStatus.PICKED_UP
    assert scene.prescription.status == PrescriptionStatus.DISPENSED
    summary = client.get(response["Location"])
    assert summary.context["handed_over"].pk == fulfilment.pk
    again = client.post(reverse("console:pickup"), {"code": fulfilment.pickup_code})
    assert again.status_code == 409
    assert again.context["error"]["code"] == "already_dispensed"


def test_a_scanned_qr_token_hands_over_and_a_forged_one_is_refused():
    from pharmacy.pickup_codes import pickup_token, qr_payload

    scene = make_pickup()
    fulfilment = scene.fulfilment
    assert fulfilment.pickup_code_expires_at is not None
    client = client_for(scene.staff)
    forged = client.post(reverse("console:pickup"), {"token": "RXPICKUP:not-a-token"})
    assert forged.status_code == 409
    assert forged.context["error"]["code"] == "pickup_code_invalid"
    assert scene.refresh().status == FulfilmentStatus.READY_FOR_PICKUP
    token = pickup_token(
        fulfilment_public_id=fulfilment.public_id,
        code=fulfilment.pickup_code,
        expires_at=fulfilment.pickup_code_expires_at,
    )
    response = client.post(reverse("console:pickup"), {"token": qr_payload(token)})
    assert response.status_code == 302
    assert scene.refresh().status == FulfilmentStatus.PICKED_UP


def test_another_facilitys_pickup_code_is_not_found_here():
    scene = make_pickup()
    stranger = make_staff(facility=make_facility())
    response = client_for(stranger).post(
        reverse("console:pickup"), {"code": scene.fulfilment.pickup_code}
    )
    assert response.status_code == 404
    assert scene.refresh().status == FulfilmentStatus.READY_FOR_PICKUP


def test_an_empty_pickup_form_asks_for_the_code(site: Site):
    response = client_for(site.staff).post(reverse("console:pickup"), {"code": ""})
    assert response.status_code == 400
    # Pages speak Simplified Chinese unless told otherwise.
    assert response.context["form"].non_field_errors() == ["请输入取药码或扫描二维码。"]


@pytest.mark.parametrize(
    ("role", "start"),
    [
        (Role.CLINIC_STAFF, "/console/"),
        (Role.DOCTOR, "/workstation/"),
        (Role.PHARMACIST, "/review/"),
        (Role.PATIENT, "/m/"),
        (Role.OPERATIONS, "/operations/"),
    ],
)
def test_home_sends_each_role_to_its_start_page(role: str, start: str):
    user = make_staff() if role == Role.CLINIC_STAFF else make_user(role=role)
    response = client_for(user).get(reverse("home"))
    assert (response.status_code, response["Location"]) == (302, start)


def test_home_shows_the_front_page_to_visitors():
    response = client_for(None).get(reverse("home"))
    assert response.status_code == 200
    assert reverse("login") in response.content.decode()
