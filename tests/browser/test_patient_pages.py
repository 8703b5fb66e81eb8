"""The patient's phone pages in Chromium at 390×844: sign in with the code the SMS brought, my
prescriptions, choose pickup, pay on the emulated provider's payer page, see the order paid and
the pickup code; and the operations dashboard with its charts at the terminal's 1280×800.

The steps are functions so the whole-journey tests (test_journeys.py) walk the same path.
"""

import datetime
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect

from accounts.models import Role
from notifications.providers.sms_emulator import default_emulator
from patients.models import Patient
from payments.models import LedgerKind, LedgerSource, PaymentOrder
from payments.services.ledger import ledger_append
from tests.browser.conftest import ARTIFACTS, BrowserPages
from tests.consultations.builders import make_visit
from tests.factories import make_facility, make_terminal, make_user
from tests.payments.factories import Sale, make_sale
from tests.pharmacy.builders import stock_up

# Payments leave append-only ledger rows, which only PostgreSQL can empty after the test.
pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PHONE: ViewportSize = {"width": 390, "height": 844}
TERMINAL_SCREEN: ViewportSize = {"width": 1280, "height": 800}
# Waits, not measurements: how long a step may take before the test gives up (the payment's
# confirmation crosses the provider emulator, the platform's callback and, for a delivery, the
# courier's API on a machine shared with other test runs).
WAIT_MS = 30_000


# --- Steps shared with the journeys ---------------------------------------------------------------


def serve_everything_here(settings: Any, base_url: str, keys_dir: Path) -> None:
    """The providers', the courier's and the SMS emulators all behind the live server (the SMS
    one in-process): the platform calls them and they call it back over real HTTP."""
    settings.SITE_URL = base_url
    settings.PAYMENT_KEYS_DIR = keys_dir
    settings.PAYMENT_EMULATOR_BASE_URL = f"{base_url}/emulators"
    settings.WECHATPAY_API_BASE_URL = f"{base_url}/emulators/wechatpay"
    settings.ALIPAY_GATEWAY_URL = f"{base_url}/emulators/alipay/gateway.do"
    settings.COURIER_API_BASE_URL = f"{base_url}/emulators/courier"
    settings.SMS_API_BASE_URL = ""
    settings.WECHAT_API_BASE_URL = ""
    settings.NOTIFICATION_QUIET_HOURS = ""
    default_emulator.reset()


Snap = Callable[[Page, str], None]


class Shots:
    """Numbered screenshots of a test's steps (the fixture keeps only each page's last state);
    a journey's own `Journey.snap` does the same for the journeys."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.taken = 0

    def __call__(self, page: Page, step: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.taken += 1
        page.screenshot(path=ARTIFACTS / f"{self.name}-{self.taken:02d}-{step}.png", full_page=True)


def last_sms_code(phone: str) -> str:
    """The one-time code in the newest SMS to `phone` (E.164)."""
    texts = [
        json.loads(message["TemplateParam"])["text"]
        for message in default_emulator.snapshot()["sms"]
        if message["PhoneNumbers"] == phone
    ]
    assert texts, f"no SMS to {phone}"
    return re.findall(r"\d{6}", texts[-1])[0]


def patient_signs_in(browser_pages: BrowserPages, national_phone: str, snap: Snap) -> Page:
    """On the phone: the number, then the code from the SMS; ends on "my prescriptions"."""
    page = browser_pages.open("/m/signin/", name="patient")
    page.set_viewport_size(PHONE)
    page.fill("#phone", national_phone)
    snap(page, "phone")
    page.click("#signin-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/m/signin/code/$"))
    page.fill("#code", last_sms_code(f"+86{national_phone}"))
    snap(page, "code")
    page.click("#code-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的处方")
    snap(page, "prescriptions")
    return page


def patient_chooses_and_pays(
    browser_pages: BrowserPages,
    page: Page,
    order: PaymentOrder,
    snap: Snap,
    *,
    address: dict[str, str] | None = None,
    provider: str = "wechatpay",
) -> None:
    """From "my prescriptions": open the order, choose pickup (or delivery to `address`), pay
    on the provider's payer page, and wait on the order page until the provider confirms."""
    page.click(f'a[href="/m/orders/{order.public_id}/"]')
    expect(page.locator("#fulfilment-form")).to_be_visible()
    if address is None:
        page.check("#method-pickup")
    else:
        page.check("#method-delivery")
        for field, value in address.items():
            page.fill(f"#{field}", value)
    snap(page, "choice")
    page.click("#fulfilment-form button[type=submit]")
    expect(page.locator("#fulfilment-choice")).to_have_attribute(
        "data-method", "pickup" if address is None else "delivery"
    )
    page.check(f"#provider-{provider}")
    page.click("#pay-form button[type=submit]")
    expect(page.locator("#pay-link")).to_be_visible()
    expect(page.locator("#payment-status svg.qr")).to_be_visible()
    snap(page, "pay")

    pay_url = page.get_attribute("#pay-link", "href")
    assert pay_url is not None
    payer = browser_pages.open(pay_url, name="payer")
    payer.set_viewport_size(PHONE)
    expect(payer.locator("[data-testid=merchant]")).to_be_visible()
    payer.click("[data-testid=pay]")
    expect(payer.locator("[data-testid=status]")).to_contain_text("Paid")
    snap(payer, "payer-page")

    # The order page polls; once the notification has paid the order it reloads itself.
    expect(page.locator("#paid-amount")).to_be_visible(timeout=WAIT_MS)
    snap(page, "paid")


def stocked_sale(national_phone: str) -> Sale:
    """An approved prescription's unpaid order, the clinic stocked, the patient's own phone."""
    sale = make_sale(fulfilment=None)
    Patient.objects.filter(pk=sale.visit.patient.pk).update(phone=f"+86{national_phone}")
    for item in sale.prescription.items.all():
        stock_up(sale.visit.facility, item.drug, 10)
    return sale


# --- Tests ---------------------------------------------------------------------------------------


def test_a_patient_signs_in_pays_for_pickup_and_shows_the_pickup_code(
    browser_pages: BrowserPages, settings: Any, tmp_path: Path
) -> None:
    snap = Shots("patient-pickup")
    serve_everything_here(settings, browser_pages.server.url, tmp_path)
    sale = stocked_sale("13912345678")

    page = patient_signs_in(browser_pages, "13912345678", snap)
    patient_chooses_and_pays(browser_pages, page, sale.order, snap)

    order = sale.refresh()
    assert (order.status, order.paid_fen, order.fulfilment_method) == ("paid", 5350, "pickup")
    page.click("#fulfilment-link")
    fulfilment = order.fulfilment
    expect(page.locator("#pickup-code")).to_have_text(fulfilment.pickup_code)
    expect(page.locator("#pickup-qr svg.qr")).to_be_visible()
    snap(page, "pickup-code")

    page.click("form.language-switch button")
    expect(page.locator("h1")).to_have_text("Pickup code")
    expect(page.locator("#fulfilment-status")).to_have_text("Ready for pickup")
    snap(page, "pickup-code-en")
    browser_pages.assert_no_console_errors()


def test_the_operations_dashboard_draws_its_charts(
    browser_pages: BrowserPages, settings: Any, tmp_path: Path
) -> None:
    settings.PAYMENT_KEYS_DIR = tmp_path
    for _ in range(3):
        make_visit("completed", starts_in=datetime.timedelta(minutes=-30))
    sale = make_sale()
    ledger_append(
        order=sale.order,
        kind=LedgerKind.PAID,
        amount_fen=sale.order.payable_fen,
        dedupe_key="receipt:dashboard-test",
        source=LedgerSource.CALLBACK,
        occurred_at=timezone.now(),
    )
    make_terminal(make_facility(city="佛山市"))
    operations = make_user(role=Role.OPERATIONS)

    page = browser_pages.open("/operations/", user=operations, name="operations")
    page.set_viewport_size(TERMINAL_SCREEN)

    expect(page.locator("#chart-consultations svg rect")).to_have_count(30)
    expect(page.locator("#chart-revenue svg rect")).to_have_count(60)
    tallest = page.locator("#chart-consultations svg rect").last
    assert float(tallest.get_attribute("height") or 0) > 0  # today's bar
    expect(page.locator("#received-today")).to_have_text("¥53.50")
    snap = Shots("operations")
    snap(page, "dashboard")

    page.click('a[href="/operations/facilities/?offline=1"]')
    expect(page.locator("#facilities tbody tr.has-offline")).to_have_count(1)
    snap(page, "offline-facilities")
    page.click("form.language-switch button")
    expect(page.locator("h1")).to_have_text("Facilities and terminals")
    browser_pages.assert_no_console_errors()
