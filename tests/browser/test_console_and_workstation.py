"""The staff side of the journey in Chromium: the clinic console registers and books, the doctor
consults and prescribes through a warning, the pharmacist approves, and (once paid) the console
hands the medicine over — in Simplified Chinese, then the same pages in English, on the
terminal's screen and on a phone, with no console errors."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect

from payments.models import FulfilmentMethod, OrderStatus, PaymentOrder
from pharmacy.services import fulfilment_start
from tests.browser.conftest import BrowserPages
from tests.browser.journey import (
    ALLERGY_REASON,
    WAIT_MS,
    Journey,
    doctor_consults_and_prescribes,
    pharmacist_approves,
    release_stock_movements_for_flush,
    set_the_scene,
    staff_hands_over,
    staff_registers_and_books,
    switch_to_english,
)

pytestmark = pytest.mark.browser

TERMINAL_SCREEN = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
# The page is no wider than the screen: nothing to scroll sideways (tables scroll in their box).
FITS_THE_SCREEN = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def stock_movements_released(browser_pages: BrowserPages) -> Iterator[None]:
    """Set up after the browser pages, so released before the tables are emptied."""
    yield
    release_stock_movements_for_flush()


def heading(page: Page) -> str:
    return page.locator("main h1").first.inner_text()


def test_from_registration_to_the_handover(
    browser_pages: BrowserPages, stock_movements_released: None, settings: Any
):
    settings.SIGNING_PIN_SCRYPT_N = 2**4  # the sealed keys record their own cost
    journey = Journey(browser_pages, set_the_scene(), name="staff-journey")

    consultation = staff_registers_and_books(journey)
    consultation.refresh_from_db()
    assert (consultation.status, consultation.fee_fen) == ("checked_in", 3000)
    assert consultation.checked_in_terminal == journey.scene.terminal
    assert consultation.patient.identity_verified_at is not None
    assert consultation.patient.consents.count() == 1
    assert [v.kind for v in consultation.vitals.all()] == ["blood_pressure"]

    prescription = doctor_consults_and_prescribes(journey, consultation)
    consultation.refresh_from_db()
    assert consultation.status == "completed"
    assert prescription.status == "signed"
    assert [(w.kind, w.acknowledged_reason) for w in prescription.warnings.all()] == [
        ("allergy", ALLERGY_REASON)
    ]
    assert [item.drug.code for item in prescription.items.all()] == [
        "C08CA01-TAB-5MG",
        "C03AA03-TAB-25MG",
    ]

    approved = pharmacist_approves(journey, prescription)
    assert approved.status == "approved"
    assert approved.pharmacist_signature
    order = PaymentOrder.objects.get(prescription=approved)

    # The patient pays on the phone pages in tests/browser/test_journeys.py; here the order is
    # marked paid for pickup directly, so that the console's handover runs in the browser.
    now = timezone.now()
    PaymentOrder.objects.filter(pk=order.pk).update(
        status=OrderStatus.PAID,
        paid_fen=F("payable_fen"),
        paid_at=now,
        fulfilment_method=FulfilmentMethod.PICKUP,
        pickup_facility=journey.scene.facility,
        fulfilment_chosen_at=now,
    )
    order.refresh_from_db()
    with transaction.atomic():
        ready = fulfilment_start(order=order)
    assert ready is not None
    handed_over = staff_hands_over(journey, ready.pickup_code)
    assert handed_over.status == "picked_up"
    approved.refresh_from_db()
    assert approved.status == "dispensed"

    # The camera scan opens the terminal's camera (Chromium's fake one) and closes again.
    staff = browser_pages.pages["staff"]
    staff.click("#scan-start")
    expect(staff.locator("#qr-reader video")).to_be_visible(timeout=WAIT_MS)
    journey.snap(staff, "camera-scan")
    staff.click("#scan-start")
    expect(staff.locator("#qr-reader")).to_be_hidden(timeout=WAIT_MS)

    doctor, pharmacist = browser_pages.pages["doctor"], browser_pages.pages["pharmacist"]
    staff.goto("/console/")
    assert (heading(staff), heading(pharmacist)) == ("诊所终端控制台", "处方审核")
    expect(doctor.locator("#summary h2")).to_have_text("患者摘要")

    for page, english in (
        (staff, "Clinic console"),
        (doctor, consultation.patient.name),
        (pharmacist, "Prescription review"),
    ):
        switch_to_english(page)
        assert heading(page).startswith(english)
        journey.snap(page, "english")
    expect(doctor.locator("#summary h2")).to_have_text("Patient summary")

    for size in (TERMINAL_SCREEN, PHONE):
        for page in (staff, doctor, pharmacist):
            page.set_viewport_size(size)
            page.reload()
            assert page.evaluate(FITS_THE_SCREEN), f"{page.url} is wider than {size}"
            journey.snap(page, f"{size['width']}px")

    browser_pages.assert_no_console_errors()
