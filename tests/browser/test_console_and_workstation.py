"""The staff side of the journey in Chromium: the clinic console registers and books, the doctor
consults and prescribes through a warning, the pharmacist approves — in Simplified Chinese, then
the same pages in English, on the terminal's screen and on a phone, with no console errors."""

from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from payments.models import PaymentOrder
from tests.browser.conftest import BrowserPages
from tests.browser.journey import (
    ALLERGY_REASON,
    Journey,
    doctor_consults_and_prescribes,
    pharmacist_approves,
    set_the_scene,
    staff_registers_and_books,
    switch_to_english,
)

pytestmark = pytest.mark.browser

TERMINAL_SCREEN = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
# The page is no wider than the screen: nothing to scroll sideways (tables scroll in their box).
FITS_THE_SCREEN = "() => document.documentElement.scrollWidth <= window.innerWidth"


def heading(page: Page) -> str:
    return page.locator("main h1").first.inner_text()


def test_from_registration_to_the_pharmacists_approval(browser_pages: BrowserPages, settings: Any):
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
    assert PaymentOrder.objects.filter(prescription=approved).count() == 1

    staff, doctor, pharmacist = (browser_pages.pages[n] for n in ("staff", "doctor", "pharmacist"))
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
