"""The doctor's workstation: who may open it, the queue, starting (consent and verified
evidence first), the record, and the prescription editor with its rule violations, warnings,
signing and revision — each refusal shown with its code and nothing written."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role, User
from consultations.models import ClinicalNote, Consultation, ConsultationDiagnosis
from core.actors import actor_for_user
from patients.models import Patient
from prescriptions.models import Prescription, PrescriptionWarning
from prescriptions.services import lifecycle
from tests.consultations.builders import Visit, give_evidence, icd10, make_visit
from tests.factories import make_doctor, make_staff, make_user
from tests.prescriptions.builders import PIN, make_drug, make_pharmacist, pki, with_signing_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cheap_signing(settings: Any) -> None:
    settings.SIGNING_PIN_SCRYPT_N = 2**4


@pytest.fixture
def visit() -> Visit:
    """A checked-in patient (allergic to sulfonamides) whose evidence no doctor verified yet."""
    visit = make_visit("checked_in", evidence=False)
    Patient.objects.filter(pk=visit.patient.pk).update(allergies=["磺胺类药物"])
    visit.patient.refresh_from_db()
    give_evidence(visit.patient, visit.staff, verified_by=None)
    return visit


@pytest.fixture
def started(visit: Visit) -> Visit:
    """The same visit in progress, its evidence verified."""
    give_evidence(visit.patient, visit.staff, verified_by=visit.doctor)
    Consultation.objects.filter(pk=visit.consultation.pk).update(status="in_progress")
    visit.refresh()
    return visit


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def draft_of(visit: Visit) -> Prescription:
    from prescriptions.rules import DraftSpec, ItemSpec
    from prescriptions.services import prescribing

    drug = make_drug()
    return prescribing.prescription_create(
        actor=actor_for_user(visit.doctor),
        consultation=visit.consultation,
        diagnosis_code="I10",
        spec=DraftSpec(
            items=[
                ItemSpec(drug=drug, dose=Decimal(5), frequency="qd", route="oral", days_supply=7)
            ]
        ),
    )


# --- Who may open what -------------------------------------------------------------------------

PAGES: list[tuple[str, str, Callable[[Visit, Prescription], str]]] = [
    ("home", "get", lambda v, p: reverse("workstation:home")),
    ("queue", "get", lambda v, p: reverse("workstation:queue")),
    ("drugs", "get", lambda v, p: reverse("workstation:drugs")),
    (
        "consultation",
        "get",
        lambda v, p: reverse("workstation:consultation", args=[v.consultation.public_id]),
    ),
    ("start", "post", lambda v, p: reverse("workstation:start", args=[v.consultation.public_id])),
    (
        "complete",
        "post",
        lambda v, p: reverse("workstation:complete", args=[v.consultation.public_id]),
    ),
    (
        "terminate",
        "post",
        lambda v, p: reverse("workstation:terminate", args=[v.consultation.public_id]),
    ),
    ("note", "post", lambda v, p: reverse("workstation:note", args=[v.consultation.public_id])),
    (
        "diagnoses",
        "post",
        lambda v, p: reverse("workstation:diagnoses", args=[v.consultation.public_id]),
    ),
    (
        "evidence-verify",
        "post",
        lambda v, p: reverse(
            "workstation:evidence-verify",
            args=[v.consultation.public_id, v.patient.evidence.first().public_id],  # type: ignore[union-attr]
        ),
    ),
    (
        "prescription-new",
        "post",
        lambda v, p: reverse("workstation:prescription-new", args=[v.consultation.public_id]),
    ),
    ("prescription", "get", lambda v, p: reverse("workstation:prescription", args=[p.public_id])),
    (
        "prescription-edit",
        "post",
        lambda v, p: reverse("workstation:prescription-edit", args=[p.public_id]),
    ),
    (
        "warning-acknowledge",
        "post",
        lambda v, p: reverse("workstation:warning-acknowledge", args=[p.public_id, 1]),
    ),
    (
        "prescription-sign",
        "post",
        lambda v, p: reverse("workstation:prescription-sign", args=[p.public_id]),
    ),
    (
        "prescription-revise",
        "post",
        lambda v, p: reverse("workstation:prescription-revise", args=[p.public_id]),
    ),
]
OBJECT_PAGES = [page for page in PAGES if page[0] not in ("home", "queue", "drugs")]


def call(client: Client, method: str, path: str) -> Any:
    return client.get(path) if method == "get" else client.post(path, {})


@pytest.mark.parametrize(("name", "method", "path"), PAGES, ids=[page[0] for page in PAGES])
def test_anonymous_visitors_are_sent_to_sign_in(started: Visit, name: str, method: str, path: Any):
    url = path(started, draft_of(started))
    response = call(client_for(None), method, url)
    assert (response.status_code, response["Location"]) == (302, f"/accounts/login/?next={url}")


@pytest.mark.parametrize(
    "role", [Role.CLINIC_STAFF, Role.PHARMACIST, Role.PATIENT, Role.OPERATIONS]
)
@pytest.mark.parametrize(("name", "method", "path"), PAGES, ids=[page[0] for page in PAGES])
def test_other_roles_are_refused(started: Visit, role: str, name: str, method: str, path: Any):
    user = make_staff() if role == Role.CLINIC_STAFF else make_user(role=role)
    response = call(client_for(user), method, path(started, draft_of(started)))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("name", "method", "path"), OBJECT_PAGES, ids=[page[0] for page in OBJECT_PAGES]
)
def test_another_doctor_finds_nothing(started: Visit, name: str, method: str, path: Any):
    draft = draft_of(started)
    response = call(client_for(make_doctor()), method, path(started, draft))
    assert response.status_code == 404
    assert Consultation.objects.get(pk=started.consultation.pk).status == "in_progress"
    assert Prescription.objects.get().status == "draft"


# --- Queue and starting ------------------------------------------------------------------------


def test_the_queue_lists_checked_in_patients_and_polls(visit: Visit):
    client = client_for(visit.doctor)
    home = client.get(reverse("workstation:home"))
    assert home.status_code == 200
    assert [c.pk for c in home.context["queue"]] == [visit.consultation.pk]
    partial = client.get(reverse("workstation:queue"))
    assert 'hx-trigger="every 10s"' in partial.content.decode()
    assert str(visit.consultation.public_id) in partial.content.decode()


def test_starting_needs_verified_evidence_which_the_doctor_verifies_on_the_page(visit: Visit):
    client = client_for(visit.doctor)
    start = reverse("workstation:start", args=[visit.consultation.public_id])
    refused = client.post(start)
    assert refused.status_code == 409
    assert refused.context["error"]["code"] == "followup_evidence_required"
    assert visit.refresh().status == "checked_in"

    evidence = visit.patient.evidence.get()
    verified = client.post(
        reverse(
            "workstation:evidence-verify", args=[visit.consultation.public_id, evidence.public_id]
        )
    )
    assert verified.status_code == 302
    evidence.refresh_from_db()
    assert evidence.verified_by == visit.doctor

    assert client.post(start).status_code == 302
    assert visit.refresh().status == "in_progress"
    page = client.get(reverse("workstation:consultation", args=[visit.consultation.public_id]))
    assert page.context["video"]["participant"].side == "doctor"
    assert "data-video-call" in page.content.decode()


def test_the_summary_shows_allergies_evidence_and_history(started: Visit):
    page = client_for(started.doctor).get(
        reverse("workstation:consultation", args=[started.consultation.public_id])
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="allergies" class="allergy">磺胺类药物<' in html
    assert page.context["has_verified_evidence"] is True
    assert page.context["history"] == []


# --- The record --------------------------------------------------------------------------------


def test_the_note_and_diagnoses_are_saved_through_the_services(started: Visit):
    icd10()
    client = client_for(started.doctor)
    url = started.consultation.public_id
    note = client.post(
        reverse("workstation:note", args=[url]),
        {"subjective": "头晕两天", "objective": "血压 150/95", "assessment": "高血压控制欠佳"},
    )
    assert note.status_code == 302
    assert ClinicalNote.objects.get().assessment == "高血压控制欠佳"
    diagnoses = client.post(reverse("workstation:diagnoses", args=[url]), {"primary": "i10"})
    assert diagnoses.status_code == 302
    assert [(d.code.code, d.is_primary) for d in ConsultationDiagnosis.objects.all()] == [
        ("I10", True)
    ]


def test_an_unknown_diagnosis_code_is_shown_next_to_the_field(started: Visit):
    response = client_for(started.doctor).post(
        reverse("workstation:diagnoses", args=[started.consultation.public_id]),
        {"primary": "Q99.9"},
    )
    assert response.status_code == 400
    assert response.context["error"]["code"] == "diagnosis_code_unknown"
    assert response.context["diagnoses_form"].errors["primary"] == ["Unknown ICD-10 code."]
    assert not ConsultationDiagnosis.objects.exists()


def test_completing_needs_the_assessment_then_completes(started: Visit):
    client = client_for(started.doctor)
    complete = reverse("workstation:complete", args=[started.consultation.public_id])
    refused = client.post(complete)
    assert refused.status_code == 409
    assert refused.context["error"]["code"] == "note_required"
    ClinicalNote.objects.create(
        consultation=started.consultation, assessment="稳定", author=started.doctor
    )
    ConsultationDiagnosis.objects.create(
        consultation=started.consultation, code=icd10(), is_primary=True, recorded_by=started.doctor
    )
    assert client.post(complete).status_code == 302
    assert started.refresh().status == "completed"


def test_terminating_needs_a_referral_note_then_refers(started: Visit):
    client = client_for(started.doctor)
    url = reverse("workstation:terminate", args=[started.consultation.public_id])
    missing = client.post(url, {"reason_code": "condition_changed", "referral_note": ""})
    assert missing.status_code == 400
    assert "referral_note" in missing.context["terminate_form"].errors
    assert started.refresh().status == "in_progress"
    done = client.post(
        url, {"reason_code": "emergency", "referral_note": "胸痛，建议立即到急诊科就诊"}
    )
    assert done.status_code == 302
    consultation = started.refresh()
    assert (consultation.status, consultation.termination_reason) == ("terminated", "emergency")


# --- Prescribing -------------------------------------------------------------------------------


def rx_form(prefix: str, drug_code: str, **changes: Any) -> dict[str, Any]:
    values = {
        f"{prefix}-diagnosis": "I10",
        f"{prefix}-validity_days": "1",
        f"{prefix}-item0-drug": drug_code,
        f"{prefix}-item0-dose": "25",
        f"{prefix}-item0-frequency": "qd",
        f"{prefix}-item0-route": "",
        f"{prefix}-item0-days_supply": "7",
    }
    values.update({f"{prefix}-{key}": value for key, value in changes.items()})
    return values


@pytest.fixture
def thiazide() -> Any:
    return make_drug(
        code="C03AA03-TAB-25MG",
        name_zh="氢氯噻嗪片",
        name_en="Hydrochlorothiazide tablets",
        atc_code="C03AA03",
        strength="25 mg",
        strength_per_unit=25,
        units_per_pack=100,
        pack_unit="瓶",
        price_fen=450,
        max_daily_dose=100,
        allergy_classes=["磺胺类药物"],
    )


def test_a_draft_is_written_and_its_allergy_warning_shown(started: Visit, thiazide: Any):
    client = client_for(started.doctor)
    response = client.post(
        reverse("workstation:prescription-new", args=[started.consultation.public_id]),
        rx_form("rx-new", thiazide.code),
    )
    prescription = Prescription.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(f"#rx-{prescription.public_id}")
    item = prescription.items.get()
    assert (item.route, item.quantity, item.days_supply) == ("oral", 1, 7)
    page = client.get(response["Location"].split("#")[0])
    html = page.content.decode()
    assert 'data-kind="allergy" data-acknowledged="false"' in html
    assert page.context["prescriptions"][0]["unacknowledged"] == 1


def test_a_rule_violation_is_shown_where_it_happens_and_nothing_is_saved(
    started: Visit, thiazide: Any
):
    response = client_for(started.doctor).post(
        reverse("workstation:prescription-new", args=[started.consultation.public_id]),
        rx_form("rx-new", thiazide.code, **{"item0-days_supply": "14"}),
    )
    assert response.status_code == 400
    assert response.context["error"]["code"] == "supply_reason_required"
    editor = response.context["new_editor"]
    assert editor.form.errors["supply_reason"] == ["More than 7 days' supply needs a reason."]
    assert 'data-code="supply_reason_required"' in response.content.decode()
    assert not Prescription.objects.exists()


def test_an_item_level_rule_is_listed_above_the_drug_rows(started: Visit):
    banned = make_drug(code="N02AA01-INJ", name_zh="吗啡注射液", control_class="narcotic")
    response = client_for(started.doctor).post(
        reverse("workstation:prescription-new", args=[started.consultation.public_id]),
        rx_form("rx-new", banned.code, **{"item0-dose": "5"}),
    )
    assert response.status_code == 400
    assert response.context["error"]["code"] == "controlled_drug_banned"
    assert response.context["new_editor"].errors == [
        "吗啡注射液 (麻醉药品 narcotic) cannot be prescribed online."
    ]
    assert not Prescription.objects.exists()


def test_an_unknown_drug_is_marked_on_its_row(started: Visit):
    response = client_for(started.doctor).post(
        reverse("workstation:prescription-new", args=[started.consultation.public_id]),
        rx_form("rx-new", "NOT-A-DRUG"),
    )
    assert response.status_code == 400
    assert response.context["new_editor"].rows[0].errors["drug"] == [
        "未知药品：请从药品目录中选择。"
    ]
    assert not Prescription.objects.exists()


def test_a_diagnosis_without_verified_evidence_is_refused(started: Visit, thiazide: Any):
    icd10("E11.9", "2型糖尿病", "Type 2 diabetes mellitus")
    response = client_for(started.doctor).post(
        reverse("workstation:prescription-new", args=[started.consultation.public_id]),
        rx_form("rx-new", thiazide.code, diagnosis="E11.9"),
    )
    assert response.status_code == 400
    assert response.context["error"]["code"] == "diagnosis_not_follow_up"
    assert response.context["new_editor"].form.errors["diagnosis"] == [
        "No verified prior diagnosis in this category."
    ]


def test_editing_a_draft_rewrites_it(started: Visit, thiazide: Any):
    draft = draft_of(started)
    prefix = f"rx-{draft.public_id}"
    response = client_for(started.doctor).post(
        reverse("workstation:prescription-edit", args=[draft.public_id]),
        rx_form(prefix, thiazide.code, **{"item0-dose": "12.5"}),
    )
    assert response.status_code == 302
    item = draft.items.get()
    assert (item.drug, item.dose) == (thiazide, 12.5)
    assert draft.warnings.get().kind == "allergy"


def test_signing_refuses_unacknowledged_warnings_and_wrong_pins_then_signs(
    started: Visit, thiazide: Any
):
    pki()
    with_signing_key(started.doctor)
    client = client_for(started.doctor)
    client.post(
        reverse("workstation:prescription-new", args=[started.consultation.public_id]),
        rx_form("rx-new", thiazide.code),
    )
    prescription = Prescription.objects.get()
    sign = reverse("workstation:prescription-sign", args=[prescription.public_id])

    unacknowledged = client.post(sign, {"pin": PIN})
    assert unacknowledged.status_code == 400
    assert unacknowledged.context["error"]["code"] == "warnings_unacknowledged"

    warning = prescription.warnings.get()
    acknowledge = reverse(
        "workstation:warning-acknowledge", args=[prescription.public_id, warning.pk]
    )
    blank = client.post(acknowledge, {"reason": ""})
    assert blank.status_code == 400
    assert PrescriptionWarning.objects.get().acknowledged_at is None
    reason = "既往磺胺类抗生素皮疹，噻嗪类已服用三年无反应"
    assert client.post(acknowledge, {"reason": reason}).status_code == 302
    assert PrescriptionWarning.objects.get().acknowledged_reason == reason

    wrong = client.post(sign, {"pin": "000000"})
    assert wrong.status_code == 403
    assert wrong.context["error"]["code"] == "signing_pin_invalid"
    block = wrong.context["prescriptions"][0]
    assert block["pin"].errors["pin"]
    assert Prescription.objects.get().status == "draft"

    signed = client.post(sign, {"pin": PIN})
    assert signed.status_code == 302
    prescription.refresh_from_db()
    assert prescription.status == "signed"
    assert prescription.signed_content
    page = client.get(reverse("workstation:prescription", args=[prescription.public_id]))
    assert reverse("prescription-pdf", args=[prescription.public_id]) in page.content.decode()


def test_a_rejected_prescription_shows_the_reasons_and_is_revised(started: Visit, thiazide: Any):
    pki()
    with_signing_key(started.doctor)
    draft = draft_of(started)
    signed = lifecycle.prescription_sign(
        actor=actor_for_user(started.doctor), prescription=draft, pin=PIN
    )
    lifecycle.prescription_reject(
        actor=actor_for_user(make_pharmacist()),
        prescription=signed,
        reasons=["dose"],
        comment="剂量偏低，请调整",
    )
    client = client_for(started.doctor)
    home = client.get(reverse("workstation:home"))
    assert [p.pk for p in home.context["to_revise"]] == [draft.pk]
    page = client.get(reverse("workstation:prescription", args=[draft.public_id]))
    html = page.content.decode()
    assert "剂量偏低，请调整" in html
    assert "<code>dose</code>" in html
    revised = client.post(reverse("workstation:prescription-revise", args=[draft.public_id]))
    assert revised.status_code == 302
    new_version = Prescription.objects.get(previous_version=draft)
    assert (new_version.version, new_version.status) == (2, "draft")
    again = client.post(reverse("workstation:prescription-revise", args=[draft.public_id]))
    assert again.status_code == 409
    assert again.context["error"]["code"] == "already_revised"


def test_the_drug_picker_offers_prescribable_drugs_only(started: Visit, thiazide: Any):
    make_drug(code="N02AA01-INJ", name_zh="氢吗啡酮注射液", control_class="narcotic")
    response = client_for(started.doctor).get(
        reverse("workstation:drugs"), {"for": "rx-new-item0-drug", "rx-new-item0-drug": "氢"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<option value="{thiazide.code}">' in html
    assert "N02AA01-INJ" not in html


def test_the_queue_is_empty_for_a_doctor_with_nobody_waiting():
    response = client_for(make_doctor()).get(reverse("workstation:home"))
    assert response.status_code == 200
    assert response.context["queue"] == []
