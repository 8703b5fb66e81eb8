"""The journey through the staff pages, step by step in Chromium, for the browser tests to chain.

    scene = set_the_scene()
    journey = Journey(browser_pages, scene, name="pickup-journey")
    consultation = staff_registers_and_books(journey)
    prescription = doctor_consults_and_prescribes(journey, consultation)
    prescription = pharmacist_approves(journey, prescription)
    ...  # the patient pays on the phone pages
    staff_hands_over(journey, code)
    release_stock_movements_for_flush()  # on SQLite, at the end of a test that dispensed

Each step drives the pages as their user would (clicks, typing, the htmx swaps), checks what
the page shows, and saves a screenshot (`test-artifacts/browser/<name>-NN-<step>.png`). Pages
are opened in the browser's default language (zh-CN, so Simplified Chinese); `switch_to_english`
flips one with the language switch. The scene writes what a transactional test's database has
lost (the seeded ICD-10 codes, consent texts and formulary) and the people of the journey.
"""

import importlib
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection
from playwright.sync_api import Page, expect

from accounts.models import User
from clinics.models import Department, Facility, Terminal
from consultations.models import Consultation, Slot
from patients.models import ConsentTemplate, Patient
from pharmacy.models import Fulfilment, StockMovement
from prescriptions.models import Drug, Prescription
from prescriptions.services.formulary import formulary_load_seed
from tests.browser.conftest import ARTIFACTS, BrowserPages
from tests.consultations.builders import icd10
from tests.factories import (
    PDF_BYTES,
    make_doctor,
    make_facility,
    make_slot,
    make_staff,
    make_terminal,
    resident_id,
)
from tests.pharmacy.builders import stock_up
from tests.prescriptions.builders import PIN, make_pharmacist, pki, with_signing_key

# How long one step may take before the test gives up (a wait, not a measurement).
WAIT_MS = 15_000
# The drugs the doctor prescribes: amlodipine, and hydrochlorothiazide (a sulfonamide, so the
# patient's recorded allergy raises the warning the doctor must acknowledge).
AMLODIPINE = "C08CA01-TAB-5MG"
HYDROCHLOROTHIAZIDE = "C03AA03-TAB-25MG"
ALLERGY_REASON = "既往为磺胺类抗生素皮疹，噻嗪类利尿剂交叉过敏风险低，已告知患者观察皮疹"


@dataclass(frozen=True)
class PatientDetails:
    name: str
    id_number: str
    birth_date: str  # as the inline check shows it
    phone: str
    allergies: str
    chronic_conditions: str


PATIENT = PatientDetails(
    name="陈志强",
    id_number=resident_id(region="440104", birth="19580312", sequence=123),
    birth_date="1958-03-12",
    phone="13800138000",
    allergies="磺胺类药物",
    chronic_conditions="高血压",
)


@dataclass
class Scene:
    """The people and places of one journey (signing PIN: `PIN` for doctor and pharmacist)."""

    facility: Facility
    terminal: Terminal
    staff: User
    doctor: User
    pharmacist: User
    department: Department
    slot: Slot
    pin: str = PIN


def _seed_reference_data() -> None:
    icd10("I10", "特发性（原发性）高血压", "Essential (primary) hypertension")
    icd10("E11.9", "2型糖尿病，不伴有并发症", "Type 2 diabetes mellitus without complications")
    consent = importlib.import_module("patients.migrations.0003_consent_template_2026_1")
    for language, title, text in (
        ("zh-hans", consent.TITLE_ZH, consent.TEXT_ZH),
        ("en", consent.TITLE_EN, consent.TEXT_EN),
    ):
        ConsentTemplate.objects.get_or_create(
            version=consent.VERSION, language=language, defaults={"title": title, "text": text}
        )
    if not Drug.objects.filter(code=AMLODIPINE).exists():
        formulary_load_seed()
    pki()


def set_the_scene() -> Scene:
    """A pharmacy with a terminal and a member of staff, a doctor with free slots from ten
    minutes from now (check-in opens 30 minutes before), a pharmacist, and the two drugs on the
    pharmacy's shelf for pickup."""
    _seed_reference_data()
    facility = make_facility(name="大参林药店（越秀东风东路店）")
    terminal = make_terminal(facility).terminal
    staff = make_staff(facility=facility, full_name="周晓敏")
    doctor = with_signing_key(make_doctor(full_name="林志明"))
    department = doctor.doctor_profile.department
    Department.objects.filter(pk=department.pk).update(name="心血管内科")
    slot = make_slot(doctor, starts_in=timedelta(minutes=10))
    make_slot(doctor, starts_in=timedelta(minutes=40))
    pharmacist = make_pharmacist()
    User.objects.filter(pk=pharmacist.pk).update(full_name="黄丽华")
    for code in (AMLODIPINE, HYDROCHLOROTHIAZIDE):
        stock_up(facility, Drug.objects.get(code=code), 20)
    return Scene(
        facility=facility,
        terminal=terminal,
        staff=staff,
        doctor=doctor,
        pharmacist=User.objects.get(pk=pharmacist.pk),
        department=department,
        slot=slot,
    )


@dataclass
class Journey:
    pages: BrowserPages
    scene: Scene
    name: str
    shots: list[str] = field(default_factory=list)

    def page(self, name: str, user: User, path: str = "/") -> Page:
        """The named page (one browser context per person), opened at `path` the first time."""
        if name not in self.pages.pages:
            return self.pages.open(path, user=user, name=name)
        page = self.pages.pages[name]
        page.goto(path)
        return page

    def snap(self, page: Page, step: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        label = f"{self.name}-{len(self.shots) + 1:02d}-{step}"
        page.screenshot(path=ARTIFACTS / f"{label}.png", full_page=True)
        self.shots.append(label)


def staff_registers_and_books(journey: Journey, patient: PatientDetails = PATIENT) -> Consultation:
    """At the console: register (inline ID check), identity checked, consent signed, evidence
    uploaded, the first slot booked (fee shown), checked in on the terminal, vitals taken."""
    scene = journey.scene
    staff = journey.page("staff", scene.staff, "/")
    expect(staff).to_have_url(re.compile(r"/console/$"))
    journey.snap(staff, "console")

    staff.locator("main a[href$='/console/patients/new/']").click()
    staff.fill("#id_name", patient.name)
    staff.select_option("#id_id_type", "resident_id")
    staff.fill("#id_id_number", patient.id_number)
    staff.locator("#id_id_number").blur()
    expect(staff.locator("#derived-birth-date")).to_have_text(patient.birth_date, timeout=WAIT_MS)
    staff.fill("#id_phone", patient.phone)
    staff.fill("#id_allergies", patient.allergies)
    staff.fill("#id_chronic_conditions", patient.chronic_conditions)
    staff.check("#id_identity_checked")
    journey.snap(staff, "register")
    staff.locator("#register-form button[type=submit]").click()
    expect(staff.locator("#patient-name")).to_have_text(patient.name)

    staff.click("#record-consent")
    expect(staff.locator("#consent-text")).to_contain_text("互联网诊疗")
    staff.select_option("#id_terminal", str(scene.terminal.public_id))
    staff.check("#id_signed")
    journey.snap(staff, "consent")
    staff.locator("#consent-form button[type=submit]").click()
    expect(staff.locator("[data-step=consent]")).to_have_attribute("data-done", "true")

    staff.click("#upload-evidence")
    staff.set_input_files(
        "#id_document", {"name": "门诊病历.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}
    )
    staff.fill("#id_issuing_institution", "广州市第一人民医院")
    staff.locator("#id_diagnosis_code").press_sequentially("高血压")
    expect(staff.locator("#icd10-options option[value='I10']")).to_be_attached(timeout=WAIT_MS)
    staff.fill("#id_diagnosis_code", "I10")
    staff.fill("#id_diagnosis_date", "2024-03-01")
    journey.snap(staff, "evidence")
    staff.locator("#evidence-form button[type=submit]").click()
    expect(staff.locator("[data-step=evidence]")).to_have_attribute("data-done", "true")

    staff.click("#book")
    staff.select_option("#id_department", str(scene.department.public_id))
    # The fee appears once htmx has swapped in the department's slots (the first list, before
    # the choice, already shows the slot).
    expect(staff.locator("#department-fee")).to_have_text("¥30.00", timeout=WAIT_MS)
    slot_radio = staff.locator(f"#slot-{scene.slot.public_id}")
    expect(slot_radio).to_be_visible(timeout=WAIT_MS)
    slot_radio.check()
    journey.snap(staff, "book")
    staff.click("#book-slot")
    expect(staff.locator("h1 [data-status]")).to_have_attribute("data-status", "booked")

    staff.select_option("#id_terminal", str(scene.terminal.public_id))
    staff.locator("#check-in-form button[type=submit]").click()
    expect(staff.locator("h1 [data-status]")).to_have_attribute("data-status", "checked_in")
    staff.select_option("#id_kind", "blood_pressure")
    staff.fill("#id_value", "138")
    staff.fill("#id_value_secondary", "86")
    staff.locator("#vitals-form button[type=submit]").click()
    expect(staff.locator("#vitals")).to_contain_text("138/86")
    journey.snap(staff, "checked-in")

    registered = Patient.objects.get(name=patient.name, facility_links__facility=scene.facility)
    return Consultation.objects.get(patient=registered, slot=scene.slot)


def doctor_consults_and_prescribes(journey: Journey, consultation: Consultation) -> Prescription:
    """At the workstation: the queue, the evidence verified, the video consultation started,
    note and diagnosis written, two drugs prescribed, the allergy warning acknowledged with a
    reason, signed with the PIN, the consultation completed."""
    scene = journey.scene
    doctor = journey.page("doctor", scene.doctor, "/")
    expect(doctor).to_have_url(re.compile(r"/workstation/$"))
    row = doctor.locator(f"#queue tr[data-consultation='{consultation.public_id}']")
    expect(row).to_be_visible(timeout=WAIT_MS)
    journey.snap(doctor, "queue")
    row.locator("a.queue-open").click()

    doctor.locator(".verify-evidence").first.click()
    expect(doctor.locator(".evidence-list li").first).to_have_attribute(
        "data-verified", "true", timeout=WAIT_MS
    )
    doctor.click("#start")
    expect(doctor.locator("h1 [data-status]")).to_have_attribute("data-status", "in_progress")
    expect(doctor.locator("[data-video-call]")).to_be_visible()
    journey.snap(doctor, "started")

    doctor.fill("#id_subjective", "头晕两天，晨起明显，无胸痛。")
    doctor.fill("#id_objective", "终端测血压 138/86 mmHg。")
    doctor.fill("#id_assessment", "原发性高血压，控制欠佳。")
    doctor.fill("#id_plan", "加用氢氯噻嗪，一周后复诊。")
    doctor.locator("#note-form button[type=submit]").click()
    expect(doctor.locator("#note h2 small")).to_be_visible(timeout=WAIT_MS)
    doctor.fill("#id_primary", "I10")
    doctor.locator("#diagnoses-form button[type=submit]").click()
    expect(doctor.locator("#diagnosis-list")).to_contain_text("I10", timeout=WAIT_MS)

    editor = doctor.locator("#rx-new-form")
    expect(editor.locator("#id_rx-new-diagnosis")).to_have_value("I10")
    editor.locator("#id_rx-new-item0-drug").press_sequentially("氨氯地平")
    expect(doctor.locator(f"#drug-options option[value='{AMLODIPINE}']")).to_be_attached(
        timeout=WAIT_MS
    )
    editor.locator("#id_rx-new-item0-drug").fill(AMLODIPINE)
    editor.locator("#id_rx-new-item0-dose").fill("5")
    editor.locator("#id_rx-new-item1-drug").fill(HYDROCHLOROTHIAZIDE)
    editor.locator("#id_rx-new-item1-dose").fill("12.5")
    journey.snap(doctor, "prescribing")
    editor.locator("button[type=submit]").click()

    warning = doctor.locator(".rx-warning[data-kind='allergy']")
    expect(warning).to_have_attribute("data-acknowledged", "false", timeout=WAIT_MS)
    journey.snap(doctor, "warning")
    warning.locator("input[name=reason]").fill(ALLERGY_REASON)
    warning.locator("button[type=submit]").click()
    expect(doctor.locator(".rx-warning[data-kind='allergy']")).to_have_attribute(
        "data-acknowledged", "true", timeout=WAIT_MS
    )

    article = doctor.locator("article.prescription").first
    article.locator(".sign-form input[name=pin]").fill(scene.pin)
    article.locator(".sign-form button.sign").click()
    expect(doctor.locator("article.prescription").first).to_have_attribute(
        "data-status", "signed", timeout=WAIT_MS
    )
    journey.snap(doctor, "signed")

    doctor.click("#complete")
    expect(doctor.locator("h1 [data-status]")).to_have_attribute("data-status", "completed")
    return Prescription.objects.get(consultation=consultation)


def pharmacist_approves(journey: Journey, prescription: Prescription) -> Prescription:
    """In review: the queue with its allergy flag, the doctor's reason, approved with the PIN."""
    scene = journey.scene
    pharmacist = journey.page("pharmacist", scene.pharmacist, "/")
    expect(pharmacist).to_have_url(re.compile(r"/review/$"))
    row = pharmacist.locator(f"#review-queue tr[data-prescription='{prescription.public_id}']")
    expect(row.locator(".flag[data-kind='allergy']")).to_be_visible(timeout=WAIT_MS)
    journey.snap(pharmacist, "review-queue")
    row.locator("a.review-open").click()
    expect(pharmacist.locator("#prescreen")).to_contain_text(ALLERGY_REASON)
    pharmacist.fill("#id_pin", scene.pin)
    journey.snap(pharmacist, "review")
    pharmacist.click("#approve")
    expect(pharmacist).to_have_url(re.compile(r"/review/$"))
    expect(row).to_have_count(0)
    journey.snap(pharmacist, "approved")
    prescription.refresh_from_db()
    return prescription


def staff_hands_over(journey: Journey, code: str) -> Fulfilment:
    """At the console's pickup page: the 8-digit code typed, the medicine handed over."""
    staff = journey.page("staff", journey.scene.staff, "/console/pickup/")
    staff.fill("#id_code", code)
    journey.snap(staff, "pickup-code")
    staff.locator("#pickup-form button[type=submit]").click()
    expect(staff.locator("#handed-over")).to_be_visible(timeout=WAIT_MS)
    journey.snap(staff, "handed-over")
    return Fulfilment.objects.get(pickup_code=code, facility=journey.scene.facility)


def release_stock_movements_for_flush() -> None:
    """Let a transactional test that dispensed empty its tables on SQLite: the stock movements
    are append-only like the audit log (see tests.browser.server.release_audit_log_for_flush),
    so their triggers are lifted, the rows removed and the triggers put back. Call it when the
    test is over, after the last request, e.g. from a fixture that depends on `browser_pages`
    (PostgreSQL's TRUNCATE needs nothing)."""
    if connection.vendor != "sqlite":
        return
    triggers = importlib.import_module("pharmacy.migrations.0002_stock_movements_append_only")
    table = connection.ops.quote_name(StockMovement._meta.db_table)
    with connection.cursor() as cursor:
        for statement in triggers.SQLITE_DROP:
            cursor.execute(statement)
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - the table name is the model's
        for statement in triggers.SQLITE_CREATE:
            cursor.execute(statement)


def switch_to_english(page: Page) -> None:
    """The header's language switch, as a person would use it; the same page comes back."""
    path = page.url
    page.locator("form.language-switch button[value='en']").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(path)
