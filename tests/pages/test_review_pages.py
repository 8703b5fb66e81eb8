"""The pharmacist's review pages: who may open them, the queue with its pre-screen flags, and
approving (countersignature with the PIN) or rejecting with reasons — refusals shown with their
code and nothing written."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role, User
from core.actors import actor_for_user
from patients.models import Patient
from payments.models import PaymentOrder
from prescriptions.models import Prescription
from prescriptions.services import lifecycle, prescribing
from tests.consultations.builders import make_visit
from tests.factories import make_doctor, make_staff, make_user
from tests.prescriptions.builders import (
    PIN,
    item,
    make_drug,
    make_pharmacist,
    pki,
    spec,
    with_signing_key,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _platform_ca(settings: Any) -> None:
    settings.SIGNING_PIN_SCRYPT_N = 2**4
    pki()


@pytest.fixture
def pharmacist() -> User:
    return make_pharmacist()


@pytest.fixture
def signed() -> Prescription:
    """A signed prescription whose allergy warning the doctor acknowledged with a reason."""
    visit = make_visit("in_progress")
    Patient.objects.filter(pk=visit.patient.pk).update(allergies=["磺胺类药物"])
    thiazide = make_drug(
        code="C03AA03-TAB-25MG",
        name_zh="氢氯噻嗪片",
        atc_code="C03AA03",
        strength_per_unit=Decimal(25),
        units_per_pack=100,
        max_daily_dose=Decimal(100),
        allergy_classes=["磺胺类药物"],
    )
    doctor = actor_for_user(with_signing_key(visit.doctor))
    draft = prescribing.prescription_create(
        actor=doctor,
        consultation=visit.consultation,
        diagnosis_code="I10",
        spec=spec(item(thiazide, dose=Decimal(25))),
    )
    prescribing.warning_acknowledge(
        actor=doctor,
        prescription=draft,
        warning_id=draft.warnings.get().pk,
        reason="磺胺类抗生素皮疹史，噻嗪类已服三年无反应",
    )
    return lifecycle.prescription_sign(actor=doctor, prescription=draft, pin=PIN)


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


PAGES: list[tuple[str, str, Callable[[Prescription], str]]] = [
    ("home", "get", lambda p: reverse("review:home")),
    ("queue", "get", lambda p: reverse("review:queue")),
    ("prescription", "get", lambda p: reverse("review:prescription", args=[p.public_id])),
    ("approve", "post", lambda p: reverse("review:approve", args=[p.public_id])),
    ("reject", "post", lambda p: reverse("review:reject", args=[p.public_id])),
]


def call(client: Client, method: str, path: str) -> Any:
    return client.get(path) if method == "get" else client.post(path, {})


@pytest.mark.parametrize(("name", "method", "path"), PAGES, ids=[page[0] for page in PAGES])
def test_anonymous_visitors_are_sent_to_sign_in(
    signed: Prescription, name: str, method: str, path: Any
):
    url = path(signed)
    response = call(client_for(None), method, url)
    assert (response.status_code, response["Location"]) == (302, f"/accounts/login/?next={url}")


@pytest.mark.parametrize("role", [Role.CLINIC_STAFF, Role.DOCTOR, Role.PATIENT, Role.OPERATIONS])
@pytest.mark.parametrize(("name", "method", "path"), PAGES, ids=[page[0] for page in PAGES])
def test_other_roles_are_refused(
    signed: Prescription, role: str, name: str, method: str, path: Any
):
    if role == Role.CLINIC_STAFF:
        user = make_staff()
    elif role == Role.DOCTOR:
        user = make_doctor()
    else:
        user = make_user(role=role)
    response = call(client_for(user), method, path(signed))
    assert response.status_code == 403
    assert Prescription.objects.get(pk=signed.pk).status == "signed"


@pytest.mark.parametrize(("name", "method", "path"), PAGES[2:], ids=[page[0] for page in PAGES[2:]])
def test_a_draft_is_not_found_by_the_pharmacist(
    pharmacist: User, name: str, method: str, path: Any
):
    visit = make_visit("in_progress")
    draft = prescribing.prescription_create(
        actor=actor_for_user(visit.doctor),
        consultation=visit.consultation,
        diagnosis_code="I10",
        spec=spec(item(make_drug())),
    )
    response = call(client_for(pharmacist), method, path(draft))
    assert response.status_code == 404
    assert Prescription.objects.get(pk=draft.pk).status == "draft"


def test_the_queue_shows_signed_prescriptions_with_their_flags(
    signed: Prescription, pharmacist: User
):
    client = client_for(pharmacist)
    home = client.get(reverse("review:home"))
    assert home.status_code == 200
    [entry] = home.context["entries"]
    assert entry["prescription"].pk == signed.pk
    assert [flag["kind"] for flag in entry["flags"]] == ["allergy"]
    partial = client.get(reverse("review:queue")).content.decode()
    assert 'hx-trigger="every 10s"' in partial
    assert 'data-kind="allergy"' in partial


def test_the_detail_shows_the_items_and_the_doctors_reason(signed: Prescription, pharmacist: User):
    page = client_for(pharmacist).get(reverse("review:prescription", args=[signed.public_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "氢氯噻嗪片" in html
    assert "磺胺类抗生素皮疹史，噻嗪类已服三年无反应" in html
    assert page.context["awaiting_review"] is True


def test_approving_needs_the_right_pin_then_countersigns(signed: Prescription, pharmacist: User):
    client = client_for(pharmacist)
    url = reverse("review:approve", args=[signed.public_id])
    wrong = client.post(url, {"pin": "000000"})
    assert wrong.status_code == 403
    assert wrong.context["error"]["code"] == "signing_pin_invalid"
    assert wrong.context["approve"].errors["pin"]
    assert Prescription.objects.get(pk=signed.pk).status == "signed"
    assert not PaymentOrder.objects.exists()

    approved = client.post(url, {"pin": PIN})
    assert (approved.status_code, approved["Location"]) == (302, reverse("review:home"))
    prescription = Prescription.objects.get(pk=signed.pk)
    assert prescription.status == "approved"
    assert prescription.pharmacist is not None
    assert prescription.pharmacist.user == pharmacist
    assert prescription.pharmacist_signature
    assert PaymentOrder.objects.filter(prescription=prescription).count() == 1
    again = client.post(url, {"pin": PIN})
    assert again.status_code == 409
    assert again.context["error"]["code"] == "invalid_transition"


def test_rejecting_needs_a_reason_and_a_comment(signed: Prescription, pharmacist: User):
    client = client_for(pharmacist)
    url = reverse("review:reject", args=[signed.public_id])
    empty = client.post(url, {"comment": "剂量偏低"})
    assert empty.status_code == 400
    assert "reasons" in empty.context["reject"].errors
    assert Prescription.objects.get(pk=signed.pk).status == "signed"

    rejected = client.post(url, {"reasons": ["dose", "allergy"], "comment": "请改用其他利尿剂"})
    assert rejected.status_code == 302
    prescription = Prescription.objects.get(pk=signed.pk)
    assert (
        prescription.status,
        prescription.rejection_reasons,
        prescription.rejection_comment,
    ) == (
        "rejected",
        ["allergy", "dose"],
        "请改用其他利尿剂",
    )
    assert not PaymentOrder.objects.exists()
