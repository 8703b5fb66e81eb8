"""The doctor's workstation (`/workstation/`): today's queue, the consultation with the patient's
summary, the video pane, the SOAP note and diagnoses, completing or terminating with a referral,
and the prescription editor (rule violations where they happen, warnings acknowledged with a
reason, signing with the PIN, revising a rejected version).

The consultation page keeps the video call running while the doctor writes: its forms post with
htmx and swap only the record (`#workspace`); without JavaScript they post and reload as usual.
Views are thin: the same services as the API do the work and say no with a code.
"""

from dataclasses import dataclass, field
from decimal import Decimal
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
from consultations.models import (
    Consultation,
    ConsultationStatus,
    TerminationReason,
)
from consultations.selectors import consultations as selectors
from consultations.services import lifecycle, records
from core.actors import Actor, actor_from_request
from core.dates import age_on
from core.exceptions import DomainError, NotFoundError
from core.models import AuditAction
from core.pages import role_required
from core.services import audit_record
from core.views import (
    PICKER_OPTIONS,
    add_domain_error,
    error_context,
    picker_attrs,
    plain_number,
)
from patients import evidence as evidence_services
from patients.models import GUARDIAN_REQUIRED_UNDER_YEARS, Patient
from prescriptions import selectors as prescription_selectors
from prescriptions.models import Drug, Frequency, Prescription, PrescriptionStatus, Route
from prescriptions.rules import MAX_ITEMS, MAX_VALIDITY_DAYS, DraftSpec, ItemSpec
from prescriptions.services import lifecycle as prescription_lifecycle
from prescriptions.services import prescribing
from video.selectors import call_room_get_for_actor
from video.views import call_labels

app_name = "workstation"

# The refusals a doctor meets, in the page's language; others keep the service's message.
ERROR_MESSAGES = {
    "consent_required": _("The patient has not consented to remote care."),
    "followup_evidence_required": _(
        "Online care is for follow-up visits: verify the patient's prior-diagnosis evidence first."
    ),
    "not_treating_doctor": _("Only the treating doctor does this."),
    "invalid_transition": _("This is not possible in the current status."),
    "consultation_not_in_progress": _("The record is written while the consultation is on."),
    "note_required": _("Write the note's assessment first."),
    "diagnosis_required": _("Record the primary diagnosis first."),
    "diagnoses_invalid": _("One primary and at most five different secondary diagnoses."),
    "diagnosis_code_unknown": _("Unknown ICD-10 code."),
    "termination_reason_invalid": _("Choose a termination reason."),
    "referral_note_required": _("Write the referral note."),
    "consultation_not_prescribable": _(
        "Prescribe during the consultation or on the day it was completed."
    ),
    "diagnosis_not_follow_up": _(
        "The diagnosis matches no verified prior diagnosis: online prescriptions are for "
        "follow-up visits only."
    ),
    "guardian_required": _("The patient is under 6: a guardian must be recorded first."),
    "controlled_drug_banned": _("Controlled drugs cannot be prescribed online."),
    "drug_not_prescribable": _("This drug is not prescribable online."),
    "drug_unknown": _("Unknown drug: pick one from the formulary."),
    "items_required": _("A prescription has at least one drug."),
    "too_many_items": _("At most 5 drugs per prescription."),
    "duplicate_item": _("Each drug appears once; change its dose instead."),
    "supply_reason_required": _("More than 7 days' supply needs a reason."),
    "long_term_required": _(
        "More than 28 days is a long-term prescription: flag it, record the assessment and "
        "the patient's confirmation."
    ),
    "long_term_not_eligible": _("This drug is not eligible for long-term prescription."),
    "days_supply_over_cap": _("Never more than 84 days' supply."),
    "quantity_mismatch": _("The quantity does not match the dose and days."),
    "validity_too_long": _("A prescription is valid for 1 to 3 days."),
    "validity_reason_required": _("Extending validity beyond the signing day needs a reason."),
    "acknowledgement_reason_required": _("Say why the warning is acceptable."),
    "warnings_unacknowledged": _("Acknowledge every warning with a reason before signing."),
    "prescription_immutable": _("A signed prescription never changes; revise it instead."),
    "prescription_changed": _("The prescription changed while it was being signed; sign again."),
    "signing_pin_invalid": _("Wrong signing PIN."),
    "signing_pin_locked": _("Too many wrong PINs: signing is locked for a while."),
    "signing_credential_missing": _("You hold no active signing credential."),
    "prescription_not_rejected": _("Only a rejected prescription is revised."),
    "already_revised": _("This version was already revised."),
}
SIGNING_CODES = ("signing_pin_invalid", "signing_pin_locked", "signing_credential_missing")
HISTORY_LIMIT = 20


def _consultation(actor: Actor, public_id: Any) -> Consultation:
    try:
        return selectors.consultation_get_for_actor(actor=actor, public_id=public_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


def _prescription(actor: Actor, public_id: Any) -> Prescription:
    try:
        return prescription_selectors.prescription_get_for_actor(actor=actor, public_id=public_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


def _refused(error: DomainError) -> dict[str, Any]:
    return error_context(error, ERROR_MESSAGES)


# --- Forms -------------------------------------------------------------------------------------


def _icd10_picker(form: forms.Form, name: str) -> None:
    form.fields[name].widget.attrs.update(
        picker_attrs(
            options_url=reverse("icd10-options"),
            name=form.add_prefix(name),
            datalist="icd10-options",
        )
    )


class NoteForm(forms.Form):
    subjective = forms.CharField(
        label=_("Subjective (what the patient reports)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    objective = forms.CharField(
        label=_("Objective (findings, readings)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    assessment = forms.CharField(
        label=_("Assessment"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    plan = forms.CharField(
        label=_("Plan"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class DiagnosesForm(forms.Form):
    primary = forms.CharField(label=_("Primary diagnosis (ICD-10 code or name)"), max_length=60)
    secondary = forms.CharField(
        label=_("Secondary diagnoses (ICD-10 codes, separated by commas)"),
        required=False,
        max_length=120,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _icd10_picker(self, "primary")

    def secondary_codes(self) -> list[str]:
        raw = self.cleaned_data["secondary"].replace("，", ",")
        return [code.strip().upper() for code in raw.split(",") if code.strip()]


class TerminateForm(forms.Form):
    reason_code = forms.ChoiceField(label=_("Reason"), choices=TerminationReason.choices)
    referral_note = forms.CharField(
        label=_("Referral note (where and why the patient should be seen in person)"),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PrescriptionForm(forms.Form):
    diagnosis = forms.CharField(
        label=_("Diagnosis (ICD-10, one the verified evidence shows)"), max_length=60
    )
    supply_reason = forms.CharField(
        label=_("Reason for more than 7 days' supply"), max_length=300, required=False
    )
    long_term = forms.BooleanField(label=_("Long-term prescription (over 28 days)"), required=False)
    long_term_assessment = forms.CharField(
        label=_("Long-term assessment"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    long_term_patient_confirmed = forms.BooleanField(
        label=_("The patient confirmed the long-term prescription"), required=False
    )
    validity_days = forms.TypedChoiceField(
        label=_("Valid for"),
        coerce=int,
        choices=[
            (1, _("the signing day")),
            *[
                (days, _("%(days)s days") % {"days": days})
                for days in range(2, MAX_VALIDITY_DAYS + 1)
            ],
        ],
        initial=1,
    )
    validity_reason = forms.CharField(
        label=_("Reason for a longer validity"), max_length=300, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _icd10_picker(self, "diagnosis")


class ItemForm(forms.Form):
    drug = forms.CharField(label=_("Drug (name or formulary code)"), max_length=60)
    dose = forms.DecimalField(
        label=_("Dose"), max_digits=10, decimal_places=3, min_value=Decimal("0.001")
    )
    frequency = forms.ChoiceField(label=_("Frequency"), choices=Frequency.choices, initial="qd")
    route = forms.ChoiceField(
        label=_("Route"),
        required=False,
        choices=[("", _("the drug's usual route")), *Route.choices],
    )
    days_supply = forms.IntegerField(label=_("Days"), min_value=1, max_value=365, initial=7)
    quantity = forms.IntegerField(
        label=_("Packs (blank: calculated)"), min_value=1, max_value=10_000, required=False
    )
    instructions = forms.CharField(label=_("Instructions"), max_length=200, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["drug"].widget.attrs.update(
            picker_attrs(
                options_url=reverse("workstation:drugs"),
                name=self.add_prefix("drug"),
                datalist="drug-options",
            )
        )


class PinForm(forms.Form):
    pin = forms.CharField(
        label=_("Signing PIN"),
        max_length=32,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )


class AcknowledgeForm(forms.Form):
    reason = forms.CharField(label=_("Why it is acceptable"), max_length=300)


@dataclass
class Editor:
    """The prescription form with its drug rows, bound or fresh."""

    form: PrescriptionForm
    rows: list[ItemForm]
    prefix: str
    errors: list[str] = field(default_factory=list)


def _editor(prefix: str, data: Any = None, prescription: Prescription | None = None) -> Editor:
    """Five drug rows; on a POST a row counts when its drug is filled in."""
    initial: dict[str, Any] = {}
    row_initial: list[dict[str, Any]] = []
    if prescription is not None and data is None:
        initial = {
            "diagnosis": prescription.diagnosis.code,
            "supply_reason": prescription.supply_reason,
            "long_term": prescription.long_term,
            "long_term_assessment": prescription.long_term_assessment,
            "long_term_patient_confirmed": prescription.long_term_patient_confirmed,
            "validity_days": prescription.validity_days,
            "validity_reason": prescription.validity_reason,
        }
        row_initial = [
            {
                "drug": item.drug.code,
                "dose": plain_number(item.dose),
                "frequency": item.frequency,
                "route": item.route,
                "days_supply": item.days_supply,
                "quantity": item.quantity,
                "instructions": item.instructions,
            }
            for item in prescription.items.all()
        ]
    form = PrescriptionForm(data, prefix=prefix, initial=initial)
    rows = []
    for index in range(MAX_ITEMS):
        row_prefix = f"{prefix}-item{index}"
        used = data is not None and bool(data.get(f"{row_prefix}-drug", "").strip())
        # Rows left blank on a POST stay unbound: they are offered again, not validated.
        rows.append(
            ItemForm(
                data if used else None,
                prefix=row_prefix,
                initial=row_initial[index] if index < len(row_initial) else None,
                use_required_attribute=False,
            )
        )
    return Editor(form=form, rows=rows, prefix=prefix)


def _spec(editor: Editor) -> tuple[str, DraftSpec] | None:
    """The draft the editor describes, or None with the errors left on its forms."""
    valid = editor.form.is_valid()
    filled = [row for row in editor.rows if row.is_bound]
    for row in filled:
        valid = row.is_valid() and valid
    if not valid:
        return None
    codes = {row.cleaned_data["drug"].strip() for row in filled}
    drugs = {drug.code: drug for drug in Drug.objects.filter(code__in=codes)}
    for row in filled:
        if row.cleaned_data["drug"].strip() not in drugs:
            row.add_error("drug", _("Unknown drug: pick one from the formulary."))
            valid = False
    if not valid:
        return None
    data = editor.form.cleaned_data
    items = []
    for row in filled:
        values = row.cleaned_data
        drug = drugs[values["drug"].strip()]
        items.append(
            ItemSpec(
                drug=drug,
                dose=values["dose"],
                frequency=values["frequency"],
                route=values["route"] or drug.default_route,
                days_supply=values["days_supply"],
                quantity=values["quantity"],
                instructions=values["instructions"],
            )
        )
    spec = DraftSpec(
        items=items,
        supply_reason=data["supply_reason"],
        long_term=data["long_term"],
        long_term_assessment=data["long_term_assessment"],
        long_term_patient_confirmed=data["long_term_patient_confirmed"],
        validity_days=data["validity_days"],
        validity_reason=data["validity_reason"],
    )
    return data["diagnosis"].strip().upper(), spec


def _editor_refused(editor: Editor, error: DomainError) -> None:
    """A rule's refusal beside the part of the editor it concerns (`items` above the rows)."""
    for name, messages_ in error.fields.items():
        target = name if name in editor.form.fields else None
        for message in messages_:
            if target is None:
                editor.errors.append(message)
            else:
                editor.form.add_error(target, message)
    if not error.fields:
        editor.errors.append(error.message)


# --- Home and queue ----------------------------------------------------------------------------


def _queue_context(actor: Actor) -> dict[str, Any]:
    rows = selectors.doctor_queue(actor=actor)
    selectors.consultations_record_list_read(actor=actor, consultations=rows)
    return {"queue": rows, "updated_at": timezone.localtime()}


@require_GET
@role_required(Role.DOCTOR)
def workstation_home(request: HttpRequest) -> HttpResponse:
    actor = actor_from_request(request)
    mine = prescription_selectors.prescriptions_visible_to(actor=actor)
    to_revise = list(
        mine.filter(status=PrescriptionStatus.REJECTED, next_version__isnull=True).order_by(
            "-reviewed_at"
        )[:HISTORY_LIMIT]
    )
    drafts = list(mine.filter(status=PrescriptionStatus.DRAFT).order_by("-created_at"))
    prescription_selectors.prescriptions_record_list_read(
        actor=actor, prescriptions=[*to_revise, *drafts]
    )
    context = {**_queue_context(actor), "to_revise": to_revise, "drafts": drafts}
    return render(request, "consultations/workstation/home.html", context)


@require_GET
@role_required(Role.DOCTOR)
def queue_partial(request: HttpRequest) -> HttpResponse:
    """The queue alone: what the home page polls every 10 seconds."""
    return render(
        request,
        "consultations/workstation/_queue.html",
        _queue_context(actor_from_request(request)),
    )


# --- The consultation page ---------------------------------------------------------------------


def _video_context(request: HttpRequest, actor: Actor, consultation: Consultation) -> Any:
    if consultation.status != ConsultationStatus.IN_PROGRESS:
        return None
    try:
        _, participant = call_room_get_for_actor(actor=actor, public_id=consultation.public_id)
    except NotFoundError:
        return None
    return {
        "participant": participant,
        "token_url": reverse("consultation-video-token", args=[consultation.public_id]),
        "labels": call_labels(),
    }


def _patient_summary(actor: Actor, consultation: Consultation) -> dict[str, Any]:
    patient: Patient = consultation.patient
    # Reaching the consultation reaches its patient: record that the record was shown.
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type="patient",
        object_ids=[patient.public_id],
        detail={"via": "workstation"},
    )
    evidence = list(evidence_services.evidence_for_patient(patient=patient))
    evidence_services.evidence_record_read(actor=actor, patient=patient, evidence=evidence)
    history = list(
        selectors.consultations_visible_to(actor=actor)
        .filter(patient=patient)
        .exclude(pk=consultation.pk)
        .order_by("-scheduled_start", "-pk")[:HISTORY_LIMIT]
    )
    selectors.consultations_record_list_read(actor=actor, consultations=history)
    past_prescriptions = list(
        prescription_selectors.prescriptions_visible_to(actor=actor)
        .filter(patient=patient)
        .exclude(consultation=consultation)
        .order_by("-created_at")[:HISTORY_LIMIT]
    )
    prescription_selectors.prescriptions_record_list_read(
        actor=actor, prescriptions=past_prescriptions
    )
    age = age_on(patient.birth_date, timezone.localdate())
    return {
        "patient": patient,
        "age": age,
        "guardian_required": age < GUARDIAN_REQUIRED_UNDER_YEARS,
        "evidence": evidence,
        "has_verified_evidence": any(item.verified_at for item in evidence),
        "history": history,
        "past_prescriptions": past_prescriptions,
    }


def _rx_blocks(
    actor: Actor, consultation: Consultation, forms_: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each prescription of the consultation: a draft with its editor, warnings and signing
    form; a signed version as it stands."""
    prescriptions = list(
        prescription_selectors.prescriptions_visible_to(actor=actor)
        .filter(consultation=consultation)
        .select_related("next_version")  # whether a rejected one was revised already
        .order_by("created_at", "pk")
    )
    prescription_selectors.prescriptions_record_list_read(actor=actor, prescriptions=prescriptions)
    return [_rx_block(prescription, forms_) for prescription in prescriptions]


def _rx_block(prescription: Prescription, forms_: dict[str, Any]) -> dict[str, Any]:
    key = str(prescription.public_id)
    is_draft = prescription.status == PrescriptionStatus.DRAFT
    warnings = list(prescription.warnings.all())
    for item in prescription.items.all():
        item.dose_text = plain_number(item.dose)  # type: ignore[attr-defined]
    return {
        "prescription": prescription,
        "is_draft": is_draft,
        "editable": is_draft,
        "editor": forms_.get(f"rx:{key}") or (_editor(f"rx-{key}", None, prescription)),
        "warnings": [
            {"warning": warning, "form": forms_.get(f"ack:{warning.pk}") or AcknowledgeForm()}
            for warning in warnings
        ],
        "unacknowledged": sum(1 for warning in warnings if not warning.acknowledged_at),
        "pin": forms_.get(f"sign:{key}") or PinForm(),
        "error": forms_.get(f"error:{key}"),
        "revisable": prescription.status == PrescriptionStatus.REJECTED
        and not hasattr(prescription, "next_version"),
        "total": yuan_total(prescription),
    }


def yuan_total(prescription: Prescription) -> str:
    fen = sum(item.unit_price_fen * item.quantity for item in prescription.items.all())
    return f"¥{Decimal(fen) / 100:.2f}"


def _consultation_page(
    request: HttpRequest,
    actor: Actor,
    consultation: Consultation,
    *,
    forms_: dict[str, Any] | None = None,
    error: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    forms_ = forms_ or {}
    note = getattr(consultation, "note", None)
    diagnoses = list(consultation.diagnoses.select_related("code"))
    primary = next((d for d in diagnoses if d.is_primary), None)
    new_editor = forms_.get("rx:new")
    if new_editor is None:
        new_editor = _editor("rx-new")
        new_editor.form.initial["diagnosis"] = primary.code.code if primary else ""
    context = {
        "consultation": consultation,
        **_patient_summary(actor, consultation),
        "vitals": list(consultation.vitals.all()),
        "video": _video_context(request, actor, consultation),
        "is_checked_in": consultation.status == ConsultationStatus.CHECKED_IN,
        "in_progress": consultation.status == ConsultationStatus.IN_PROGRESS,
        "note": note,
        "note_form": forms_.get("note")
        or NoteForm(
            initial={
                "subjective": note.subjective,
                "objective": note.objective,
                "assessment": note.assessment,
                "plan": note.plan,
            }
            if note
            else None
        ),
        "diagnoses": diagnoses,
        "diagnoses_form": forms_.get("diagnoses")
        or DiagnosesForm(
            initial={
                "primary": primary.code.code if primary else "",
                "secondary": ", ".join(d.code.code for d in diagnoses if not d.is_primary),
            }
        ),
        "terminate_form": forms_.get("terminate") or TerminateForm(),
        "prescriptions": _rx_blocks(actor, consultation, forms_),
        "new_editor": new_editor,
        "error": _refused(error) if error else None,
    }
    return render(request, "consultations/workstation/consultation.html", context, status=status)


def _back_to(consultation: Consultation, anchor: str = "") -> HttpResponse:
    url = reverse("workstation:consultation", args=[consultation.public_id])
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)


@require_GET
@role_required(Role.DOCTOR)
def consultation_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    return _consultation_page(request, actor, _consultation(actor, public_id))


def _transition(request: HttpRequest, public_id: Any, act: Any, done: Any) -> HttpResponse:
    actor = actor_from_request(request)
    consultation = _consultation(actor, public_id)
    try:
        act(actor, consultation)
    except DomainError as error:
        consultation = _consultation(actor, public_id)
        return _consultation_page(
            request, actor, consultation, error=error, status=error.status_code
        )
    messages.success(request, done)
    return _back_to(consultation)


@require_POST
@role_required(Role.DOCTOR)
def consultation_start(request: HttpRequest, public_id: Any) -> HttpResponse:
    return _transition(
        request,
        public_id,
        lambda actor, consultation: lifecycle.consultation_start(
            actor=actor, consultation=consultation
        ),
        _("Consultation started: the facility is told to join the video."),
    )


@require_POST
@role_required(Role.DOCTOR)
def consultation_complete(request: HttpRequest, public_id: Any) -> HttpResponse:
    return _transition(
        request,
        public_id,
        lambda actor, consultation: lifecycle.consultation_complete(
            actor=actor, consultation=consultation
        ),
        _("Consultation completed."),
    )


@require_POST
@role_required(Role.DOCTOR)
def consultation_terminate(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    consultation = _consultation(actor, public_id)
    form = TerminateForm(request.POST)
    if not form.is_valid():
        return _consultation_page(
            request, actor, consultation, forms_={"terminate": form}, status=400
        )
    try:
        lifecycle.consultation_terminate(
            actor=actor, consultation=consultation, **form.cleaned_data
        )
    except DomainError as error:
        add_domain_error(form, error)
        return _consultation_page(
            request,
            actor,
            consultation,
            forms_={"terminate": form},
            error=error,
            status=error.status_code,
        )
    messages.success(request, _("Consultation terminated and the patient referred; fees go back."))
    return _back_to(consultation)


@require_POST
@role_required(Role.DOCTOR)
def consultation_note(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    consultation = _consultation(actor, public_id)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            records.clinical_note_save(actor=actor, consultation=consultation, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
            return _consultation_page(
                request,
                actor,
                consultation,
                forms_={"note": form},
                error=error,
                status=error.status_code,
            )
        return _back_to(consultation, "note")
    return _consultation_page(request, actor, consultation, forms_={"note": form}, status=400)


@require_POST
@role_required(Role.DOCTOR)
def consultation_diagnoses(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    consultation = _consultation(actor, public_id)
    form = DiagnosesForm(request.POST)
    if form.is_valid():
        try:
            records.consultation_set_diagnoses(
                actor=actor,
                consultation=consultation,
                primary=form.cleaned_data["primary"].strip().upper(),
                secondary=form.secondary_codes(),
            )
        except DomainError as error:
            add_domain_error(form, error)
            return _consultation_page(
                request,
                actor,
                consultation,
                forms_={"diagnoses": form},
                error=error,
                status=error.status_code,
            )
        return _back_to(consultation, "diagnoses")
    return _consultation_page(request, actor, consultation, forms_={"diagnoses": form}, status=400)


@require_POST
@role_required(Role.DOCTOR)
def evidence_verify(request: HttpRequest, public_id: Any, evidence_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    consultation = _consultation(actor, public_id)
    try:
        item = evidence_services.evidence_get(patient=consultation.patient, public_id=evidence_id)
    except NotFoundError as error:
        raise Http404(error.message) from error
    try:
        evidence_services.evidence_verify(actor=actor, evidence=item)
    except DomainError as error:
        return _consultation_page(
            request, actor, consultation, error=error, status=error.status_code
        )
    return _back_to(consultation, "evidence")


# --- Prescribing -------------------------------------------------------------------------------


@require_POST
@role_required(Role.DOCTOR)
def prescription_new(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    consultation = _consultation(actor, public_id)
    editor = _editor("rx-new", request.POST)
    parsed = _spec(editor)
    if parsed is None:
        return _consultation_page(
            request, actor, consultation, forms_={"rx:new": editor}, status=400
        )
    diagnosis, spec = parsed
    try:
        created = prescribing.prescription_create(
            actor=actor, consultation=consultation, diagnosis_code=diagnosis, spec=spec
        )
    except DomainError as error:
        _editor_refused(editor, error)
        return _consultation_page(
            request,
            actor,
            consultation,
            forms_={"rx:new": editor},
            error=error,
            status=error.status_code,
        )
    return _back_to(consultation, f"rx-{created.public_id}")


@require_POST
@role_required(Role.DOCTOR)
def prescription_edit(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    prescription = _prescription(actor, public_id)
    key = str(prescription.public_id)
    editor = _editor(f"rx-{key}", request.POST)
    parsed = _spec(editor)
    error = None
    if parsed is not None:
        diagnosis, spec = parsed
        try:
            prescribing.prescription_update(
                actor=actor, prescription=prescription, diagnosis_code=diagnosis, spec=spec
            )
        except DomainError as refusal:
            _editor_refused(editor, refusal)
            error = refusal
        else:
            return _back_to(prescription.consultation, f"rx-{key}")
    return _consultation_page(
        request,
        actor,
        prescription.consultation,
        forms_={f"rx:{key}": editor, f"error:{key}": _refused(error) if error else None},
        error=error,
        status=error.status_code if error else 400,
    )


@require_POST
@role_required(Role.DOCTOR)
def warning_acknowledge(request: HttpRequest, public_id: Any, warning_id: int) -> HttpResponse:
    actor = actor_from_request(request)
    prescription = _prescription(actor, public_id)
    form = AcknowledgeForm(request.POST)
    error = None
    if form.is_valid():
        try:
            prescribing.warning_acknowledge(
                actor=actor,
                prescription=prescription,
                warning_id=warning_id,
                reason=form.cleaned_data["reason"],
            )
        except NotFoundError as refusal:
            raise Http404(refusal.message) from refusal
        except DomainError as refusal:
            add_domain_error(form, refusal, default_field="reason")
            error = refusal
        else:
            return _back_to(prescription.consultation, f"rx-{prescription.public_id}")
    key = str(prescription.public_id)
    return _consultation_page(
        request,
        actor,
        prescription.consultation,
        forms_={f"ack:{warning_id}": form, f"error:{key}": _refused(error) if error else None},
        error=error,
        status=error.status_code if error else 400,
    )


@require_POST
@role_required(Role.DOCTOR)
def prescription_sign(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    prescription = _prescription(actor, public_id)
    key = str(prescription.public_id)
    form = PinForm(request.POST)
    error = None
    if form.is_valid():
        try:
            prescription_lifecycle.prescription_sign(
                actor=actor, prescription=prescription, pin=form.cleaned_data["pin"]
            )
        except DomainError as refusal:
            add_domain_error(
                form, refusal, default_field="pin" if refusal.code in SIGNING_CODES else None
            )
            error = refusal
        else:
            messages.success(
                request,
                _("Prescription %(number)s signed and sent to the pharmacist.")
                % {"number": prescription.number},
            )
            return _back_to(prescription.consultation, f"rx-{key}")
    return _consultation_page(
        request,
        actor,
        prescription.consultation,
        forms_={f"sign:{key}": form, f"error:{key}": _refused(error) if error else None},
        error=error,
        status=error.status_code if error else 400,
    )


@require_POST
@role_required(Role.DOCTOR)
def prescription_revise(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    prescription = _prescription(actor, public_id)
    try:
        revised = prescribing.prescription_revise(actor=actor, prescription=prescription)
    except DomainError as error:
        return _prescription_page(request, actor, prescription, error=error)
    return _back_to(prescription.consultation, f"rx-{revised.public_id}")


def _prescription_page(
    request: HttpRequest,
    actor: Actor,
    prescription: Prescription,
    *,
    error: DomainError | None = None,
) -> HttpResponse:
    rx_block = _rx_block(prescription, {})
    rx_block["editable"] = False  # drafts are written on their consultation's page
    context = {
        "rx_block": rx_block,
        "consultation": prescription.consultation,
        "error": _refused(error) if error else None,
    }
    return render(
        request,
        "consultations/workstation/prescription.html",
        context,
        status=error.status_code if error else 200,
    )


@require_GET
@role_required(Role.DOCTOR)
def prescription_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    return _prescription_page(request, actor, _prescription(actor, public_id))


@require_GET
@role_required(Role.DOCTOR)
def drug_options(request: HttpRequest) -> HttpResponse:
    """`<option>`s of prescribable drugs for the editor's `<datalist>` (see icd10_options)."""
    typed = request.GET.get(request.GET.get("for", "q"), "")[:60].strip()
    drugs = (
        prescription_selectors.drugs_search(query=typed, prescribable_only=True)[:PICKER_OPTIONS]
        if typed
        else []
    )
    return render(request, "consultations/workstation/_drug_options.html", {"drugs": drugs})


urlpatterns = [
    path("", workstation_home, name="home"),
    path("queue/", queue_partial, name="queue"),
    path("drugs/", drug_options, name="drugs"),
    path("consultations/<uuid:public_id>/", consultation_detail, name="consultation"),
    path("consultations/<uuid:public_id>/start/", consultation_start, name="start"),
    path("consultations/<uuid:public_id>/complete/", consultation_complete, name="complete"),
    path("consultations/<uuid:public_id>/terminate/", consultation_terminate, name="terminate"),
    path("consultations/<uuid:public_id>/note/", consultation_note, name="note"),
    path("consultations/<uuid:public_id>/diagnoses/", consultation_diagnoses, name="diagnoses"),
    path(
        "consultations/<uuid:public_id>/evidence/<uuid:evidence_id>/verify/",
        evidence_verify,
        name="evidence-verify",
    ),
    path(
        "consultations/<uuid:public_id>/prescriptions/",
        prescription_new,
        name="prescription-new",
    ),
    path("prescriptions/<uuid:public_id>/", prescription_detail, name="prescription"),
    path("prescriptions/<uuid:public_id>/edit/", prescription_edit, name="prescription-edit"),
    path(
        "prescriptions/<uuid:public_id>/warnings/<int:warning_id>/acknowledge/",
        warning_acknowledge,
        name="warning-acknowledge",
    ),
    path("prescriptions/<uuid:public_id>/sign/", prescription_sign, name="prescription-sign"),
    path("prescriptions/<uuid:public_id>/revise/", prescription_revise, name="prescription-revise"),
]
