"""The one table of who may reach which object: for every URL pattern that takes an object id
(API, pages, FHIR, video), and each method it serves, the outcome each member of the cast must
get. tests/security/test_authorization_matrix.py reads it; docs/security.md says how to add a row.

Cells:
  ok    access granted: 2xx, a redirect other than to a sign-in page, or 400/409/422 (an empty
        body refused by validation or a state conflict: the caller got past the access checks)
  401   not authenticated (API)
  403   authenticated, but the role may not do this
  404   not found, or not yours: the two look the same from outside
  in    sent to a sign-in page (pages, for anyone without a session of a person)
Anything else (405, 429, 5xx) is never declared and always fails.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.prescriptions.builders import PIN
from tests.security.actors import CAST, World

ALLOW = "ok"
SIGN_IN = "in"
OUTCOMES = frozenset({ALLOW, SIGN_IN, "401", "403", "404"})
ACCESS_GRANTED_ERRORS = (400, 409, 422)
# The staff sign-in, the patients' phone sign-in, and the admin's own.
SIGN_IN_URLS = ("/accounts/login/", "/m/signin/", "/admin/login/")

API = "api"
PAGE = "page"
GET, POST, PUT, PATCH, DELETE = "GET", "POST", "PUT", "PATCH", "DELETE"

Target = Callable[[World], dict[str, Any]]

# Parameterised patterns that no user of the platform reaches with an object of theirs.
NOT_USER_FACING: dict[str, str] = {
    "payment-notify": "the payment providers' callbacks; the parameter names the provider, and "
    "the request is authenticated by the provider's signature (tests/payments/test_callbacks.py)",
    "fhir-search": "the parameter is a resource type, not an object; search results come from "
    "the same *_visible_to selectors as the rows below (tests/fhir)",
    "admin/(?P<url>.*)$": "the admin's catch-all redirect for unknown admin paths",
    "provider_emulators:wechatpay-api": "WeChat Pay emulator (development and tests only; "
    "production does not install provider_emulators)",
    "provider_emulators:alipay-bill": "Alipay emulator's bill download (development and tests)",
    "provider_emulators:payer-page": "emulated provider's payer page (development and tests)",
    "provider_emulators:payer-pay": "emulated provider's payer page (development and tests)",
    "provider_emulators:payer-cancel": "emulated provider's payer page (development and tests)",
    "courier-emulator-advance": "courier emulator (development and tests only)",
    "courier-emulator-api-cancel": "courier emulator (development and tests only)",
}


@dataclass(frozen=True)
class Row:
    pattern: str
    method: str
    kind: str
    target_name: str
    target: Target
    cells: dict[str, str]
    url: Callable[[dict[str, Any]], str] | None = None
    body: Callable[[World], dict[str, Any]] | None = None
    multipart: bool = False

    @property
    def id(self) -> str:
        return f"{self.pattern} {self.method} [{self.target_name}]"


def parse_cells(text: str) -> dict[str, str]:
    values = text.split()
    assert len(values) == len(CAST), f"{len(CAST)} cells needed: {text!r}"
    assert set(values) <= OUTCOMES, f"unknown outcome in {text!r}"
    return dict(zip(CAST, values, strict=True))


def format_cells(cells: dict[str, str]) -> str:
    return " ".join(f"{cells[who]:<3}" for who in CAST).rstrip()


# --- What each row aims at: URL keyword arguments for an object of the world -----------------


def _id(value: Any) -> dict[str, Any]:
    return {"public_id": value.public_id}


TARGETS: dict[str, Target] = {
    "department": lambda w: _id(w.department),
    "facility": lambda w: _id(w.facility),
    "terminal": lambda w: _id(w.terminal),
    "patient": lambda w: _id(w.patient),
    "patient:nested": lambda w: {"patient_id": w.patient.public_id},
    "evidence": lambda w: {"patient_id": w.patient.public_id, "evidence_id": w.evidence.public_id},
    "live:evidence": lambda w: {
        "public_id": w.live.public_id,
        "evidence_id": w.evidence.public_id,
    },
    "icd10": lambda w: {"code": "I10"},
    "doctor": lambda w: _id(w.doctor),
    "booked": lambda w: _id(w.booked),
    "live": lambda w: _id(w.live),
    "completed": lambda w: _id(w.completed),
    "slot": lambda w: _id(w.free_slot),
    "schedule-exception": lambda w: {"pk": w.schedule_exception.pk},
    "dead-notification": lambda w: _id(w.dead_notification),
    "message": lambda w: _id(w.message),
    "order": lambda w: _id(w.order),
    "reconciliation": lambda w: _id(w.reconciliation),
    "approved": lambda w: _id(w.approved),
    "signed": lambda w: _id(w.signed),
    "rejected": lambda w: _id(w.rejected),
    "draft": lambda w: _id(w.draft),
    "draft:warning": lambda w: {"public_id": w.draft.public_id, "warning_id": w.warning.pk},
    "fulfilment": lambda w: _id(w.fulfilment),
    "feedback-link": lambda w: {"token": w.feedback_token},
    "complaint": lambda w: _id(w.complaint),
    "review": lambda w: _id(w.review),
    "access-review": lambda w: {"flag_id": w.access_review.pk},
    "fhir:Patient": lambda w: {"resource_type": "Patient", "resource_id": w.patient.public_id},
    "fhir:Encounter": lambda w: {"resource_type": "Encounter", "resource_id": w.live.public_id},
    "fhir:MedicationRequest": lambda w: {
        "resource_type": "MedicationRequest",
        "resource_id": f"{w.approved.public_id}-1",
    },
    "fhir:Invoice": lambda w: {"resource_type": "Invoice", "resource_id": w.order.public_id},
    "fhir:Practitioner": lambda w: {
        "resource_type": "Practitioner",
        "resource_id": w.doctor.public_id,
    },
    "fhir:Location": lambda w: {"resource_type": "Location", "resource_id": w.facility.public_id},
}


# --- The table -----------------------------------------------------------------------------------
#
# Columns: an anonymous, po patient (owner), px patient (other), so staff (own facility), sx staff
# (other facility), dt doctor (treating), dx doctor (other), ph pharmacist, to terminal (own
# facility), tx terminal (other facility), op operations.

# fmt: off
_TABLE: list[tuple[str, str, str, str, str]] = [
    # (kind, pattern, method, target,
    #    an  po  px  so  sx  dt  dx  ph  to  tx  op
    # API
    (API, "department-detail", GET, "department",
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok"),
    (API, "facility-detail", GET, "facility",
        "401 404 404 ok  404 ok  ok  ok  ok  404 ok"),
    (API, "facility-detail", PATCH, "facility",
        "401 404 404 403 404 403 403 403 403 404 ok"),
    (API, "terminal-detail", GET, "terminal",
        "401 404 404 ok  404 404 404 404 ok  404 ok"),
    (API, "terminal-revoke-credential", POST, "terminal",
        "401 404 404 403 404 404 404 404 403 404 ok"),
    (API, "terminal-rotate-credential", POST, "terminal",
        "401 404 404 403 404 404 404 404 403 404 ok"),
    (API, "patient-consents", GET, "patient:nested",
        "401 ok  404 ok  404 ok  404 404 404 404 ok"),
    (API, "patient-consents", POST, "patient:nested",
        "401 ok  404 ok  404 ok  404 404 404 404 ok"),
    (API, "patient-evidence", GET, "patient:nested",
        "401 ok  404 ok  404 ok  404 404 404 404 ok"),
    (API, "patient-evidence", POST, "patient:nested",
        "401 ok  404 ok  404 ok  404 404 404 404 ok"),
    (API, "patient-evidence-detail", GET, "evidence",
        "401 ok  404 ok  404 ok  404 404 404 404 ok"),
    (API, "patient-evidence-document", GET, "evidence",
        "401 404 404 ok  404 ok  404 404 404 404 ok"),
    (API, "patient-evidence-verify", POST, "evidence",
        "401 403 404 403 404 ok  404 404 404 404 403"),
    (API, "access-review-resolve", POST, "access-review",
        "401 403 403 403 403 403 403 403 403 403 ok"),
    (API, "patient-detail", GET, "patient",
        "401 ok  404 ok  404 ok  404 404 404 404 ok"),
    (API, "patient-detail", PATCH, "patient",
        "401 403 404 ok  404 403 404 404 404 404 ok"),
    (API, "patient-verify-identity", POST, "patient",
        "401 403 404 ok  404 403 404 404 404 404 403"),
    (API, "icd10-detail", GET, "icd10",
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok"),
    (API, "doctor-schedule", GET, "doctor",
        "401 403 403 403 403 403 403 403 403 403 ok"),
    (API, "doctor-schedule", PUT, "doctor",
        "401 403 403 403 403 403 403 403 403 403 ok"),
    (API, "consultation-detail", GET, "live",
        "401 ok  404 ok  404 ok  404 404 ok  404 ok"),
    (API, "consultation-cancel", POST, "booked",
        "401 403 404 ok  404 403 404 404 403 404 ok"),
    (API, "consultation-check-in", POST, "booked",
        "401 403 404 ok  404 403 404 404 403 404 403"),
    (API, "consultation-complete", POST, "live",
        "401 403 404 403 404 ok  404 404 403 404 403"),
    (API, "consultation-diagnoses", PUT, "live",
        "401 403 404 403 404 ok  404 404 403 404 403"),
    (API, "consultation-note", PUT, "live",
        "401 403 404 403 404 ok  404 404 403 404 403"),
    (API, "consultation-start", POST, "booked",
        "401 403 404 403 404 ok  404 404 403 404 403"),
    (API, "consultation-terminate", POST, "live",
        "401 403 404 403 404 ok  404 404 403 404 403"),
    (API, "slot-detail", GET, "slot",
        "401 404 404 ok  ok  ok  ok  404 404 404 ok"),
    (API, "schedule-exception-detail", DELETE, "schedule-exception",
        "401 403 403 403 403 403 403 403 403 403 ok"),
    (API, "notification-retry", POST, "dead-notification",
        "401 404 404 404 404 404 404 404 404 404 ok"),
    (API, "notification-read", POST, "message",
        "401 ok  404 404 404 404 404 404 404 404 404"),
    (API, "order-detail", GET, "order",
        "401 ok  404 ok  404 404 404 404 404 404 ok"),
    (API, "order-fulfilment", POST, "order",
        "401 ok  404 403 404 404 404 404 404 404 403"),
    (API, "order-ledger", GET, "order",
        "401 403 404 403 404 404 404 404 404 404 ok"),
    (API, "order-pay", POST, "order",
        "401 ok  404 403 404 404 404 404 404 404 403"),
    (API, "order-refund", POST, "order",
        "401 403 404 403 404 404 404 404 404 404 ok"),
    (API, "payment-reconciliation-detail", GET, "reconciliation",
        "401 403 403 403 403 403 403 403 403 403 ok"),
    (API, "consultation-video-token", POST, "live",
        "401 404 404 ok  404 ok  404 404 ok  404 404"),
    (API, "prescription-detail", GET, "approved",
        "401 ok  404 ok  404 ok  404 ok  ok  404 ok"),
    (API, "prescription-detail", GET, "draft",
        "401 404 404 404 404 ok  404 404 404 404 404"),
    (API, "prescription-detail", PUT, "approved",
        "401 403 404 403 404 ok  404 403 403 404 403"),
    (API, "prescription-detail", PUT, "draft",
        "401 404 404 404 404 ok  404 404 404 404 404"),
    (API, "prescription-acknowledge", POST, "draft",
        "401 404 404 404 404 ok  404 404 404 404 404"),
    (API, "prescription-export", GET, "approved",
        "401 ok  404 ok  404 ok  404 ok  ok  404 ok"),
    (API, "prescription-pdf", GET, "approved",
        "401 ok  404 ok  404 ok  404 ok  ok  404 ok"),
    (API, "prescription-review", POST, "signed",
        "401 403 404 403 404 403 404 ok  403 404 403"),
    (API, "prescription-revise", POST, "rejected",
        "401 403 404 403 404 ok  404 403 403 404 403"),
    (API, "prescription-revoke", POST, "approved",
        "401 403 404 403 404 ok  404 403 403 404 ok"),
    (API, "prescription-sign", POST, "draft",
        "401 404 404 404 404 ok  404 404 404 404 404"),
    (API, "prescription-verify", GET, "approved",
        "401 ok  404 ok  404 ok  404 ok  ok  404 ok"),
    (API, "fulfilment-detail", GET, "fulfilment",
        "401 ok  404 ok  404 404 404 404 ok  404 ok"),
    (API, "fulfilment-retry-delivery", POST, "fulfilment",
        "401 403 404 403 404 404 404 404 403 404 ok"),
    (API, "fulfilment-return-parcel", POST, "fulfilment",
        "401 403 404 403 404 404 404 404 403 404 ok"),
    (API, "feedback", GET, "feedback-link",
        "ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok"),
    (API, "feedback", POST, "feedback-link",
        "ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok"),
    (API, "complaint-detail", GET, "complaint",
        "401 ok  404 404 404 404 404 404 404 404 ok"),
    (API, "complaint-close", POST, "complaint",
        "401 403 404 404 404 404 404 404 404 404 ok"),
    (API, "complaint-reply", POST, "complaint",
        "401 403 404 404 404 404 404 404 404 404 ok"),
    (API, "complaint-triage", POST, "complaint",
        "401 403 404 404 404 404 404 404 404 404 ok"),
    (API, "complaint-withdraw", POST, "complaint",
        "401 ok  404 404 404 404 404 404 404 404 403"),
    (API, "quality-review-detail", GET, "review",
        "401 404 404 404 404 404 ok  404 404 404 ok"),
    (API, "quality-review-score", POST, "review",
        "401 404 404 404 404 404 ok  404 404 404 403"),
    # FHIR
    (API, "fhir-read", GET, "fhir:Patient",
        "401 ok  404 ok  404 ok  404 404 404 404 ok"),
    (API, "fhir-read", GET, "fhir:Encounter",
        "401 404 404 404 404 404 404 404 404 404 404"),
    (API, "fhir-read", GET, "fhir:MedicationRequest",
        "401 ok  404 ok  404 ok  404 ok  ok  404 ok"),
    (API, "fhir-read", GET, "fhir:Invoice",
        "401 ok  404 ok  404 404 404 404 404 404 ok"),
    (API, "fhir-read", GET, "fhir:Practitioner",
        "401 404 404 ok  ok  ok  ok  ok  404 404 ok"),
    (API, "fhir-read", GET, "fhir:Location",
        "401 404 404 ok  404 ok  ok  ok  ok  404 ok"),
    # Pages
    (PAGE, "prescription-verify-page", GET, "approved",
        "ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok"),
    (PAGE, "video-consultation-call", GET, "live",
        "in  404 404 ok  404 ok  404 404 in  in  404"),
    (PAGE, "video-consultation-call", POST, "live",
        "in  404 404 ok  404 ok  404 404 in  in  404"),
    (PAGE, "console:patient", GET, "patient",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:patient-edit", POST, "patient",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:patient-verify-identity", POST, "patient",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:consent", GET, "patient",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:consent", POST, "patient",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:evidence", GET, "patient",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:evidence", POST, "patient",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:book", GET, "patient",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:book", POST, "patient",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:consultation", GET, "booked",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:check-in", POST, "booked",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:vitals", POST, "booked",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "console:cancel", POST, "booked",
        "in  403 403 ok  404 403 403 403 in  in  403"),
    (PAGE, "workstation:consultation", GET, "live",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:start", POST, "booked",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:complete", POST, "live",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:terminate", POST, "live",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:note", POST, "live",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:diagnoses", POST, "live",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:evidence-verify", POST, "live:evidence",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:prescription-new", POST, "live",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:prescription", GET, "draft",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:prescription-edit", POST, "draft",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:warning-acknowledge", POST, "draft:warning",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:prescription-sign", POST, "draft",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "workstation:prescription-revise", POST, "rejected",
        "in  403 403 403 403 ok  404 403 in  in  403"),
    (PAGE, "review:prescription", GET, "signed",
        "in  403 403 403 403 403 403 ok  in  in  403"),
    (PAGE, "review:approve", POST, "signed",
        "in  403 403 403 403 403 403 ok  in  in  403"),
    (PAGE, "review:reject", POST, "signed",
        "in  403 403 403 403 403 403 ok  in  in  403"),
    (PAGE, "mobile:order", GET, "order",
        "in  ok  404 403 403 403 403 403 in  in  403"),
    (PAGE, "mobile:order-fulfilment", POST, "order",
        "in  ok  404 403 403 403 403 403 in  in  403"),
    (PAGE, "mobile:order-pay", POST, "order",
        "in  ok  404 403 403 403 403 403 in  in  403"),
    (PAGE, "mobile:order-status", GET, "order",
        "in  ok  404 403 403 403 403 403 in  in  403"),
    (PAGE, "mobile:fulfilment", GET, "fulfilment",
        "in  ok  404 403 403 403 403 403 in  in  403"),
    (PAGE, "doctors:detail", GET, "doctor",
        "ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok"),
    (PAGE, "operations:reconciliation", GET, "reconciliation",
        "in  403 403 403 403 403 403 403 in  in  ok"),
    (PAGE, "operations:notification-retry", POST, "dead-notification",
        "in  403 403 403 403 403 403 403 in  in  ok"),
    (PAGE, "quality:complaint", GET, "complaint",
        "in  403 403 403 403 403 403 403 in  in  ok"),
    (PAGE, "quality:complaint-triage", POST, "complaint",
        "in  403 403 403 403 403 403 403 in  in  ok"),
    (PAGE, "quality:complaint-reply", POST, "complaint",
        "in  403 403 403 403 403 403 403 in  in  ok"),
    (PAGE, "quality:complaint-close", POST, "complaint",
        "in  403 403 403 403 403 403 403 in  in  ok"),
    (PAGE, "quality:review", GET, "review",
        "in  403 403 403 403 404 ok  404 in  in  403"),
    (PAGE, "quality:review", POST, "review",
        "in  403 403 403 403 404 ok  404 in  in  403"),
    (PAGE, "quality:feedback", GET, "feedback-link",
        "ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok"),
    (PAGE, "quality:feedback", POST, "feedback-link",
        "ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok"),
]
# fmt: on


# What an allowed caller sends where the view validates the body before it looks the object up:
# with an empty body everyone would get the same 400 and the cell would show nothing about
# access. Each request is rolled back, so a body that really acts is harmless.
BODIES: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("access-review-resolve", POST): lambda w: {"note": "已核实：会诊所需。"},
    ("patient-verify-identity", POST): lambda w: {"method": "document_in_person"},
    ("consultation-cancel", POST): lambda w: {"reason": "患者改期"},
    ("consultation-diagnoses", PUT): lambda w: {"primary": "I10"},
    ("consultation-terminate", POST): lambda w: {
        "reason_code": "condition_changed",
        "referral_note": "血压控制不佳，建议线下就诊。",
    },
    ("order-fulfilment", POST): lambda w: {"method": "pickup"},
    ("order-pay", POST): lambda w: {"provider": "wechatpay", "channel": "native"},
    ("order-refund", POST): lambda w: {"amount_fen": 100, "reason": "部分退款"},
    ("prescription-detail", PUT): lambda w: {"diagnosis": "I10", "items": []},
    ("prescription-acknowledge", POST): lambda w: {"warning": w.warning.pk, "reason": "已评估"},
    ("prescription-sign", POST): lambda w: {"pin": PIN},
    ("prescription-review", POST): lambda w: {"decision": "approve", "pin": PIN},
    ("prescription-revoke", POST): lambda w: {"reason": "患者过敏史补充"},
    ("fulfilment-return-parcel", POST): lambda w: {"reason": "收件人拒收"},
    ("complaint-triage", POST): lambda w: {
        "category": "waiting",
        "severity": "low",
        "assignee": str(w.cast.users["operations"].public_id),
    },
    ("complaint-reply", POST): lambda w: {"body": "已联系医生补充说明。"},
    ("complaint-close", POST): lambda w: {"resolution": "已电话回访，患者满意。"},
    ("quality-review-score", POST): lambda w: {
        "record_completeness": 4,
        "diagnosis_consistency": 4,
        "rule_compliance": 5,
        "communication": 4,
    },
}
# Uploads take multipart forms; JSON would be refused (415) before any access check.
MULTIPART = {("patient-evidence", POST)}


def _rows() -> list[Row]:
    rows = [
        Row(
            pattern=pattern,
            method=method,
            kind=kind,
            target_name=target,
            target=TARGETS[target],
            cells=parse_cells(cells),
            body=BODIES.get((pattern, method)),
            multipart=(pattern, method) in MULTIPART,
        )
        for kind, pattern, method, target, cells in _TABLE
    ]
    return rows + _admin_rows()


# --- The Django admin: one rule for all of it -----------------------------------------------------
#
# The admin is the operations back office. AdminSite.admin_view wraps every admin URL, GET and
# POST alike, and checks `is_staff` before any admin view runs, so its rows are generated from the
# URL configuration (a model registered tomorrow gets them too): operations (staff and superuser,
# as in the demo) reach every object page, everyone else is sent to the admin's sign-in. GET is
# requested (a POST to a delete page would delete); ADMIN_OPERATIONS names the pages where the
# ModelAdmin itself refuses operations (append-only and read-only records).

ADMIN_CELLS = "in  in  in  in  in  in  in  in  in  in  ok"
# Delete pages of records that are never deleted (SPEC 4.12: medical records, payments, the audit
# log, signing keys...): their ModelAdmin refuses deletion to everyone, operations included.
NEVER_DELETED = (
    "admin:consultations_consultation_delete",
    "admin:consultations_slot_delete",
    "admin:core_auditevent_delete",
    "admin:interop_regulatorbatch_delete",
    "admin:interop_regulatorreport_delete",
    "admin:interop_systemclient_delete",
    "admin:patients_consentrecord_delete",
    "admin:patients_consenttemplate_delete",
    "admin:patients_patient_delete",
    "admin:patients_priordiagnosisevidence_delete",
    "admin:payments_inboundcallback_delete",
    "admin:payments_insurancesettlement_delete",
    "admin:payments_insurancevoucher_delete",
    "admin:payments_paymentevent_delete",
    "admin:payments_paymentorder_delete",
    "admin:payments_reconciliationreport_delete",
    "admin:payments_refund_delete",
    "admin:pharmacy_couriercallback_delete",
    "admin:pharmacy_dispense_delete",
    "admin:pharmacy_facilitystock_delete",
    "admin:pharmacy_fulfilment_delete",
    "admin:pharmacy_stockmovement_delete",
    "admin:pharmacy_trackingevent_delete",
    "admin:prescriptions_prescription_delete",
    "admin:provider_emulators_emulatedcallback_delete",
    "admin:provider_emulators_emulatedtrade_delete",
    "admin:quality_complaint_delete",
    "admin:quality_feedbackinvitation_delete",
    "admin:quality_feedbackresponse_delete",
    "admin:quality_reviewassignment_delete",
    "admin:quality_reviewsample_delete",
    "admin:quality_terminalstatuschange_delete",
    "admin:signing_certificateauthority_delete",
    "admin:signing_signingcredential_delete",
    "admin:terminology_icd10code_delete",
    "admin:video_callsession_delete",
)
ADMIN_OPERATIONS: dict[str, str] = {
    **dict.fromkeys(NEVER_DELETED, "403"),
    # The admin's "view on site" for a patient: patients have no public page.
    "admin:view_on_site": "404",
}


def _first_pk(model: Any) -> Any:
    first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
    # A model the world has no row of still shows the gate: it runs before the lookup.
    return first if first is not None else 0


def _admin_target(key: str) -> Target:
    from django.contrib.contenttypes.models import ContentType

    if key == "admin:view_on_site":
        return lambda w: {
            "content_type_id": ContentType.objects.get_for_model(w.patient).pk,
            "object_id": w.patient.pk,
        }
    if key == "admin:app_list":
        return lambda w: {"app_label": "patients"}
    if key == "admin:auth_user_password_change":
        return lambda w: {"id": w.cast.users["patient_owner"].pk}
    models = {
        f"{model._meta.app_label}_{model._meta.model_name}": model for model in admin.site._registry
    }
    if key.startswith("admin/"):  # the bare object URL, which redirects to its change page
        info = "_".join(key.split("/")[1:3])
    else:
        info = key.removeprefix("admin:").rsplit("_", 1)[0]
    model = models[info]
    return lambda w: {"object_id": _first_pk(model)}


def _admin_url(key: str) -> Callable[[dict[str, Any]], str] | None:
    if not key.startswith("admin/"):
        return None
    info = "_".join(key.split("/")[1:3])
    return lambda kwargs: reverse(f"admin:{info}_change", kwargs=kwargs).removesuffix("change/")


def is_admin(key: str) -> bool:
    return key.startswith(("admin:", "admin/"))


def _admin_rows() -> list[Row]:
    rows = []
    for key in sorted(object_patterns()):
        if not is_admin(key) or key in NOT_USER_FACING:
            continue
        cells = parse_cells(ADMIN_CELLS)
        cells["operations"] = ADMIN_OPERATIONS.get(key, ALLOW)
        rows.append(
            Row(
                pattern=key,
                method=GET,
                kind=PAGE,
                target_name="admin",
                target=_admin_target(key),
                cells=cells,
                url=_admin_url(key),
            )
        )
    return rows


def required_methods(pattern: "Pattern") -> tuple[str, ...]:
    """The methods that need a row: the admin's GET (its one gate covers the rest)."""
    return (GET,) if is_admin(pattern.key) else pattern.methods


# --- The URL configuration's object patterns ---------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    key: str
    route: str
    callback: Any

    @cached_property
    def methods(self) -> tuple[str, ...]:
        return served_methods(self.callback)


def served_methods(callback: Any) -> tuple[str, ...]:
    """What the view answers: a viewset's actions, a class's handlers, or the methods a
    `require_http_methods` decorator lets through; a plain function answers GET and POST."""
    actions = getattr(callback, "actions", None)
    if actions:
        return tuple(sorted(method.upper() for method in actions if method not in ("head",)))
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is not None:
        return tuple(
            sorted(
                method.upper()
                for method in view_class.http_method_names
                if method not in ("head", "options", "trace") and hasattr(view_class, method)
            )
        )
    function = callback
    while function is not None:
        code = getattr(function, "__code__", None)
        if code is not None and "request_method_list" in code.co_freevars:
            cell = function.__closure__[code.co_freevars.index("request_method_list")]
            return tuple(sorted(set(cell.cell_contents) - {"HEAD", "OPTIONS"}))
        function = getattr(function, "__wrapped__", None)
    return (GET, POST)


def object_patterns() -> dict[str, Pattern]:
    """Every pattern with a converter or a named group, by name (namespaced), or by route when
    it has no name."""
    found: dict[str, Pattern] = {}

    def walk(resolver: URLResolver, prefix: str, namespace: str, parameterised: bool) -> None:
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            has_parameter = parameterised or bool(entry.pattern.regex.groupindex)
            if isinstance(entry, URLResolver):
                inner = namespace
                if entry.namespace:
                    inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                walk(entry, route, inner, has_parameter)
            elif isinstance(entry, URLPattern) and has_parameter:
                name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
                key = name or route
                assert key not in found, f"two object patterns named {key}"
                found[key] = Pattern(key=key, route=route, callback=entry.callback)

    walk(get_resolver(), "", "", False)
    return found


ROWS = _rows()
