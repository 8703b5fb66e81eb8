"""The patient's phone pages under /m/: sign-in by phone and one-time code, and "my
prescriptions". The order, payment, pickup-code and tracking pages live with their apps
(payments.pages, pharmacy.pages) and share what is defined here: the `patient_page` gate, how a
service's error is shown on a form, and the QR code as inline SVG.

Views are thin: the OTP services sign the patient in, the selectors decide what they see.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

import segno
from django.contrib.auth import login, logout
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Role
from accounts.pages import TITLE_LABELS
from core.actors import actor_from_request, client_ip
from core.exceptions import DomainError, NotFoundError
from core.pages import role_required
from core.views import error_context
from notifications import otp
from patients.identity import normalize_phone
from payments.models import PAYABLE_STATUSES, UNPAYABLE_FINAL_STATUSES, PaymentOrder
from payments.selectors import orders_record_list_read, orders_visible_to
from pharmacy.models import Fulfilment
from prescriptions.models import Prescription
from prescriptions.selectors import prescriptions_record_list_read, prescriptions_visible_to

View = Callable[..., HttpResponse]
# Labels and messages keyed by a code, translated lazily in the reader's language.
Labels = Mapping[str, str | Promise]

# The phone a code was sent to, between the two sign-in steps (never in the URL: it is personal).
SIGNIN_PHONE_SESSION_KEY = "mobile_signin_phone"
PRESCRIPTIONS_PER_PAGE = 20


# --- Shared by every patient page ------------------------------------------------------------


def patient_page(view: View) -> View:
    """Patients only: an anonymous visitor is sent to the phone sign-in (not the staff login),
    another role gets 403."""
    gated = role_required(Role.PATIENT)(view)

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse("mobile:signin"))
        try:
            return gated(request, *args, **kwargs)
        except NotFoundError as error:
            # Not found and not yours look the same, as in the API.
            raise Http404(error.message) from error

    return wrapped


# What patients read in their language; the services speak English with stable codes.
ERROR_MESSAGES: Labels = {
    "phone_invalid": _("Enter a valid mainland China mobile number."),
    "otp_invalid": _("The code is wrong or has expired."),
    "otp_rate_limited": _("Too many codes for this number; try again later."),
    "fulfilment_method_invalid": _("Choose pickup or delivery."),
    "delivery_address_required": _("Delivery needs an address."),
    "delivery_address_invalid": _("The delivery address is incomplete."),
    "cold_chain_pickup_only": _("A cold-chain medicine is in the order: pickup only."),
    "order_not_editable": _("Payment has started; the choice can no longer change."),
    "order_already_paid": _("The order is already paid."),
    "order_closed": _("The order is closed."),
    "order_expired": _("The order has expired."),
    "prescription_expired": _("The prescription has expired."),
    "prescription_revoked": _("The prescription was revoked."),
    "prescription_not_approved": _("The prescription is not approved by a pharmacist."),
    "fulfilment_required": _("Choose pickup or delivery first."),
    "pay_channel_invalid": _("Choose WeChat Pay or Alipay."),
    "provider_rejected": _("The payment provider refused the order."),
    "provider_unavailable": _("The payment provider cannot be reached; try again."),
}
FIELD_MESSAGES: Labels = {
    "Required.": _("Required."),
    "Enter a valid mainland China mobile number.": _("Enter a valid mainland China mobile number."),
}
_AT_MOST = re.compile(r"At most (\d+) characters\.")


def _field_message(message: str) -> str:
    if message in FIELD_MESSAGES:
        return str(FIELD_MESSAGES[message])
    if match := _AT_MOST.fullmatch(message):
        return str(_("At most %(limit)s characters.") % {"limit": match.group(1)})
    return message


@dataclass(frozen=True)
class FormErrors:
    """A service's refusal as a form shows it: a message at the top, messages by field."""

    code: str = ""
    message: str = ""
    fields: dict[str, list[str]] = field(default_factory=dict)
    status: int = 200

    @classmethod
    def from_error(cls, error: DomainError) -> "FormErrors":
        shown = error_context(error, ERROR_MESSAGES)
        return cls(
            code=shown["code"],
            message=str(shown["message"]),
            fields={
                name: [_field_message(str(message)) for message in messages]
                for name, messages in error.fields.items()
            },
            status=error.status_code,
        )

    def __bool__(self) -> bool:
        return bool(self.code)


# Status names as a patient reads them (the models' labels are bilingual back-office labels).
PRESCRIPTION_STATUS_LABELS: Labels = {
    "draft": _("Draft"),
    "signed": _("Awaiting pharmacist review"),
    "approved": _("Approved"),
    "rejected": _("Returned to the doctor"),
    "dispensed": _("Dispensed"),
    "expired": _("Expired"),
    "revoked": _("Revoked"),
}
ORDER_STATUS_LABELS: Labels = {
    "created": _("Awaiting payment"),
    "pending": _("Payment in progress"),
    "paid": _("Paid"),
    "closed": _("Closed"),
    "failed": _("Payment failed"),
    "refunding": _("Refund in progress"),
    "refunded": _("Refunded"),
}
FULFILMENT_STATUS_LABELS: Labels = {
    "awaiting_payment": _("Being prepared"),
    "ready_for_pickup": _("Ready for pickup"),
    "picked_up": _("Picked up"),
    "dispatched": _("Dispatched"),
    "in_transit": _("In transit"),
    "out_for_delivery": _("Out for delivery"),
    "delivered": _("Delivered"),
    "failed": _("Delivery failed"),
    "returned": _("Returned to the pharmacy"),
}


def label(labels: Labels, value: str) -> str:
    return str(labels.get(value, value))


def qr_svg(data: str, *, title: str) -> SafeString:
    """A QR code as inline SVG (no script, no image request); it scales with its container."""
    code = segno.make(data, error="m")
    # segno escapes the title and writes only its own markup.
    return mark_safe(code.svg_inline(scale=4, border=2, omitsize=True, title=title, svgclass="qr"))  # noqa: S308


def _safe_next(request: HttpRequest, value: str) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return reverse("mobile:home")


def _with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


# --- Sign-in ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def signin(request: HttpRequest) -> HttpResponse:
    """Step 1: the phone number. The answer is the same whether or not a patient has it."""
    next_url = request.POST.get("next") or request.GET.get("next", "")
    phone = ""
    errors = FormErrors()
    if request.method == "POST":
        phone = request.POST.get("phone", "").strip()
        try:
            normalized = normalize_phone(phone)
            otp.login_code_request(phone=normalized)
        except DomainError as error:
            errors = FormErrors.from_error(error)
        else:
            request.session[SIGNIN_PHONE_SESSION_KEY] = normalized
            return redirect(_with_next(reverse("mobile:signin-code"), next_url))
    return render(
        request,
        "patients/mobile/signin.html",
        {"phone": phone, "errors": errors, "next": next_url},
        status=errors.status,
    )


def _masked(phone: str) -> str:
    national = phone.removeprefix("+86")
    return f"{national[:3]}****{national[-4:]}" if len(national) == 11 else national


@require_http_methods(["GET", "POST"])
def signin_code(request: HttpRequest) -> HttpResponse:
    """Step 2: the code from the SMS; a right one signs the patient's account in."""
    next_url = request.POST.get("next") or request.GET.get("next", "")
    phone = request.session.get(SIGNIN_PHONE_SESSION_KEY)
    if not phone:
        return redirect(_with_next(reverse("mobile:signin"), next_url))
    errors = FormErrors()
    if request.method == "POST":
        try:
            user = otp.login_code_verify(
                phone=phone, code=request.POST.get("code", ""), ip_address=client_ip(request)
            )
        except DomainError as error:
            errors = FormErrors.from_error(error)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session.pop(SIGNIN_PHONE_SESSION_KEY, None)
            return HttpResponseRedirect(_safe_next(request, next_url))
    return render(
        request,
        "patients/mobile/signin_code.html",
        {"masked_phone": _masked(phone), "errors": errors, "next": next_url},
        status=errors.status,
    )


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("mobile:signin")


# --- My prescriptions ------------------------------------------------------------------------


@dataclass(frozen=True)
class PrescriptionRow:
    prescription: Prescription
    order: PaymentOrder | None

    @property
    def status_label(self) -> str:
        return label(PRESCRIPTION_STATUS_LABELS, self.prescription.status)

    @property
    def doctor_title(self) -> str:
        return label(TITLE_LABELS, self.prescription.doctor.title)

    @property
    def order_status_label(self) -> str:
        return label(ORDER_STATUS_LABELS, self.order.status) if self.order else ""

    @property
    def payable(self) -> bool:
        return self.order is not None and self.order.status in PAYABLE_STATUSES

    @property
    def fulfilment(self) -> Fulfilment | None:
        return getattr(self.order, "fulfilment", None) if self.order else None

    @property
    def fulfilment_status_label(self) -> str:
        fulfilment = self.fulfilment
        return label(FULFILMENT_STATUS_LABELS, fulfilment.status) if fulfilment else ""


def _orders_by_prescription(orders: list[PaymentOrder]) -> dict[int, PaymentOrder]:
    """Each prescription's order to show: the live one, else the latest (closed) one."""
    chosen: dict[int, PaymentOrder] = {}
    for order in sorted(orders, key=lambda row: (row.created_at, row.pk)):
        assert order.prescription_id is not None
        current = chosen.get(order.prescription_id)
        if current is None or order.status not in UNPAYABLE_FINAL_STATUSES:
            chosen[order.prescription_id] = order
    return chosen


@patient_page
def home(request: HttpRequest) -> HttpResponse:
    """My prescriptions, newest first: approved ones can be paid, the others show their status."""
    actor = actor_from_request(request)
    prescriptions = prescriptions_visible_to(actor=actor).order_by("-signed_at", "-pk")
    page = Paginator(prescriptions, PRESCRIPTIONS_PER_PAGE).get_page(request.GET.get("page"))
    shown = list(page.object_list)
    prescriptions_record_list_read(actor=actor, prescriptions=shown)
    orders = list(
        orders_visible_to(actor=actor)
        .filter(prescription__in=shown)
        .select_related("fulfilment")
        .order_by("created_at", "pk")
    )
    orders_record_list_read(actor=actor, orders=orders)
    by_prescription = _orders_by_prescription(orders)
    rows = [PrescriptionRow(rx, by_prescription.get(rx.pk)) for rx in shown]
    return render(request, "patients/mobile/home.html", {"rows": rows, "page": page})


# Mounted at /m/ with the payments and pharmacy pages under the one "mobile" namespace.
urlpatterns = [
    path("", home, name="home"),
    path("signin/", signin, name="signin"),
    path("signin/code/", signin_code, name="signin-code"),
    path("signout/", signout, name="signout"),
]
