"""Query budgets: for every GET endpoint and page that lists or shows objects, who looks at it
and the most SQL queries one request may run. tests/query_budgets/test_query_budgets.py requests
each row with a small data set, grows the data (tests/query_budgets/growth.py adds more of every
kind of row the cast sees), requests it again, and asserts that the two counts are equal and
within the budget; a list is requested again with its largest page size (same count) and with a
page of one row (no more).

How to add a row (a new endpoint or page fails `test_every_get_pattern_has_a_budget` by name):

    Budget("<URL name>", <actor from tests/security/actors.CAST>, <queries>,
           target="<a target>",          # SCENE_TARGETS or the matrix's TARGETS: the object
           query="q=I1",                 # a query string, if the page needs one
           page_size=PAGED,              # the list's page-size parameter (FHIR: COUNT)
           grows=False,                  # the response does not list rows growth adds
           status=302,                   # what the request answers, if not 200
           resource_type="Encounter")    # FHIR rows (a read aims at the first the search finds)

Start with a budget of 0, run the test, and write the figure it reports, after reading the
captured SQL it prints: every query should be one per request, not one per row. If the two
counts differ, the page runs a query per row: add `select_related`/`prefetch_related`/an
annotation in the selector or view, never a larger budget. If growth does not reach the page
(the test says its response did not grow), extend `growth.grow` rather than setting
`grows=False`; that flag is for responses that list nothing (a form, a count, a document).

A pattern that is not a page of objects goes in EXCLUDED (or, for a whole namespace,
EXCLUDED_NAMESPACES) with the reason.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from tests.query_budgets.growth import Scene
from tests.security import matrix
from tests.security.actors import (
    ANONYMOUS,
    DOCTOR_OTHER,
    DOCTOR_TREATING,
    OPERATIONS,
    PATIENT_OWNER,
    PHARMACIST,
    STAFF_OWN,
    TERMINAL_OWN,
)

# URL keyword arguments for an object of the scene: the delivery on its way, and the
# authorization matrix's targets (tests/security/matrix.py; its world is the scene's).
SCENE_TARGETS: dict[str, Callable[[Scene], dict[str, Any]]] = {
    "delivery": lambda s: {"public_id": s.delivery.public_id},
    "delivery-order": lambda s: {"public_id": s.delivery_order.public_id},
}


def target_kwargs(name: str, scene: Scene) -> dict[str, Any]:
    if name in SCENE_TARGETS:
        return SCENE_TARGETS[name](scene)
    return matrix.TARGETS[name](scene.world)


# fhir-read rows aim at the first resource a search of their type finds (the test resolves it).
FHIR_READ = "fhir-read"


@dataclass(frozen=True)
class Budget:
    pattern: str
    actor: str
    queries: int
    target: str | None = None
    query: str = ""
    page_size: str | None = None
    grows: bool = True
    status: int = 200
    resource_type: str | None = None

    @property
    def id(self) -> str:
        subject = self.resource_type or self.target
        parts = [
            self.pattern,
            f"[{subject}]" if subject else "",
            f"?{self.query}" if self.query else "",
            f"as {self.actor}",
        ]
        return " ".join(part for part in parts if part)


PAGED = "page_size"  # the API's pagination
COUNT = "_count"  # FHIR's
# Types drawn from two tables are searched with every row on one page: a default page filled from
# one table alone would skip the other's queries and look cheaper than the page before.
EVERY_ROW = "_count=100"
# What a patient finds of their own record through FHIR (their selectors differ from operations').
PATIENT_RECORD = (
    "Appointment",
    "Condition",
    "Consent",
    "Encounter",
    "Invoice",
    "MedicationDispense",
    "MedicationRequest",
    "Observation",
)

# fmt: off
BUDGETS: list[Budget] = [
    # --- API: accounts, clinics ----------------------------------------------------------------
    Budget("me", STAFF_OWN, 3, grows=False),
    Budget("me", TERMINAL_OWN, 2, grows=False),
    Budget("doctor-list", STAFF_OWN, 4, page_size=PAGED),
    Budget("department-list", STAFF_OWN, 2),
    Budget("department-detail", STAFF_OWN, 2, target="department", grows=False),
    Budget("facility-list", OPERATIONS, 3, page_size=PAGED),
    Budget("facility-detail", STAFF_OWN, 3, target="facility", grows=False),
    Budget("terminal-list", STAFF_OWN, 4, page_size=PAGED),
    Budget("terminal-list", OPERATIONS, 3, page_size=PAGED),
    Budget("terminal-detail", STAFF_OWN, 3, target="terminal", grows=False),
    # --- API: patients, consent, evidence, privacy -----------------------------------------------
    Budget("consent-templates", TERMINAL_OWN, 3, page_size=PAGED, grows=False),
    Budget("patient-list", STAFF_OWN, 5, page_size=PAGED),
    Budget("patient-list", DOCTOR_TREATING, 4, page_size=PAGED),
    Budget("patient-list", OPERATIONS, 4, page_size=PAGED),
    Budget("patient-detail", STAFF_OWN, 4, target="patient", grows=False),
    Budget("patient-consents", STAFF_OWN, 7, target="patient:nested", page_size=PAGED),
    Budget("patient-evidence", STAFF_OWN, 7, target="patient:nested", page_size=PAGED),
    Budget("patient-evidence-detail", STAFF_OWN, 6, target="evidence", grows=False),
    Budget("patient-evidence-document", STAFF_OWN, 6, target="evidence", grows=False),
    Budget("my-data-export", PATIENT_OWNER, 19),
    Budget("my-data-export", PATIENT_OWNER, 19, query="as=pdf"),
    Budget("access-reviews", OPERATIONS, 2),
    Budget("retention-report", OPERATIONS, 2, grows=False),
    Budget("icd10-list", STAFF_OWN, 3, query="q=I1", page_size=PAGED),
    Budget("icd10-detail", STAFF_OWN, 2, target="icd10", grows=False),
    # --- API: consultations, slots, schedules --------------------------------------------------
    Budget("consultation-list", STAFF_OWN, 5, page_size=PAGED),
    Budget("consultation-list", DOCTOR_TREATING, 4, page_size=PAGED),
    Budget("consultation-list", PATIENT_OWNER, 4, page_size=PAGED),
    Budget("consultation-list", TERMINAL_OWN, 4, page_size=PAGED),
    Budget("consultation-list", OPERATIONS, 4, page_size=PAGED),
    Budget("consultation-day", STAFF_OWN, 5, page_size=PAGED),
    Budget("consultation-queue", DOCTOR_TREATING, 3),
    Budget("consultation-detail", DOCTOR_TREATING, 8, target="live"),
    Budget("consultation-detail", PATIENT_OWNER, 8, target="live"),
    Budget("slot-list", STAFF_OWN, 4, page_size=PAGED),
    Budget("slot-detail", STAFF_OWN, 3, target="slot", grows=False),
    Budget("doctor-schedule", OPERATIONS, 4, target="doctor"),
    Budget("schedule-exception-list", OPERATIONS, 3, page_size=PAGED),
    # --- API: notifications --------------------------------------------------------------------
    Budget("notification-list", PATIENT_OWNER, 3, page_size=PAGED),
    Budget("notification-unread-count", PATIENT_OWNER, 2, grows=False),
    Budget("notification-preferences", PATIENT_OWNER, 2, grows=False),
    Budget("notification-dead-list", OPERATIONS, 3, page_size=PAGED),
    # --- API: payments -------------------------------------------------------------------------
    Budget("order-list", PATIENT_OWNER, 4, page_size=PAGED),
    Budget("order-list", OPERATIONS, 4, page_size=PAGED),
    Budget("order-detail", PATIENT_OWNER, 6, target="order"),
    Budget("order-detail", PATIENT_OWNER, 6, target="delivery-order", grows=False),
    Budget("order-ledger", OPERATIONS, 7, target="order"),
    Budget("payment-reconciliation-list", OPERATIONS, 3, page_size=PAGED),
    Budget("payment-reconciliation-detail", OPERATIONS, 4, target="reconciliation"),
    # --- API: prescriptions --------------------------------------------------------------------
    Budget("drug-list", DOCTOR_TREATING, 3, page_size=PAGED),
    Budget("prescription-list", DOCTOR_TREATING, 6, page_size=PAGED),
    Budget("prescription-list", PATIENT_OWNER, 6, page_size=PAGED),
    Budget("prescription-list", STAFF_OWN, 7, page_size=PAGED),
    Budget("prescription-list", PHARMACIST, 6, page_size=PAGED),
    Budget("prescription-list", TERMINAL_OWN, 6, page_size=PAGED),
    Budget("prescription-review-queue", PHARMACIST, 6, page_size=PAGED),
    Budget("prescription-detail", DOCTOR_TREATING, 5, target="approved", grows=False),
    Budget("prescription-detail", DOCTOR_TREATING, 5, target="draft"),
    Budget("prescription-export", PATIENT_OWNER, 5, target="approved", grows=False),
    Budget("prescription-pdf", PATIENT_OWNER, 6, target="approved", grows=False),
    Budget("prescription-verify", PATIENT_OWNER, 9, target="approved", grows=False),
    # --- API: pharmacy -------------------------------------------------------------------------
    Budget("fulfilment-list", STAFF_OWN, 5, page_size=PAGED),
    Budget("fulfilment-list", PATIENT_OWNER, 4, page_size=PAGED),
    Budget("fulfilment-list", OPERATIONS, 4, page_size=PAGED),
    Budget("fulfilment-list", TERMINAL_OWN, 4, page_size=PAGED),
    Budget("fulfilment-detail", PATIENT_OWNER, 6, target="fulfilment", grows=False),
    Budget("fulfilment-detail", PATIENT_OWNER, 8, target="delivery"),
    Budget("stock-list", STAFF_OWN, 4, page_size=PAGED),
    Budget("stock-movement-list", STAFF_OWN, 4, page_size=PAGED),
    # --- API: quality --------------------------------------------------------------------------
    Budget("feedback", ANONYMOUS, 1, target="feedback-link", grows=False),
    Budget("quality-dashboard", OPERATIONS, 10, grows=False),
    Budget("quality-dashboard-export", OPERATIONS, 10, grows=False),
    Budget("complaint-list", OPERATIONS, 4, page_size=PAGED),
    Budget("complaint-list", PATIENT_OWNER, 4, page_size=PAGED),
    Budget("complaint-detail", OPERATIONS, 5, target="complaint"),
    Budget("quality-review-list", DOCTOR_OTHER, 4, page_size=PAGED),
    Budget("quality-review-list", OPERATIONS, 4, page_size=PAGED),
    Budget("quality-review-detail", DOCTOR_OTHER, 6, target="review", grows=False),
    # --- FHIR ----------------------------------------------------------------------------------
    Budget("fhir-metadata", ANONYMOUS, 0, grows=False),
    Budget("fhir-smart-configuration", ANONYMOUS, 0, grows=False),
    Budget("fhir-search", OPERATIONS, 4, resource_type="Appointment", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 3, resource_type="AuditEvent", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 4, resource_type="ChargeItem", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 7, resource_type="Condition", query=EVERY_ROW),
    Budget("fhir-search", OPERATIONS, 4, resource_type="Consent", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 3, resource_type="Device", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 5, resource_type="Encounter", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 6, resource_type="Invoice", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 3, resource_type="Location", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 5, resource_type="MedicationDispense", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 4, resource_type="MedicationRequest", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 4, resource_type="Observation", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 5, resource_type="Organization", query=EVERY_ROW),
    Budget("fhir-search", OPERATIONS, 4, resource_type="Patient", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 5, resource_type="PaymentNotice", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 3, resource_type="Practitioner", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 4, resource_type="PractitionerRole", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 8, resource_type="Provenance", query=EVERY_ROW),
    Budget("fhir-search", OPERATIONS, 3, resource_type="Schedule", page_size=COUNT),
    Budget("fhir-search", OPERATIONS, 3, resource_type="Slot", page_size=COUNT),
    Budget("fhir-search", PATIENT_OWNER, 4, resource_type="Appointment", page_size=COUNT),
    Budget("fhir-search", PATIENT_OWNER, 7, resource_type="Condition", query=EVERY_ROW),
    Budget("fhir-search", PATIENT_OWNER, 4, resource_type="Consent", page_size=COUNT),
    Budget("fhir-search", PATIENT_OWNER, 5, resource_type="Encounter", page_size=COUNT),
    Budget("fhir-search", PATIENT_OWNER, 6, resource_type="Invoice", page_size=COUNT),
    Budget("fhir-search", PATIENT_OWNER, 5, resource_type="MedicationDispense", page_size=COUNT),
    Budget("fhir-search", PATIENT_OWNER, 4, resource_type="MedicationRequest", page_size=COUNT),
    Budget("fhir-search", PATIENT_OWNER, 4, resource_type="Observation", page_size=COUNT),
    Budget("fhir-read", OPERATIONS, 3, resource_type="Appointment", grows=False),
    Budget("fhir-read", OPERATIONS, 2, resource_type="AuditEvent", grows=False),
    Budget("fhir-read", OPERATIONS, 3, resource_type="ChargeItem", grows=False),
    Budget("fhir-read", OPERATIONS, 3, resource_type="Condition", grows=False),
    Budget("fhir-read", OPERATIONS, 3, resource_type="Consent", grows=False),
    Budget("fhir-read", OPERATIONS, 2, resource_type="Device", grows=False),
    Budget("fhir-read", OPERATIONS, 4, resource_type="Encounter", grows=False),
    Budget("fhir-read", OPERATIONS, 5, resource_type="Invoice", grows=False),
    Budget("fhir-read", OPERATIONS, 2, resource_type="Location", grows=False),
    Budget("fhir-read", OPERATIONS, 4, resource_type="MedicationDispense", grows=False),
    Budget("fhir-read", OPERATIONS, 3, resource_type="MedicationRequest", grows=False),
    Budget("fhir-read", OPERATIONS, 3, resource_type="Observation", grows=False),
    Budget("fhir-read", OPERATIONS, 2, resource_type="Organization", grows=False),
    Budget("fhir-read", OPERATIONS, 3, resource_type="Patient", grows=False),
    Budget("fhir-read", OPERATIONS, 4, resource_type="PaymentNotice", grows=False),
    Budget("fhir-read", OPERATIONS, 2, resource_type="Practitioner", grows=False),
    Budget("fhir-read", OPERATIONS, 3, resource_type="PractitionerRole", grows=False),
    Budget("fhir-read", OPERATIONS, 4, resource_type="Provenance", grows=False),
    Budget("fhir-read", OPERATIONS, 2, resource_type="Schedule", grows=False),
    Budget("fhir-read", OPERATIONS, 2, resource_type="Slot", grows=False),
    # --- Pages: public, sign-in ----------------------------------------------------------------
    Budget("home", ANONYMOUS, 0, grows=False),
    Budget("home", STAFF_OWN, 5, grows=False, status=302),
    Budget("login", ANONYMOUS, 0, grows=False),
    Budget("signin-second-factor", ANONYMOUS, 0, grows=False, status=302),
    Budget("prescription-verify-page", ANONYMOUS, 7, target="approved", grows=False),
    Budget("signing-ca-bundle", ANONYMOUS, 1, grows=False),
    Budget("doctors:list", ANONYMOUS, 3),
    Budget("doctors:detail", ANONYMOUS, 1, target="doctor", grows=False),
    Budget("quality:feedback", ANONYMOUS, 1, target="feedback-link", grows=False),
    # --- Pages: clinic console -----------------------------------------------------------------
    Budget("console:home", STAFF_OWN, 8),
    Budget("console:day", STAFF_OWN, 8),
    Budget("console:patient-new", STAFF_OWN, 6, grows=False),
    Budget("console:patient", STAFF_OWN, 14, target="patient"),
    Budget("console:consent", STAFF_OWN, 10, target="patient"),
    Budget("console:evidence", STAFF_OWN, 8, target="patient", grows=False),
    Budget("console:book", STAFF_OWN, 11, target="patient"),
    Budget("console:consultation", STAFF_OWN, 13, target="live"),
    Budget("console:pickup", STAFF_OWN, 8),
    Budget("video-consultation-call", STAFF_OWN, 7, target="live", grows=False),
    # --- Pages: doctor's workstation, pharmacist review ----------------------------------------
    Budget("workstation:home", DOCTOR_TREATING, 14),
    Budget("workstation:queue", DOCTOR_TREATING, 7),
    Budget("workstation:drugs", DOCTOR_TREATING, 6, query="q=氨氯地平"),
    Budget("workstation:consultation", DOCTOR_TREATING, 21, target="live"),
    Budget("workstation:prescription", DOCTOR_TREATING, 9, target="draft"),
    Budget("icd10-options", DOCTOR_TREATING, 6, query="q=I1"),
    Budget("review:home", PHARMACIST, 9),
    Budget("review:queue", PHARMACIST, 9),
    Budget("review:prescription", PHARMACIST, 10, target="signed", grows=False),
    # --- Pages: the patient's phone ------------------------------------------------------------
    Budget("mobile:signin", ANONYMOUS, 0, grows=False),
    Budget("mobile:signin-code", ANONYMOUS, 0, grows=False, status=302),
    Budget("mobile:home", PATIENT_OWNER, 12),
    Budget("mobile:orders", PATIENT_OWNER, 8),
    Budget("mobile:order", PATIENT_OWNER, 11, target="order"),
    Budget("mobile:order-status", PATIENT_OWNER, 10, target="order", grows=False),
    Budget("mobile:fulfilment", PATIENT_OWNER, 12, target="delivery"),
    # --- Pages: operations, quality ------------------------------------------------------------
    Budget("operations:dashboard", OPERATIONS, 15, grows=False),
    Budget("operations:facilities", OPERATIONS, 9),
    Budget("operations:payments", OPERATIONS, 10),
    Budget("operations:reconciliation", OPERATIONS, 8, target="reconciliation"),
    Budget("operations:notifications", OPERATIONS, 7),
    Budget("operations:audit", OPERATIONS, 7, query="object_type=evidence"),
    Budget("quality:dashboard", OPERATIONS, 14, grows=False),
    Budget("quality:export", OPERATIONS, 14, grows=False),
    Budget("quality:complaints", OPERATIONS, 8),
    Budget("quality:complaint", OPERATIONS, 10, target="complaint"),
    Budget("quality:reviews", DOCTOR_OTHER, 8),
    Budget("quality:review", DOCTOR_OTHER, 10, target="review", grows=False),
]
# fmt: on


# --- What needs no budget, and why -------------------------------------------------------------

EXCLUDED_NAMESPACES: dict[str, str] = {
    "admin": "the Django admin, the operations back office: Django's own changelists and forms, "
    "covered by the authorization matrix's gate rows, not a page of the platform's",
    "provider_emulators": "payment provider emulators (development and tests only; production "
    "does not install them)",
}
EXCLUDED: dict[str, str] = {
    "healthz": "the load balancer's probe: pings the database, Redis and the workers, no rows "
    "(and answers 503 wherever a worker is not running)",
    "metrics": "Prometheus exposition for the scraper (behind its token): counters and a few "
    "aggregate gauges such as the outbox backlog, no rows listed",
    "set_language": "Django's language switch: sets a cookie and redirects",
    "api-schema": "the OpenAPI document, generated from the code, no rows",
    "api-docs": "Swagger UI's page around the schema, no rows",
    "courier-emulator-waybills": "courier emulator (development and tests only)",
    "regulator-emulator-batches": "regulator emulator (development and tests only)",
}


@dataclass(frozen=True)
class GetPattern:
    key: str
    route: str
    namespace: str


def get_patterns() -> dict[str, GetPattern]:
    """Every URL pattern that answers GET, by name (namespaced) or by route when unnamed."""
    found: dict[str, GetPattern] = {}

    def walk(resolver: URLResolver, prefix: str, namespace: str) -> None:
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                inner = namespace
                if entry.namespace:
                    inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                walk(entry, route, inner)
            elif isinstance(entry, URLPattern) and "GET" in matrix.served_methods(entry.callback):
                name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
                key = name or route
                found.setdefault(key, GetPattern(key=key, route=route, namespace=namespace))

    walk(get_resolver(), "", "")
    return found


def excluded(pattern: GetPattern) -> bool:
    return pattern.key in EXCLUDED or pattern.namespace.split(":")[0] in EXCLUDED_NAMESPACES
