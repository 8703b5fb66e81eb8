"""Patient data rights (export), access from outside the care team flagged for review, records
past retention flagged (never deleted), and no patient identifiers in logs or task payloads."""

import io
import logging
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from celery import signals
from django.conf import settings
from django.test import Client
from pypdf import PdfReader

from consultations.models import Consultation
from core.models import RetentionFlag
from core.retention import retention_report, retention_scan
from patients.access_review import access_review_scan
from patients.models import AccessReviewFlag
from patients.services import patient_decrypt_id_number
from tests.consultations.builders import make_visit
from tests.factories import api_client, make_doctor, make_staff, make_user
from tests.payments.factories import (
    make_sale,
    open_attempt,
    payer_pays_quietly,
    post_callback,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, scope="module")
def _payment_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = settings.PAYMENT_KEYS_DIR
    settings.PAYMENT_KEYS_DIR = tmp_path_factory.mktemp("payment-keys")
    try:
        yield
    finally:
        settings.PAYMENT_KEYS_DIR = previous


def test_a_patient_downloads_everything_held_about_them_as_json_and_pdf() -> None:
    sale = make_sale()
    client = api_client(sale.patient_user)
    data = client.get("/api/v1/me/data-export/").json()
    patient = sale.visit.patient
    assert data["patient"]["id_number"] == patient_decrypt_id_number(patient=patient)
    assert [c["id"] for c in data["consultations"]] == [str(sale.visit.consultation.public_id)]
    assert data["prescriptions"][0]["number"].startswith(sale.prescription.number)
    assert data["orders"][0]["number"] == sale.order.number
    assert data["evidence"][0]["verified"] is True
    pdf = client.get("/api/v1/me/data-export/?as=pdf")
    assert pdf["Content-Type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert patient.name in text


@pytest.mark.parametrize("role", ["staff", "doctor", "operations", "anonymous"])
def test_the_export_is_the_patients_own(role: str) -> None:
    users: dict[str, Callable[[], Any]] = {
        "staff": make_staff,
        "doctor": make_doctor,
        "operations": make_user,
    }
    client = Client() if role == "anonymous" else api_client(users[role]())
    response = client.get("/api/v1/me/data-export/")
    assert response.status_code == (401 if role == "anonymous" else 403)


def test_access_from_outside_the_care_team_is_flagged_for_review() -> None:
    visit = make_visit("in_progress")
    patient_id = str(visit.patient.public_id)
    # The treating doctor and the facility's staff: the care team.
    assert (
        api_client(visit.doctor)
        .get(f"/api/v1/consultations/{visit.consultation.public_id}/")
        .status_code
        == 200
    )
    assert api_client(visit.staff).get(f"/api/v1/patients/{patient_id}/").status_code == 200
    # Operations can read any record; it is legitimate, but reviewed.
    operator = make_user()
    assert api_client(operator).get(f"/api/v1/patients/{patient_id}/").status_code == 200
    assert access_review_scan() == 1
    flag = AccessReviewFlag.objects.get()
    assert (flag.actor_id, flag.reason, flag.patient_id) == (
        operator.pk,
        "operations_access",
        visit.patient.pk,
    )
    assert access_review_scan() == 0  # the cursor moved on: nothing is flagged twice
    reviews = api_client(operator).get("/api/v1/access-reviews/").json()
    assert [row["reason"] for row in reviews] == ["operations_access"]
    resolved = api_client(operator).post(
        f"/api/v1/access-reviews/{flag.pk}/resolve/", {"note": "投诉调查所需"}, format="json"
    )
    assert resolved.json()["review_note"] == "投诉调查所需"
    assert api_client(operator).get("/api/v1/access-reviews/").json() == []
    assert api_client(visit.doctor).get("/api/v1/access-reviews/").status_code == 403


def test_records_past_retention_are_flagged_never_deleted() -> None:
    import datetime

    old = make_visit("completed").consultation
    Consultation.objects.filter(pk=old.pk).update(retention_until=datetime.date(2020, 1, 1))
    make_visit("completed")
    assert retention_scan() == {
        "consultation": 1,
        "recording": 0,
        "prescription": 0,
        "chat_message": 0,
    }
    assert retention_scan()["consultation"] == 0
    assert Consultation.objects.filter(pk=old.pk).exists()
    assert list(RetentionFlag.objects.values_list("object_id", flat=True)) == [str(old.public_id)]
    report = api_client(make_user()).get("/api/v1/retention-report/").json()
    assert report["types"][0]["object_type"] == "consultation"
    assert report["types"][0]["count"] == 1
    assert retention_report()[0]["oldest"] == datetime.date(2020, 1, 1)


def _pickup_journey() -> Any:
    """Approved prescription → order → WeChat Pay notification → pickup code → handover."""
    from pharmacy.models import FacilityStock
    from provider_emulators.hooks import emulator_signed_callback

    sale = make_sale()
    attempt = open_attempt(sale)
    payer_pays_quietly(attempt)
    callback = emulator_signed_callback(provider="wechatpay", out_trade_no=attempt.out_trade_no)
    assert post_callback(Client(), callback, provider="wechatpay").status_code in (200, 204)
    client = api_client(sale.patient_user)
    client.get("/api/v1/orders/")
    client.get("/api/v1/prescriptions/")
    fulfilments = client.get("/api/v1/fulfilments/").json()["results"]
    pickup = client.get(f"/api/v1/fulfilments/{fulfilments[0]['id']}/").json()
    staff = make_staff(facility=sale.order.pickup_facility)
    for item in sale.prescription.items.all():
        FacilityStock.objects.update_or_create(
            facility=sale.order.pickup_facility, drug=item.drug, defaults={"quantity": 50}
        )
    handed = api_client(staff).post(
        "/api/v1/fulfilments/pickup/", {"code": pickup["pickup"]["code"]}, format="json"
    )
    assert handed.status_code == 200, handed.content
    return sale


def test_logs_and_task_payloads_of_a_whole_journey_carry_no_patient_identifiers(
    caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    """Every log line and every task's arguments of the journey are scanned for the patient's
    identifiers; after-commit work (notification deliveries) runs as after a real commit."""
    task_payloads: list[str] = []

    def capture(task: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
        task_payloads.append(f"{getattr(task, 'name', '')} {args!r} {kwargs!r}")

    signals.task_prerun.connect(capture, weak=False)
    caplog.set_level(logging.DEBUG)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            sale = _pickup_journey()
    finally:
        signals.task_prerun.disconnect(capture)
    patient = sale.visit.patient
    secrets = {
        "id number": patient_decrypt_id_number(patient=patient),
        "name": patient.name,
        "phone": patient.phone,
        "phone (national)": patient.phone.removeprefix("+86"),
        "diagnosis": sale.prescription.diagnosis.name_zh,
        **{f"drug {n}": item.drug.name_zh for n, item in enumerate(sale.prescription.items.all())},
    }
    logged = [record.getMessage() for record in caplog.records] + [
        str(record.args) for record in caplog.records
    ]
    assert logged, "the journey logged nothing: the scan would prove nothing"
    assert task_payloads, "no task ran: the scan would prove nothing"
    for label, secret in secrets.items():
        assert secret, label
        leaks = [line for line in logged + task_payloads if secret in line]
        assert leaks == [], f"{label} appears in logs or task payloads"
    assert Decimal(sale.refresh().paid_fen) > 0
