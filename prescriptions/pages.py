"""The pharmacist's review (`/review/`): the queue of signed prescriptions with their pre-screen
flags, one prescription with its items and the doctor's acknowledged warnings, approval with a
countersignature (PIN) or rejection with reason codes and a comment for the doctor.

Views are thin: the selectors read, the lifecycle services approve and reject, and a refusal is
shown next to the form with its code and message.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role
from core.actors import Actor, actor_from_request
from core.dates import age_on
from core.exceptions import DomainError, NotFoundError
from core.pages import role_required
from core.views import add_domain_error, error_context, plain_number
from prescriptions import selectors
from prescriptions.models import Prescription, PrescriptionStatus, RejectionReason
from prescriptions.services import lifecycle

app_name = "review"

ERROR_MESSAGES = {
    "signing_pin_invalid": _("Wrong signing PIN."),
    "signing_pin_locked": _("Too many wrong PINs: signing is locked for a while."),
    "signing_credential_missing": _("You hold no active signing credential."),
    "signature_invalid": _("The doctor's signature does not verify: do not approve."),
    "prescription_expired": _("The prescription has expired."),
    "prescription_changed": _("The prescription changed during review."),
    "invalid_transition": _("This prescription is no longer awaiting review."),
    "rejection_reason_invalid": _("Choose at least one reason."),
    "rejection_comment_required": _("Tell the doctor what to change."),
    "not_pharmacist": _("Only a pharmacist reviews prescriptions."),
}
SIGNING_CODES = ("signing_pin_invalid", "signing_pin_locked", "signing_credential_missing")
QUEUE_LIMIT = 100


class ApproveForm(forms.Form):
    pin = forms.CharField(
        label=_("Signing PIN (countersignature)"),
        max_length=32,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )


class RejectForm(forms.Form):
    reasons = forms.MultipleChoiceField(
        label=_("Reasons"),
        choices=RejectionReason.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    comment = forms.CharField(
        label=_("What the doctor should change"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def _refused(error: DomainError) -> dict[str, Any]:
    return error_context(error, ERROR_MESSAGES)


def _prescription(actor: Actor, public_id: Any) -> Prescription:
    try:
        return selectors.prescription_get_for_actor(actor=actor, public_id=public_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


def _queue_context(actor: Actor) -> dict[str, Any]:
    rows = list(selectors.review_queue(actor=actor)[:QUEUE_LIMIT])
    selectors.prescriptions_record_list_read(actor=actor, prescriptions=rows)
    return {
        "entries": [{"prescription": rx, "flags": selectors.prescreen_flags(rx)} for rx in rows],
        "updated_at": timezone.localtime(),
    }


@require_GET
@role_required(Role.PHARMACIST)
def review_home(request: HttpRequest) -> HttpResponse:
    return render(
        request, "prescriptions/review/home.html", _queue_context(actor_from_request(request))
    )


@require_GET
@role_required(Role.PHARMACIST)
def queue_partial(request: HttpRequest) -> HttpResponse:
    """The queue alone: what the home page polls every 10 seconds."""
    return render(
        request, "prescriptions/review/_queue.html", _queue_context(actor_from_request(request))
    )


def _detail_page(
    request: HttpRequest,
    prescription: Prescription,
    *,
    approve: ApproveForm | None = None,
    reject: RejectForm | None = None,
    error: DomainError | None = None,
) -> HttpResponse:
    patient = prescription.patient
    total = sum(item.unit_price_fen * item.quantity for item in prescription.items.all())
    for item in prescription.items.all():
        item.dose_text = plain_number(item.dose)  # type: ignore[attr-defined]
    context = {
        "prescription": prescription,
        "patient": patient,
        "age": age_on(patient.birth_date, timezone.localdate()),
        "flags": selectors.prescreen_flags(prescription),
        "warnings": list(prescription.warnings.all()),
        "total": f"¥{total / 100:.2f}",
        "awaiting_review": prescription.status == PrescriptionStatus.SIGNED,
        "approve": approve or ApproveForm(),
        "reject": reject or RejectForm(),
        "error": _refused(error) if error else None,
    }
    return render(
        request,
        "prescriptions/review/prescription.html",
        context,
        status=error.status_code if error else (400 if approve or reject else 200),
    )


@require_GET
@role_required(Role.PHARMACIST)
def prescription_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    return _detail_page(request, _prescription(actor, public_id))


@require_POST
@role_required(Role.PHARMACIST)
def prescription_approve(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    prescription = _prescription(actor, public_id)
    form = ApproveForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, prescription, approve=form)
    try:
        lifecycle.prescription_approve(
            actor=actor, prescription=prescription, pin=form.cleaned_data["pin"]
        )
    except DomainError as error:
        add_domain_error(form, error, default_field="pin" if error.code in SIGNING_CODES else None)
        return _detail_page(request, _prescription(actor, public_id), approve=form, error=error)
    messages.success(
        request,
        _("%(number)s approved and countersigned; the patient can pay now.")
        % {"number": prescription.number},
    )
    return HttpResponseRedirect(reverse("review:home"))


@require_POST
@role_required(Role.PHARMACIST)
def prescription_reject(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    prescription = _prescription(actor, public_id)
    form = RejectForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, prescription, reject=form)
    try:
        lifecycle.prescription_reject(actor=actor, prescription=prescription, **form.cleaned_data)
    except DomainError as error:
        add_domain_error(form, error)
        return _detail_page(request, _prescription(actor, public_id), reject=form, error=error)
    messages.success(
        request,
        _("%(number)s rejected; the doctor is told what to change.")
        % {"number": prescription.number},
    )
    return HttpResponseRedirect(reverse("review:home"))


urlpatterns = [
    path("", review_home, name="home"),
    path("queue/", queue_partial, name="queue"),
    path("prescriptions/<uuid:public_id>/", prescription_detail, name="prescription"),
    path("prescriptions/<uuid:public_id>/approve/", prescription_approve, name="approve"),
    path("prescriptions/<uuid:public_id>/reject/", prescription_reject, name="reject"),
]
