"""The clinic terminal console (`/console/`), for the staff of one facility.

Find or register a patient (inline ID validation), record consent and prior-diagnosis evidence,
book (slot, a doctor's or a department's first available, walk-in token), the facility's day
list, check-in, vitals, the link into the video consultation, and the pickup handover.

Views are thin: reads go through the selectors, writes through the same services as the API, and
a service's refusal is shown next to the form with its code and message — never a 500.
"""

import datetime
import re
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role
from accounts.selectors import doctors_visible_to
from clinics.models import Department, Terminal
from clinics.selectors import departments_active, terminal_get_for_actor, terminals_visible_to
from consultations.models import Consultation, ConsultationStatus, VitalKind
from consultations.selectors import consultations as consultation_selectors
from consultations.selectors import slots as slot_selectors
from consultations.services import booking, lifecycle, records
from core.actors import Actor, actor_from_request
from core.dates import age_on
from core.exceptions import DomainError, NotFoundError
from core.pages import role_required
from core.views import add_domain_error, error_context, picker_attrs
from patients import consents, evidence, selectors, services
from patients.identity import normalize_phone, parse_identity
from patients.models import (
    GUARDIAN_REQUIRED_UNDER_YEARS,
    ConsentMethod,
    ConsentSigner,
    IdType,
    Patient,
    Sex,
    VerificationMethod,
)
from pharmacy import selectors as pharmacy_selectors
from pharmacy.models import FulfilmentStatus
from pharmacy.services.pickup import pickup_dispense
from prescriptions.selectors import prescriptions_visible_to

app_name = "console"

# Messages of the refusals staff meet most, in the page's language; others keep the service's.
ERROR_MESSAGES = {
    "patient_exists": _("A patient with this document is already registered: look them up."),
    "patient_not_found": _("No patient is registered with this document."),
    "id_number_checksum": _("The check digit does not match: re-read the number on the card."),
    "id_number_length": _("A resident ID number has 18 characters."),
    "id_number_format": _("The document number does not have the expected format."),
    "id_number_birth_date": _("The birth date in the ID number is impossible."),
    "id_number_region": _("The region code in the ID number is unknown."),
    "id_number_legacy": _("15-digit first-generation cards are no longer valid."),
    "phone_invalid": _("Enter a valid mainland China mobile number."),
    "consent_signer_mismatch": _("The signer's name does not match the patient or guardian."),
    "consent_guardian_required": _("A child under 6 is consented for by the recorded guardian."),
    "consent_text_mismatch": _("The consent text changed meanwhile: reload it and sign again."),
    "evidence_type_not_allowed": _("Upload a PDF, JPEG or PNG file."),
    "evidence_too_large": _("The file is too large."),
    "diagnosis_code_unknown": _("Unknown ICD-10 code."),
    "diagnosis_date_invalid": _("The diagnosis date must lie between birth and today."),
    "slot_taken": _("The slot has just been booked: choose another."),
    "slot_unavailable": _("This slot can no longer be booked."),
    "no_slot_available": _("No free slot is available."),
    "patient_overlapping_booking": _("The patient already has a booking at that time."),
    "patient_booking_limit": _("The patient already holds the most upcoming bookings allowed."),
    "doctor_not_schedulable": _("This doctor cannot be scheduled for online consultations."),
    "check_in_too_early": _("Check-in opens 30 minutes before the appointment."),
    "check_in_too_late": _("The appointment has passed."),
    "invalid_transition": _("This is not possible in the current status."),
    "vital_implausible": _("The reading is outside what a device can plausibly measure."),
    "consultation_not_checked_in": _("The consultation is not checked in."),
    "pickup_code_invalid": _("This is not a valid pickup code."),
    "pickup_code_expired": _("This pickup code has expired."),
    "already_dispensed": _("This prescription has already been handed over."),
    "prescription_expired": _("The prescription has expired."),
    "prescription_not_effective": _("The prescription is not approved."),
    "not_found": _("Nothing matches here."),
}
# Most rows a search or the slot picker shows.
LIST_LIMIT = 50
_LIST_SEPARATORS = re.compile(r"[\n,，、;；]+")


def yuan(fen: int) -> str:
    return f"¥{Decimal(fen) / 100:.2f}"


def _text_list(value: str) -> list[str]:
    """Allergies and conditions as typed: one per line or separated by commas."""
    return [part.strip() for part in _LIST_SEPARATORS.split(value) if part.strip()]


def _staff_actor(request: HttpRequest) -> Actor:
    actor = actor_from_request(request)
    if actor.facility_id is None:
        raise PermissionDenied("Your account is not attached to an active facility.")
    return actor


def _patient(actor: Actor, public_id: Any) -> Patient:
    try:
        return selectors.patient_get_for_actor(actor=actor, public_id=public_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


def _consultation(actor: Actor, public_id: Any) -> Consultation:
    try:
        return consultation_selectors.consultation_get_for_actor(actor=actor, public_id=public_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


def _refused(error: DomainError) -> dict[str, Any]:
    return error_context(error, ERROR_MESSAGES)


def _terminal_choices(actor: Actor) -> list[tuple[str, str]]:
    return [
        (str(terminal.public_id), f"{terminal.serial} ({terminal.get_status_display()})")
        for terminal in terminals_visible_to(actor=actor)
    ]


def _set_choices(form: forms.Form, name: str, choices: list[tuple[str, Any]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def _terminal(actor: Actor, public_id: str) -> Terminal | None:
    return terminal_get_for_actor(actor=actor, public_id=public_id) if public_id else None


# --- Forms -------------------------------------------------------------------------------------


class DocumentLookupForm(forms.Form):
    id_type = forms.ChoiceField(label=_("Document type"), choices=IdType.choices)
    id_number = forms.CharField(
        label=_("Document number"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class PatientSearchForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    name = forms.CharField(label=_("Name"), max_length=100, required=False)


class PatientDetailsForm(forms.Form):
    """What staff may correct after registration (documents are not editable)."""

    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    allergies = forms.CharField(
        label=_("Allergies"),
        required=False,
        help_text=_("One per line or separated by commas, e.g. 青霉素, 磺胺类药物"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    chronic_conditions = forms.CharField(
        label=_("Chronic conditions"),
        required=False,
        help_text=_("One per line or separated by commas"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    guardian_name = forms.CharField(label=_("Guardian's name"), max_length=100, required=False)
    guardian_relationship = forms.CharField(
        label=_("Guardian's relationship"), max_length=32, required=False
    )
    guardian_phone = forms.CharField(
        label=_("Guardian's mobile number"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "phone": data["phone"],
            "allergies": _text_list(data["allergies"]),
            "chronic_conditions": _text_list(data["chronic_conditions"]),
            "guardian_name": data["guardian_name"],
            "guardian_relationship": data["guardian_relationship"],
            "guardian_phone": data["guardian_phone"],
        }


class PatientRegisterForm(PatientDetailsForm):
    name = forms.CharField(label=_("Name (as on the document)"), max_length=100)
    id_type = forms.ChoiceField(label=_("Document type"), choices=IdType.choices)
    id_number = forms.CharField(
        label=_("Document number"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    birth_date = forms.DateField(
        label=_("Birth date (other documents only)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    sex = forms.ChoiceField(
        label=_("Sex (other documents only)"),
        required=False,
        choices=[("", "—"), *Sex.choices],
    )
    identity_checked = forms.BooleanField(
        label=_("I checked the document against the person in front of me"), required=False
    )
    verification_method = forms.ChoiceField(
        label=_("How the identity was checked"),
        choices=VerificationMethod.choices,
        initial=VerificationMethod.DOCUMENT_IN_PERSON,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Checked as soon as the field is left: the check digit, and the birth date and sex a
        # resident ID carries, shown beside it.
        self.fields["id_number"].widget.attrs.update(
            {
                "hx-post": reverse("console:validate-id"),
                "hx-trigger": "blur",
                "hx-target": "#id-check",
                "hx-include": "[name=id_type]",
                "aria-describedby": "id-check",
            }
        )

    field_order = [
        "name",
        "id_type",
        "id_number",
        "birth_date",
        "sex",
        "phone",
        "allergies",
        "chronic_conditions",
        "guardian_name",
        "guardian_relationship",
        "guardian_phone",
        "identity_checked",
        "verification_method",
    ]


class IdentityVerifyForm(forms.Form):
    method = forms.ChoiceField(
        label=_("How the identity was checked"),
        choices=VerificationMethod.choices,
        initial=VerificationMethod.DOCUMENT_IN_PERSON,
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class ConsentForm(forms.Form):
    template_version = forms.CharField(widget=forms.HiddenInput)
    language = forms.CharField(widget=forms.HiddenInput)
    # The hash of the text this page showed: if the published text changed since, the
    # service refuses rather than record agreement to a text nobody saw.
    text_sha256 = forms.CharField(widget=forms.HiddenInput)
    signer = forms.ChoiceField(label=_("Who signs"), choices=ConsentSigner.choices)
    signer_name = forms.CharField(label=_("Signer's name"), max_length=100)
    method = forms.ChoiceField(
        label=_("How it was signed"),
        choices=ConsentMethod.choices,
        initial=ConsentMethod.TERMINAL_CONFIRMATION,
    )
    terminal = forms.ChoiceField(label=_("Terminal the text was shown on"), required=False)
    signed = forms.BooleanField(
        label=_("The signer has read the text above and signed it"),
        error_messages={"required": _("Tick this once the signer has signed.")},
    )


class EvidenceForm(forms.Form):
    document = forms.FileField(
        label=_("Document (PDF, JPEG or PNG)"),
        allow_empty_file=True,
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )
    issuing_institution = forms.CharField(label=_("Issuing institution"), max_length=200)
    diagnosis_code = forms.CharField(label=_("Diagnosis (ICD-10 code or name)"), max_length=60)
    diagnosis_date = forms.DateField(
        label=_("Diagnosis date"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["diagnosis_code"].widget.attrs.update(
            picker_attrs(
                options_url=reverse("icd10-options"),
                name=self.add_prefix("diagnosis_code"),
                datalist="icd10-options",
            )
        )


class BookingFilterForm(forms.Form):
    department = forms.ChoiceField(label=_("Department"), required=False)
    doctor = forms.ChoiceField(label=_("Doctor"), required=False)
    date = forms.DateField(
        label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class CheckInForm(forms.Form):
    terminal = forms.ChoiceField(label=_("Terminal"), required=False)


class VitalForm(forms.Form):
    terminal = forms.ChoiceField(label=_("Terminal"))
    kind = forms.ChoiceField(label=_("Measurement"), choices=VitalKind.choices)
    value = forms.DecimalField(
        label=_("Value (systolic for blood pressure)"), max_digits=6, decimal_places=2
    )
    value_secondary = forms.DecimalField(
        label=_("Diastolic (blood pressure only)"),
        max_digits=6,
        decimal_places=2,
        required=False,
    )


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason for cancelling"), max_length=200)


class PickupForm(forms.Form):
    code = forms.CharField(
        label=_("Pickup code (8 digits)"),
        max_length=8,
        required=False,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "off", "pattern": "[0-9]{8}"}
        ),
    )
    # Filled by the camera scan (the QR code carries a signed token, not the digits).
    token = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("code") and not data.get("token"):
            raise forms.ValidationError(_("Type the pickup code or scan the QR code."))
        return data


# --- Home, day list, finding patients ----------------------------------------------------------


def _day_context(actor: Actor, day: datetime.date) -> dict[str, Any]:
    assert actor.facility_id is not None
    rows = list(consultation_selectors.facility_day_list(facility_id=actor.facility_id, day=day))
    consultation_selectors.consultations_record_list_read(actor=actor, consultations=rows)
    return {"day": day, "consultations": rows, "is_today": day == timezone.localdate()}


def _requested_day(request: HttpRequest) -> datetime.date:
    try:
        return datetime.date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        return timezone.localdate()


@require_GET
@role_required(Role.CLINIC_STAFF)
def console_home(request: HttpRequest) -> HttpResponse:
    actor = _staff_actor(request)
    search = PatientSearchForm(request.GET or None)
    found: list[Patient] | None = None
    search_error = None
    if search.is_bound and search.is_valid() and any(search.cleaned_data.values()):
        patients = selectors.patients_visible_to(actor=actor)
        try:
            if search.cleaned_data["phone"]:
                patients = patients.filter(phone=normalize_phone(search.cleaned_data["phone"]))
        except DomainError as error:
            add_domain_error(search, error)
            search_error = _refused(error)
        else:
            if search.cleaned_data["name"]:
                patients = patients.filter(name=search.cleaned_data["name"].strip())
            found = list(patients.order_by("-created_at", "-pk")[:LIST_LIMIT])
            selectors.patients_record_list_read(actor=actor, patients=found)
    context = {
        "lookup": DocumentLookupForm(),
        "search": search,
        "found": found,
        "search_error": search_error,
        **_day_context(actor, _requested_day(request)),
    }
    return render(request, "clinics/console/home.html", context)


@require_GET
@role_required(Role.CLINIC_STAFF)
def day_list(request: HttpRequest) -> HttpResponse:
    """The day list alone: what the home page polls every 10 seconds."""
    actor = _staff_actor(request)
    return render(
        request, "clinics/console/_day.html", _day_context(actor, _requested_day(request))
    )


@require_POST
@role_required(Role.CLINIC_STAFF)
def patient_lookup(request: HttpRequest) -> HttpResponse:
    """By the full document number (POSTed, so it never lands in a URL or an access log)."""
    actor = _staff_actor(request)
    form = DocumentLookupForm(request.POST)
    error = None
    if form.is_valid():
        try:
            patient = services.patient_lookup_by_document(actor=actor, **form.cleaned_data)
        except DomainError as refusal:
            add_domain_error(form, refusal)
            error = refusal
        else:
            return HttpResponseRedirect(reverse("console:patient", args=[patient.public_id]))
    context = {
        "lookup": form,
        "lookup_error": _refused(error) if error else None,
        "search": PatientSearchForm(),
        "found": None,
        **_day_context(actor, timezone.localdate()),
    }
    return render(
        request,
        "clinics/console/home.html",
        context,
        status=error.status_code if error else 400,
    )


@require_POST
@role_required(Role.CLINIC_STAFF)
def validate_id(request: HttpRequest) -> HttpResponse:
    """The inline check as the number is typed: the check digit, and for a resident ID the
    birth date and sex it carries. Always 200: the answer is the check's result."""
    raw = request.POST.get("id_number", "").strip()
    context: dict[str, Any] = {"empty": not raw}
    if raw:
        try:
            identity = parse_identity(request.POST.get("id_type", IdType.RESIDENT_ID), raw)
        except DomainError as error:
            context["error"] = _refused(error)
        else:
            context["identity"] = identity
            if identity.birth_date is not None:
                age = age_on(identity.birth_date, timezone.localdate())
                context["age"] = age
                context["guardian_required"] = age < GUARDIAN_REQUIRED_UNDER_YEARS
    return render(request, "clinics/console/_id_check.html", context)


@require_http_methods(["GET", "POST"])
@role_required(Role.CLINIC_STAFF)
def patient_register(request: HttpRequest) -> HttpResponse:
    actor = _staff_actor(request)
    form = PatientRegisterForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            patient = services.patient_register(
                actor=actor,
                name=data["name"],
                id_type=data["id_type"],
                id_number=data["id_number"],
                birth_date=data["birth_date"],
                sex=data["sex"] or None,
                **form.service_values(),
            )
        except DomainError as refusal:
            add_domain_error(form, refusal)
            error = refusal
        else:
            if data["identity_checked"]:
                services.patient_verify_identity(
                    actor=actor, patient=patient, method=data["verification_method"]
                )
            messages.success(request, _("Registered %(name)s.") % {"name": patient.name})
            return HttpResponseRedirect(reverse("console:patient", args=[patient.public_id]))
    status = error.status_code if error else (400 if form.is_bound else 200)
    return render(
        request,
        "clinics/console/patient_new.html",
        {"form": form, "error": _refused(error) if error else None},
        status=status,
    )


# --- One patient -------------------------------------------------------------------------------


def _details_initial(patient: Patient) -> dict[str, Any]:
    return {
        "phone": patient.phone,
        "allergies": "\n".join(patient.allergies),
        "chronic_conditions": "\n".join(patient.chronic_conditions),
        "guardian_name": patient.guardian_name,
        "guardian_relationship": patient.guardian_relationship,
        "guardian_phone": patient.guardian_phone,
    }


def _patient_page(
    request: HttpRequest,
    actor: Actor,
    patient: Patient,
    *,
    details: PatientDetailsForm | None = None,
    verify: IdentityVerifyForm | None = None,
    error: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    consent_rows = list(consents.consents_for_patient(patient=patient)[:LIST_LIMIT])
    consents.consents_record_read(actor=actor, patient=patient, records=consent_rows)
    evidence_rows = list(evidence.evidence_for_patient(patient=patient)[:LIST_LIMIT])
    evidence.evidence_record_read(actor=actor, patient=patient, evidence=evidence_rows)
    visits = list(
        consultation_selectors.consultations_visible_to(actor=actor)
        .filter(patient=patient)
        .order_by("-scheduled_start", "-pk")[:LIST_LIMIT]
    )
    consultation_selectors.consultations_record_list_read(actor=actor, consultations=visits)
    age = age_on(patient.birth_date, timezone.localdate())
    context = {
        "patient": patient,
        "age": age,
        "guardian_required": age < GUARDIAN_REQUIRED_UNDER_YEARS,
        "consents": consent_rows,
        "evidence": evidence_rows,
        "has_verified_evidence": any(item.verified_at for item in evidence_rows),
        "consultations": visits,
        "details": details or PatientDetailsForm(initial=_details_initial(patient)),
        "verify": verify or IdentityVerifyForm(),
        "error": _refused(error) if error else None,
    }
    return render(request, "clinics/console/patient.html", context, status=status)


@require_GET
@role_required(Role.CLINIC_STAFF)
def patient_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = _staff_actor(request)
    return _patient_page(request, actor, _patient(actor, public_id))


@require_POST
@role_required(Role.CLINIC_STAFF)
def patient_edit(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = _staff_actor(request)
    patient = _patient(actor, public_id)
    form = PatientDetailsForm(request.POST)
    if form.is_valid():
        try:
            services.patient_update(actor=actor, patient=patient, **form.service_values())
        except DomainError as error:
            add_domain_error(form, error)
            return _patient_page(
                request, actor, patient, details=form, error=error, status=error.status_code
            )
        messages.success(request, _("Saved."))
        return HttpResponseRedirect(reverse("console:patient", args=[patient.public_id]))
    return _patient_page(request, actor, patient, details=form, status=400)


@require_POST
@role_required(Role.CLINIC_STAFF)
def patient_verify_identity(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = _staff_actor(request)
    patient = _patient(actor, public_id)
    form = IdentityVerifyForm(request.POST)
    if form.is_valid():
        try:
            services.patient_verify_identity(actor=actor, patient=patient, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
            return _patient_page(
                request, actor, patient, verify=form, error=error, status=error.status_code
            )
        messages.success(request, _("Identity verified."))
        return HttpResponseRedirect(reverse("console:patient", args=[patient.public_id]))
    return _patient_page(request, actor, patient, verify=form, status=400)


def _consent_template() -> Any:
    """The active text in the page's language, else the Chinese one."""
    language = "en" if (get_language() or "").startswith("en") else "zh-hans"
    return (
        consents.consent_templates_active(language=language).first()
        or consents.consent_templates_active(language="zh-hans").first()
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.CLINIC_STAFF)
def consent(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = _staff_actor(request)
    patient = _patient(actor, public_id)
    template = _consent_template()
    if template is None:
        raise Http404("No consent text is published.")
    signer_is_guardian = bool(patient.guardian_name) and age_on(
        patient.birth_date, timezone.localdate()
    ) < (GUARDIAN_REQUIRED_UNDER_YEARS)
    initial = {
        "template_version": template.version,
        "language": template.language,
        "text_sha256": consents.consent_text_sha256(template.text),
        "signer": ConsentSigner.GUARDIAN if signer_is_guardian else ConsentSigner.PATIENT,
        "signer_name": patient.guardian_name if signer_is_guardian else patient.name,
    }
    form = ConsentForm(request.POST or None, initial=initial)
    _set_choices(form, "terminal", [("", "—"), *_terminal_choices(actor)])
    error = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            consents.consent_record(
                actor=actor,
                patient=patient,
                template_version=data["template_version"],
                language=data["language"],
                signer=data["signer"],
                signer_name=data["signer_name"],
                method=data["method"],
                terminal=_terminal(actor, data["terminal"]),
                text_sha256=data["text_sha256"],
            )
        except DomainError as refusal:
            add_domain_error(form, refusal)
            error = refusal
        else:
            messages.success(request, _("Consent recorded."))
            return HttpResponseRedirect(reverse("console:patient", args=[patient.public_id]))
    status = error.status_code if error else (400 if form.is_bound else 200)
    context = {
        "patient": patient,
        "template": template,
        "form": form,
        "error": _refused(error) if error else None,
    }
    return render(request, "clinics/console/consent.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required(Role.CLINIC_STAFF)
def evidence_upload(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = _staff_actor(request)
    patient = _patient(actor, public_id)
    form = EvidenceForm(request.POST or None, request.FILES or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            evidence.evidence_upload(actor=actor, patient=patient, **form.cleaned_data)
        except DomainError as refusal:
            add_domain_error(form, refusal)
            error = refusal
        else:
            messages.success(request, _("Evidence uploaded; the doctor verifies it."))
            return HttpResponseRedirect(reverse("console:patient", args=[patient.public_id]))
    status = error.status_code if error else (400 if form.is_bound else 200)
    context = {"patient": patient, "form": form, "error": _refused(error) if error else None}
    return render(request, "clinics/console/evidence.html", context, status=status)


# --- Booking -----------------------------------------------------------------------------------


def _booking_context(request: HttpRequest, actor: Actor, patient: Patient) -> dict[str, Any]:
    """The slot picker: departments (with fees), their doctors, and the free slots of the day."""
    departments = list(departments_active().order_by("code"))
    by_id = {str(department.public_id): department for department in departments}
    # Always bound, on today unless another day is asked for: the date field then shows it.
    query = request.GET.copy()
    if not query.get("date"):
        query["date"] = timezone.localdate().isoformat()
    filters = BookingFilterForm(query)
    _set_choices(
        filters,
        "department",
        [
            ("", _("All departments")),
            *[
                (key, f"{department.name} · {yuan(department.consultation_fee_fen)}")
                for key, department in by_id.items()
            ],
        ],
    )
    chosen_department = by_id.get(request.GET.get("department", ""))
    doctors = doctors_visible_to(actor=actor)
    if chosen_department is not None:
        doctors = doctors.filter(department=chosen_department)
    doctor_rows = list(doctors)
    _set_choices(
        filters,
        "doctor",
        [
            ("", _("Any doctor")),
            *[
                (
                    str(doctor.user.public_id),
                    f"{doctor.user.full_name} · {doctor.get_title_display()}",
                )
                for doctor in doctor_rows
            ],
        ],
    )
    chosen_doctor = next(
        (d for d in doctor_rows if str(d.user.public_id) == request.GET.get("doctor", "")), None
    )
    day = timezone.localdate()
    if filters.is_valid() and filters.cleaned_data["date"]:
        day = filters.cleaned_data["date"]
    slots = slot_selectors.slots_on_day(slot_selectors.slots_upcoming(actor=actor), day)
    slots = slot_selectors.slots_by_availability(slots, available=True)
    if chosen_department is not None:
        slots = slots.filter(department=chosen_department)
    if chosen_doctor is not None:
        slots = slots.filter(doctor=chosen_doctor)
    slot_rows = list(slots[:LIST_LIMIT])
    for slot in slot_rows:
        slot.fee_text = yuan(slot.department.consultation_fee_fen)  # type: ignore[attr-defined]
    return {
        "patient": patient,
        "filters": filters,
        "day": day,
        "slots": slot_rows,
        "department": chosen_department,
        "department_fee": yuan(chosen_department.consultation_fee_fen)
        if chosen_department
        else None,
        "doctor": chosen_doctor,
    }


def _book_target(actor: Actor, post: Any) -> dict[str, Any]:
    """The booking mode the pressed button names, resolved as the staff member may see it."""
    mode = post.get("mode", "")
    if mode == "slot":
        if not post.get("slot"):
            raise DomainError(
                "Choose a slot.", code="validation_error", fields={"slot": ["Choose a slot."]}
            )
        return {"slot": slot_selectors.slot_get_for_actor(actor=actor, public_id=post["slot"])}
    if mode == "doctor" and post.get("doctor"):
        return {
            "doctor": slot_selectors.doctor_get_for_actor(actor=actor, public_id=post["doctor"])
        }
    if mode in ("department", "walk_in") and post.get("department"):
        department: Department = slot_selectors.department_get(public_id=post["department"])
        return {"department": department, "walk_in": mode == "walk_in"}
    raise DomainError(
        "Choose a department or doctor first.",
        code="validation_error",
        fields={"mode": ["Choose a department or doctor first."]},
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.CLINIC_STAFF)
def book(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = _staff_actor(request)
    patient = _patient(actor, public_id)
    error = None
    if request.method == "POST":
        try:
            booked = booking.consultation_book(
                actor=actor, patient=patient, **_book_target(actor, request.POST)
            )
        except DomainError as refusal:
            error = refusal
        else:
            summary = _("Booked, fee %(fee)s.") % {"fee": yuan(booked.fee_fen)}
            if booked.walk_in_token is not None:
                summary = _("Walk-in token %(token)s issued, fee %(fee)s.") % {
                    "token": booked.walk_in_token,
                    "fee": yuan(booked.fee_fen),
                }
            messages.success(request, summary)
            return HttpResponseRedirect(reverse("console:consultation", args=[booked.public_id]))
    context = _booking_context(request, actor, patient)
    context["error"] = _refused(error) if error else None
    return render(
        request, "clinics/console/book.html", context, status=error.status_code if error else 200
    )


# --- One consultation --------------------------------------------------------------------------


def _consultation_page(
    request: HttpRequest,
    actor: Actor,
    consultation: Consultation,
    *,
    vital: VitalForm | None = None,
    cancel: CancelForm | None = None,
    error: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    terminals = _terminal_choices(actor)
    check_in = CheckInForm(
        initial={"terminal": terminals[0][0] if len(terminals) == 1 else ""},
    )
    _set_choices(check_in, "terminal", [("", "—"), *terminals])
    if vital is None:
        default = consultation.checked_in_terminal
        vital = VitalForm(initial={"terminal": str(default.public_id) if default else ""})
    _set_choices(vital, "terminal", terminals)
    context = {
        "consultation": consultation,
        "fee": yuan(consultation.fee_fen),
        "vitals": list(consultation.vitals.all()),
        "prescriptions": list(
            prescriptions_visible_to(actor=actor).filter(consultation=consultation)
        ),
        "check_in": check_in,
        "vital": vital,
        "cancel": cancel or CancelForm(),
        "can_check_in": consultation.status == ConsultationStatus.BOOKED,
        "can_record_vitals": consultation.status
        in (ConsultationStatus.CHECKED_IN, ConsultationStatus.IN_PROGRESS),
        "can_cancel": consultation.status
        in (ConsultationStatus.BOOKED, ConsultationStatus.CHECKED_IN),
        "in_progress": consultation.status == ConsultationStatus.IN_PROGRESS,
        "error": _refused(error) if error else None,
    }
    return render(request, "clinics/console/consultation.html", context, status=status)


def _back_to(consultation: Consultation) -> HttpResponse:
    return HttpResponseRedirect(reverse("console:consultation", args=[consultation.public_id]))


@require_GET
@role_required(Role.CLINIC_STAFF)
def consultation_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = _staff_actor(request)
    return _consultation_page(request, actor, _consultation(actor, public_id))


@require_POST
@role_required(Role.CLINIC_STAFF)
def consultation_check_in(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = _staff_actor(request)
    consultation = _consultation(actor, public_id)
    try:
        lifecycle.consultation_check_in(
            actor=actor,
            consultation=consultation,
            terminal=_terminal(actor, request.POST.get("terminal", "")),
        )
    except DomainError as error:
        return _consultation_page(
            request, actor, consultation, error=error, status=error.status_code
        )
    messages.success(request, _("Checked in: the patient is in the doctor's queue."))
    return _back_to(consultation)


@require_POST
@role_required(Role.CLINIC_STAFF)
def consultation_vitals(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = _staff_actor(request)
    consultation = _consultation(actor, public_id)
    form = VitalForm(request.POST)
    _set_choices(form, "terminal", _terminal_choices(actor))
    if not form.is_valid():
        return _consultation_page(request, actor, consultation, vital=form, status=400)
    data = form.cleaned_data
    try:
        terminal = _terminal(actor, data["terminal"])
        assert terminal is not None  # a required choice among the facility's terminals
        records.vital_sign_record(
            actor=actor,
            terminal=terminal,
            consultation=consultation,
            kind=data["kind"],
            value=data["value"],
            value_secondary=data["value_secondary"],
        )
    except DomainError as error:
        add_domain_error(form, error)
        return _consultation_page(
            request, actor, consultation, vital=form, error=error, status=error.status_code
        )
    messages.success(request, _("Reading recorded."))
    return _back_to(consultation)


@require_POST
@role_required(Role.CLINIC_STAFF)
def consultation_cancel(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = _staff_actor(request)
    consultation = _consultation(actor, public_id)
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _consultation_page(request, actor, consultation, cancel=form, status=400)
    try:
        lifecycle.consultation_cancel(
            actor=actor, consultation=consultation, reason=form.cleaned_data["reason"]
        )
    except DomainError as error:
        add_domain_error(form, error)
        return _consultation_page(
            request, actor, consultation, cancel=form, error=error, status=error.status_code
        )
    messages.success(request, _("Cancelled; the slot is free again."))
    return _back_to(consultation)


# --- Pickup handover ---------------------------------------------------------------------------


def _pickup_page(
    request: HttpRequest,
    actor: Actor,
    form: PickupForm,
    *,
    error: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    waiting = list(
        pharmacy_selectors.fulfilments_visible_to(actor=actor)
        .filter(status=FulfilmentStatus.READY_FOR_PICKUP)
        .order_by("ready_at", "pk")[:LIST_LIMIT]
    )
    pharmacy_selectors.fulfilments_record_list_read(actor=actor, fulfilments=waiting)
    handed_over = None
    done = request.GET.get("done", "")
    if done:
        try:
            handed_over = pharmacy_selectors.fulfilment_detail(
                pharmacy_selectors.fulfilment_get_for_actor(actor=actor, public_id=done)
            )
        except (NotFoundError, ValueError):
            handed_over = None
    context = {
        "form": form,
        "waiting": waiting,
        "handed_over": handed_over,
        "error": _refused(error) if error else None,
    }
    return render(request, "clinics/console/pickup.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required(Role.CLINIC_STAFF)
def pickup(request: HttpRequest) -> HttpResponse:
    actor = _staff_actor(request)
    if request.method == "GET":
        return _pickup_page(request, actor, PickupForm())
    form = PickupForm(request.POST)
    if not form.is_valid():
        return _pickup_page(request, actor, form, status=400)
    try:
        fulfilment = pickup_dispense(
            actor=actor, code=form.cleaned_data["code"], token=form.cleaned_data["token"]
        )
    except DomainError as error:
        add_domain_error(form, error)
        return _pickup_page(request, actor, form, error=error, status=error.status_code)
    messages.success(request, _("Handed over: the prescription is dispensed."))
    return HttpResponseRedirect(f"{reverse('console:pickup')}?done={fulfilment.public_id}")


urlpatterns = [
    path("", console_home, name="home"),
    path("day/", day_list, name="day"),
    path("patients/lookup/", patient_lookup, name="patient-lookup"),
    path("patients/new/", patient_register, name="patient-new"),
    path("patients/validate-id/", validate_id, name="validate-id"),
    path("patients/<uuid:public_id>/", patient_detail, name="patient"),
    path("patients/<uuid:public_id>/edit/", patient_edit, name="patient-edit"),
    path(
        "patients/<uuid:public_id>/verify-identity/",
        patient_verify_identity,
        name="patient-verify-identity",
    ),
    path("patients/<uuid:public_id>/consent/", consent, name="consent"),
    path("patients/<uuid:public_id>/evidence/", evidence_upload, name="evidence"),
    path("patients/<uuid:public_id>/book/", book, name="book"),
    path("consultations/<uuid:public_id>/", consultation_detail, name="consultation"),
    path("consultations/<uuid:public_id>/check-in/", consultation_check_in, name="check-in"),
    path("consultations/<uuid:public_id>/vitals/", consultation_vitals, name="vitals"),
    path("consultations/<uuid:public_id>/cancel/", consultation_cancel, name="cancel"),
    path("pickup/", pickup, name="pickup"),
]
