"""The whole journey in Chromium, every step through the pages its person uses.

Staff register the patient, record consent and evidence, book and check in; the doctor consults,
prescribes, acknowledges the allergy warning and signs; the pharmacist approves (the staff and
clinician steps: tests/browser/journey.py). Then on the patient's phone: sign in with the code
from the SMS, choose pickup or delivery, pay on the emulated provider's payer page. Pickup: staff
type the pickup code at the console and hand over, and the public verification page shows the
prescription dispensed. Delivery: the courier (its emulator's page) reports each step and the
phone's tracking timeline ends on delivered. Key pages are also shown in English; every step is
a screenshot under test-artifacts/browser/; the browser console stays free of errors.
"""

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from payments.models import PaymentOrder
from pharmacy.models import Fulfilment
from prescriptions.models import Prescription
from tests.browser.conftest import BrowserPages
from tests.browser.journey import (
    PATIENT,
    WAIT_MS,
    Journey,
    doctor_consults_and_prescribes,
    pharmacist_approves,
    set_the_scene,
    staff_hands_over,
    staff_registers_and_books,
    switch_to_english,
)
from tests.browser.test_patient_pages import (
    patient_chooses_and_pays,
    patient_signs_in,
    serve_everything_here,
)

# Payments leave append-only ledger rows, which only PostgreSQL can empty after the test.
pytestmark = [pytest.mark.browser, pytest.mark.postgres]

HOME = {
    "recipient": PATIENT.name,
    "address-phone": PATIENT.phone,
    "province": "广东省",
    "city": "广州市",
    "district": "越秀区",
    "detail": "东风东路 745 号 2 栋 1803",
}
COURIER_STEPS = ("accepted", "picked_up", "in_transit", "out_for_delivery", "delivered")


def approved_prescription(journey: Journey) -> Prescription:
    consultation = staff_registers_and_books(journey)
    prescription = doctor_consults_and_prescribes(journey, consultation)
    prescription = pharmacist_approves(journey, prescription)
    assert prescription.status == "approved"
    return prescription


def public_verification(browser_pages: BrowserPages, journey: Journey, rx: Prescription) -> Page:
    """What anyone holding the printed prescription sees after scanning its QR code."""
    page = browser_pages.open(f"/verify/prescriptions/{rx.public_id}/", name="verifier")
    expect(page.locator("#verification-result")).to_have_attribute("data-valid", "true")
    expect(page.locator("#prescription-status")).to_have_attribute("data-status", "dispensed")
    journey.snap(page, "verified-dispensed")
    return page


def test_pickup_journey(browser_pages: BrowserPages, settings: Any, tmp_path: Path) -> None:
    serve_everything_here(settings, browser_pages.server.url, tmp_path)
    journey = Journey(browser_pages, set_the_scene(), name="journey-pickup")
    prescription = approved_prescription(journey)
    order = PaymentOrder.objects.get(prescription=prescription)

    phone = patient_signs_in(browser_pages, PATIENT.phone, journey.snap)
    patient_chooses_and_pays(browser_pages, phone, order, journey.snap)
    phone.click("#fulfilment-link")
    code = phone.locator("#pickup-code").inner_text()
    assert re.fullmatch(r"\d{8}", code)
    expect(phone.locator("#pickup-qr svg.qr")).to_be_visible()
    journey.snap(phone, "pickup-code")
    switch_to_english(phone)
    expect(phone.locator("h1")).to_have_text("Pickup code")
    journey.snap(phone, "pickup-code-en")

    fulfilment = staff_hands_over(journey, code)

    assert fulfilment.status == "picked_up"
    phone.reload()
    expect(phone.locator("#picked-up")).to_be_visible()
    journey.snap(phone, "picked-up-en")
    verifier = public_verification(browser_pages, journey, prescription)
    switch_to_english(verifier)
    expect(verifier.locator("#prescription-status")).to_have_attribute("data-status", "dispensed")
    journey.snap(verifier, "verified-dispensed-en")
    prescription.refresh_from_db()
    order.refresh_from_db()
    assert (prescription.status, order.status) == ("dispensed", "paid")
    browser_pages.assert_no_console_errors()


def test_delivery_journey(browser_pages: BrowserPages, settings: Any, tmp_path: Path) -> None:
    serve_everything_here(settings, browser_pages.server.url, tmp_path)
    journey = Journey(browser_pages, set_the_scene(), name="journey-delivery")
    prescription = approved_prescription(journey)
    order = PaymentOrder.objects.get(prescription=prescription)

    phone = patient_signs_in(browser_pages, PATIENT.phone, journey.snap)
    patient_chooses_and_pays(
        browser_pages, phone, order, journey.snap, address=HOME, provider="alipay"
    )
    phone.click("#fulfilment-link")
    # Paid, so the hospital pharmacy's parcel is handed to the courier at once.
    expect(phone.locator("#fulfilment-status")).to_have_attribute("data-status", "dispatched")
    waybill = phone.locator("#waybill-number").inner_text()
    journey.snap(phone, "dispatched")

    # The courier reports each step from its own page; each report reaches the platform signed.
    courier = browser_pages.open("/emulators/courier/", name="courier")
    row = courier.locator("tr", has_text=waybill)
    for step, following in zip(COURIER_STEPS, [*COURIER_STEPS[1:], None], strict=True):
        row.locator("button", has_text=f"→ {step}").click()
        if following is not None:
            expect(row.locator("button", has_text=f"→ {following}")).to_be_visible()
    expect(row.locator("button", has_text="→")).to_have_count(0)
    expect(courier.locator(".messages")).to_contain_text("platform answered 200")
    journey.snap(courier, "courier-delivered")

    phone.reload()
    expect(phone.locator("#fulfilment-status")).to_have_attribute(
        "data-status", "delivered", timeout=WAIT_MS
    )
    timeline = phone.locator("#tracking-timeline li")
    expect(timeline.first).to_have_attribute("data-tracking-status", "delivered")
    expect(timeline).to_have_count(len(COURIER_STEPS) + 1)  # and the payment
    expect(phone.locator(".steps li.current")).to_have_text("已签收")
    journey.snap(phone, "delivered")
    switch_to_english(phone)
    expect(phone.locator(".steps li.current")).to_have_text("Delivered")
    journey.snap(phone, "delivered-en")

    fulfilment = Fulfilment.objects.get(order=order)
    order.refresh_from_db()
    assert (fulfilment.method, fulfilment.status, order.status) == ("delivery", "delivered", "paid")
    assert (order.delivery_city, order.delivery_detail) == ("广州市", HOME["detail"])
    public_verification(browser_pages, journey, prescription)
    browser_pages.assert_no_console_errors()
