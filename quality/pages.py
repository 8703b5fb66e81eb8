"""Quality pages under /quality/: the operations dashboard (with its CSV export), complaint
handling for operations, the reviewers' worklist and scoring form, and the patient's survey
behind the link in their message (no sign-in).

Views are thin: forms check the shape of the input, services decide, selectors choose what each
person sees ("not yours" is a 404, as in the API).
"""

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role
from core.actors import actor_from_request, client_ip
from core.exceptions import DomainError, NotFoundError
from core.pages import role_required
from prescriptions.models import RejectionReason
from quality.charts import BarChart, bar_chart
from quality.exports import csv_response
from quality.models import (
    CHECKLIST,
    SCORE_MAX,
    SCORE_MIN,
    Complaint,
    ComplaintCategory,
    ComplaintSeverity,
    ComplaintStatus,
    FeedbackInvitation,
    ReviewAssignment,
)
from quality.selectors import complaints as complaint_selectors
from quality.selectors import reviews as review_selectors
from quality.selectors.dashboard import (
    DIMENSIONS,
    QualityDashboard,
    period_from,
    quality_dashboard,
)
from quality.selectors.feedback import feedback_invitation_from_token
from quality.services import complaints, reviews
from quality.services.feedback import FeedbackAnswers, feedback_submit

app_name = "quality"
View = Callable[..., HttpResponse]
ROWS_PER_PAGE = 50
COMPLAINTS_PER_PAGE = 30

DIMENSION_LABELS: Mapping[str, Any] = {
    "facility": _("Facility"),
    "city": _("City"),
    "department": _("Department"),
    "doctor": _("Doctor"),
}
REASON_LABELS: Mapping[str, Any] = {
    "indication": _("Indication does not fit"),
    "dose": _("Dose or frequency"),
    "duplicate": _("Duplicate therapy"),
    "interaction": _("Interaction"),
    "allergy": _("Allergy risk"),
    "quantity": _("Quantity or duration"),
    "incomplete": _("Incomplete"),
    "other": _("Other"),
}
STATUS_LABELS: Mapping[str, Any] = {
    "submitted": _("Submitted"),
    "triaged": _("Triaged"),
    "responded": _("Answered"),
    "closed": pgettext_lazy("complaint status", "Closed"),
    "withdrawn": _("Withdrawn"),
}
CATEGORY_LABELS: Mapping[str, Any] = {
    "service_attitude": _("Service attitude"),
    "waiting": _("Waiting time"),
    "medical_care": _("Medical care"),
    "medication": _("Prescription and medication"),
    "billing": _("Billing and refunds"),
    "delivery": _("Pickup and delivery"),
    "technical": _("Video and equipment"),
    "privacy": _("Privacy"),
    "other": _("Other"),
}
SEVERITY_LABELS: Mapping[str, Any] = {
    "low": _("Low"),
    "medium": _("Medium"),
    "high": _("High"),
    "critical": _("Critical"),
}
SUBJECT_LABELS: Mapping[str, Any] = {
    "consultation": _("Consultation"),
    "prescription": _("Prescription"),
    "payment": _("Payment"),
    "delivery": pgettext_lazy("complaint subject", "Pickup or delivery"),
}
CHECKLIST_LABELS: Mapping[str, Any] = {
    "record_completeness": _("Record completeness"),
    "diagnosis_consistency": _("Diagnosis–prescription consistency"),
    "rule_compliance": _("Rule compliance"),
    "communication": _("Communication"),
}
QUESTION_LABELS: Mapping[str, Any] = {
    "overall": _("Overall, how satisfied are you with this visit?"),
    "waiting_time": _("How satisfied are you with the waiting time?"),
    "audio_video": _("How was the video and audio quality?"),
    "explanation": _("How well did the doctor explain your condition and treatment?"),
}
# What people read when a service refuses; the services speak English with stable codes.
ERROR_MESSAGES: Mapping[str, Any] = {
    "feedback_link_invalid": _("This survey link is not valid."),
    "feedback_link_expired": _("This survey link has expired."),
    "feedback_already_submitted": _("This visit has already been rated. Thank you!"),
    "feedback_invalid": _("Please answer every question with 1 to 5 stars."),
    "invalid_transition": _("The complaint is no longer in a state that allows this."),
    "complaint_triage_invalid": _("Choose a category, a severity and an assignee."),
    "assignee_not_found": _("Assign an active operations colleague."),
    "complaint_reply_invalid": _("Write the answer."),
    "complaint_resolution_required": _("Say how the complaint was resolved."),
    "review_already_completed": _("This review is already scored."),
    "review_scores_invalid": _("Score every item of the checklist from 1 to 5."),
    "period_invalid": _("The period ends before it starts."),
    "period_too_long": _("At most 366 days at a time."),
}


def _message(error: DomainError) -> str:
    return str(ERROR_MESSAGES.get(error.code, error.message))


def _not_found_as_404(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFoundError as error:
            raise Http404(error.message) from error

    return wrapped


def label(labels: Mapping[str, Any], value: str) -> str:
    return str(labels.get(value, value))


# --- Dashboard -----------------------------------------------------------------------------------


class DashboardForm(forms.Form):
    start = forms.DateField(
        label=pgettext_lazy("period", "From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    end = forms.DateField(
        label=pgettext_lazy("period", "To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    by = forms.ChoiceField(
        label=_("Per"), required=False, choices=[(key, DIMENSION_LABELS[key]) for key in DIMENSIONS]
    )
    city = forms.CharField(label=_("City"), required=False, max_length=32)


def _form_dashboard(request: HttpRequest) -> tuple[DashboardForm, QualityDashboard | None]:
    form = DashboardForm(request.GET)
    if not form.is_valid():
        return form, None
    values = form.cleaned_data
    try:
        period = period_from(values.get("start"), values.get("end"))
        dashboard = quality_dashboard(
            actor=actor_from_request(request),
            period=period,
            by=values.get("by") or "facility",
            city=(values.get("city") or "").strip(),
        )
    except DomainError as error:
        form.add_error(None, _message(error))
        return form, None
    return form, dashboard


def _charts(dashboard: QualityDashboard) -> list[BarChart]:
    busiest = dashboard.rows[:15]
    rated = [row for row in busiest if row.satisfaction is not None]
    waited = [row for row in busiest if row.wait_median_seconds is not None]
    totals = dashboard.totals
    return [
        bar_chart(
            slug="satisfaction",
            title=str(_("Satisfaction (mean score, 1–5)")),
            series=[str(_("Satisfaction"))],
            rows=[(row.label, [row.satisfaction]) for row in rated],
            formatter=lambda value: f"{value:.2f}",
            axis_max=float(SCORE_MAX),
        ),
        bar_chart(
            slug="waiting",
            title=str(_("Waiting time from check-in to start (minutes)")),
            series=[str(_("Median")), str(_("90th percentile"))],
            rows=[
                (
                    row.label,
                    [
                        _in_minutes(row.wait_median_seconds),
                        _in_minutes(row.wait_p90_seconds),
                    ],
                )
                for row in waited
            ],
            formatter=lambda value: f"{value:.1f}",
        ),
        bar_chart(
            slug="rejections",
            title=str(_("Prescriptions rejected, by reason (share of those reviewed)")),
            series=[str(_("Rejection rate"))],
            rows=[
                (label(REASON_LABELS, reason), [(totals.rejection_rate_for(reason) or 0) * 100])
                for reason in RejectionReason.values
                if totals.rejections_by_reason.get(reason)
            ],
            formatter=lambda value: f"{value:.1f}%",
        ),
    ]


def _in_minutes(seconds: float | None) -> float | None:
    return seconds / 60 if seconds is not None else None


@require_GET
@role_required(Role.OPERATIONS)
def dashboard(request: HttpRequest) -> HttpResponse:
    form, figures = _form_dashboard(request)
    context: dict[str, Any] = {"form": form, "dashboard": figures}
    if figures is not None:
        context["page"] = Paginator(figures.rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
        context["charts"] = _charts(figures)
        context["dimension_label"] = DIMENSION_LABELS[figures.by]
        context["reasons"] = [
            (
                label(REASON_LABELS, reason),
                figures.totals.rejection_rate_for(reason),
                figures.totals.rejections_by_reason.get(reason, 0),
            )
            for reason in RejectionReason.values
        ]
        context["checklist"] = [
            (CHECKLIST_LABELS[item], figures.totals.review_item_score(item)) for item in CHECKLIST
        ]
        query = request.GET.copy()
        query.pop("page", None)
        context["query"] = query.urlencode()
    return render(request, "quality/dashboard.html", context, status=200 if figures else 400)


@require_GET
@role_required(Role.OPERATIONS)
def export(request: HttpRequest) -> HttpResponse:
    form, figures = _form_dashboard(request)
    if figures is None:
        return render(request, "quality/dashboard.html", {"form": form}, status=400)
    return csv_response(figures)


# --- Complaints (operations) -----------------------------------------------------------------


class ComplaintFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("open", _("Open")), ("", _("All"))]
        + [(value, STATUS_LABELS[value]) for value in ComplaintStatus.values],
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)


@require_GET
@role_required(Role.OPERATIONS)
def complaint_list(request: HttpRequest) -> HttpResponse:
    actor = actor_from_request(request)
    form = ComplaintFilterForm(request.GET or {"status": "open"})
    status, overdue = "open", False
    if form.is_valid():
        status, overdue = form.cleaned_data["status"], form.cleaned_data["overdue"]
    rows = complaint_selectors.complaints_filter(
        complaint_selectors.complaints_visible_to(actor=actor), status=status, overdue=overdue
    ).order_by("due_at", "pk")
    page = Paginator(rows, COMPLAINTS_PER_PAGE).get_page(request.GET.get("page"))
    shown = list(page.object_list)
    complaint_selectors.complaints_record_list_read(actor=actor, complaints=shown)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "quality/complaints.html",
        {
            "form": form,
            "page": page,
            "complaints": [_complaint_view(complaint) for complaint in shown],
            "query": query.urlencode(),
        },
    )


def _complaint_view(complaint: Complaint) -> dict[str, Any]:
    return {
        "complaint": complaint,
        "status": label(STATUS_LABELS, complaint.status),
        "subject": label(SUBJECT_LABELS, complaint.subject_kind),
        "category": label(CATEGORY_LABELS, complaint.category) if complaint.category else "",
        "severity": label(SEVERITY_LABELS, complaint.severity) if complaint.severity else "",
        "overdue": complaint.escalated_at is not None,
    }


class TriageForm(forms.Form):
    category = forms.ChoiceField(
        label=_("Category"),
        choices=[(value, CATEGORY_LABELS[value]) for value in ComplaintCategory.values],
    )
    severity = forms.ChoiceField(
        label=_("Severity"),
        choices=[(value, SEVERITY_LABELS[value]) for value in ComplaintSeverity.values],
    )
    assignee = forms.ModelChoiceField(
        label=_("Assignee"),
        queryset=complaint_selectors.complaint_assignees(),
        to_field_name="public_id",
    )


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Answer to the complainant"), widget=forms.Textarea, max_length=4000
    )


class CloseForm(forms.Form):
    resolution = forms.CharField(label=_("Resolution"), widget=forms.Textarea, max_length=4000)


def _complaint_page(
    request: HttpRequest,
    complaint: Complaint,
    *,
    forms_given: Mapping[str, forms.Form] | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    given = dict(forms_given or {})
    initial = {
        "category": complaint.category or None,
        "severity": complaint.severity or None,
        "assignee": complaint.assignee.public_id if complaint.assignee else None,
    }
    context = {
        **_complaint_view(complaint),
        "triage_form": given.get("triage") or TriageForm(initial=initial),
        "reply_form": given.get("reply") or ReplyForm(),
        "close_form": given.get("close") or CloseForm(),
        "error": error,
        "events": complaint.events.all(),
        "replies": complaint.replies.all(),
        "is_open": complaint.status
        in (ComplaintStatus.SUBMITTED, ComplaintStatus.TRIAGED, ComplaintStatus.RESPONDED),
        "can_answer": complaint.status in (ComplaintStatus.TRIAGED, ComplaintStatus.RESPONDED),
    }
    return render(request, "quality/complaint.html", context, status=status)


@require_GET
@role_required(Role.OPERATIONS)
@_not_found_as_404
def complaint_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    complaint = complaint_selectors.complaint_get_for_actor(
        actor=actor_from_request(request), public_id=public_id
    )
    return _complaint_page(request, complaint)


def _complaint_step(
    request: HttpRequest,
    public_id: Any,
    *,
    name: str,
    form_class: type[forms.Form],
    run: Callable[[Complaint, dict[str, Any]], Complaint],
    done: Any,
) -> HttpResponse:
    actor = actor_from_request(request)
    complaint = complaint_selectors.complaint_get_for_actor(actor=actor, public_id=public_id)
    form = form_class(request.POST)
    if not form.is_valid():
        return _complaint_page(request, complaint, forms_given={name: form}, status=400)
    try:
        run(complaint, form.cleaned_data)
    except DomainError as error:
        return _complaint_page(
            request,
            complaint,
            forms_given={name: form},
            error=_message(error),
            status=error.status_code,
        )
    messages.success(request, done)
    return redirect("quality:complaint", public_id=complaint.public_id)


@require_POST
@role_required(Role.OPERATIONS)
@_not_found_as_404
def complaint_triage(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    return _complaint_step(
        request,
        public_id,
        name="triage",
        form_class=TriageForm,
        run=lambda complaint, data: complaints.complaint_triage(
            actor=actor,
            complaint=complaint,
            category=data["category"],
            severity=data["severity"],
            assignee=data["assignee"],
        ),
        done=_("Triage saved."),
    )


@require_POST
@role_required(Role.OPERATIONS)
@_not_found_as_404
def complaint_reply(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    return _complaint_step(
        request,
        public_id,
        name="reply",
        form_class=ReplyForm,
        run=lambda complaint, data: complaints.complaint_reply(
            actor=actor, complaint=complaint, body=data["body"]
        ),
        done=_("Answer sent to the complainant."),
    )


@require_POST
@role_required(Role.OPERATIONS)
@_not_found_as_404
def complaint_close(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    return _complaint_step(
        request,
        public_id,
        name="close",
        form_class=CloseForm,
        run=lambda complaint, data: complaints.complaint_close(
            actor=actor, complaint=complaint, resolution=data["resolution"]
        ),
        done=_("Complaint closed; the complainant is told."),
    )


# --- Clinical quality review -----------------------------------------------------------------


def _score_field(item: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=CHECKLIST_LABELS[item],
        choices=[(value, str(value)) for value in range(SCORE_MIN, SCORE_MAX + 1)],
        coerce=int,
        widget=forms.RadioSelect,
    )


class ScoreForm(forms.Form):
    record_completeness = _score_field("record_completeness")
    diagnosis_consistency = _score_field("diagnosis_consistency")
    rule_compliance = _score_field("rule_compliance")
    communication = _score_field("communication")
    comment = forms.CharField(
        label=_("Comment"), required=False, widget=forms.Textarea, max_length=4000
    )


@require_GET
@role_required(Role.DOCTOR, Role.PHARMACIST, Role.OPERATIONS)
def review_list(request: HttpRequest) -> HttpResponse:
    actor = actor_from_request(request)
    rows = review_selectors.reviews_visible_to(actor=actor).order_by("status", "due_at", "pk")
    page = Paginator(rows, COMPLAINTS_PER_PAGE).get_page(request.GET.get("page"))
    shown: list[ReviewAssignment] = list(page.object_list)
    review_selectors.reviews_record_list_read(actor=actor, assignments=shown)
    return render(
        request,
        "quality/reviews.html",
        {"page": page, "reviews": shown, "is_operations": actor.has_role(Role.OPERATIONS)},
    )


def _review_page(
    request: HttpRequest,
    assignment: ReviewAssignment,
    *,
    form: ScoreForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    actor = actor_from_request(request)
    material = review_selectors.review_material(actor=actor, assignment=assignment)
    scores = [(CHECKLIST_LABELS[item], getattr(assignment, item)) for item in CHECKLIST]
    return render(
        request,
        "quality/review.html",
        {
            "review": assignment,
            "material": material,
            "form": form or ScoreForm(),
            "scores": scores,
            "error": error,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.DOCTOR, Role.PHARMACIST)
@_not_found_as_404
def review_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The reviewer's own assignment: the record (and prescription) to judge, and the form."""
    actor = actor_from_request(request)
    assignment = review_selectors.review_get_for_actor(actor=actor, public_id=public_id)
    if request.method == "GET":
        return _review_page(request, assignment)
    form = ScoreForm(request.POST)
    if not form.is_valid():
        return _review_page(request, assignment, form=form, status=400)
    try:
        reviews.review_score(
            actor=actor, assignment=assignment, scores=reviews.ReviewScores(**form.cleaned_data)
        )
    except DomainError as error:
        return _review_page(
            request, assignment, form=form, error=_message(error), status=error.status_code
        )
    messages.success(request, _("Review saved. Thank you."))
    return redirect("quality:reviews")


# --- The patient's survey (no sign-in) -----------------------------------------------------


def _stars(question: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=QUESTION_LABELS[question],
        choices=[(value, str(value)) for value in range(SCORE_MAX, SCORE_MIN - 1, -1)],
        coerce=int,
        widget=forms.RadioSelect,
    )


class FeedbackForm(forms.Form):
    overall = _stars("overall")
    waiting_time = _stars("waiting_time")
    audio_video = _stars("audio_video")
    explanation = _stars("explanation")
    comment = forms.CharField(
        label=_("Anything else you would like to tell us?"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
    )


def _survey_page(
    request: HttpRequest,
    *,
    invitation: FeedbackInvitation | None,
    form: FeedbackForm | None = None,
    state: str = "open",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "quality/feedback.html",
        {
            "invitation": invitation,
            "consultation": invitation.consultation if invitation else None,
            "form": form or FeedbackForm(),
            "state": state,
            "error": error,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def feedback(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = feedback_invitation_from_token(token=token)
    except NotFoundError as error:
        return _survey_page(
            request, invitation=None, state="invalid", error=_message(error), status=404
        )
    if invitation.responded_at is not None:
        return _survey_page(request, invitation=invitation, state="answered")
    if invitation.expires_at <= timezone.now():
        return _survey_page(request, invitation=invitation, state="expired", status=410)
    if request.method == "GET":
        return _survey_page(request, invitation=invitation)
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        return _survey_page(request, invitation=invitation, form=form, status=400)
    try:
        feedback_submit(
            token=token,
            answers=FeedbackAnswers(**form.cleaned_data),
            language=getattr(request, "LANGUAGE_CODE", ""),
            ip_address=client_ip(request),
        )
    except DomainError as error:
        state = {
            "feedback_already_submitted": "answered",
            "feedback_link_expired": "expired",
        }.get(error.code, "open")
        return _survey_page(
            request,
            invitation=invitation,
            form=form,
            state=state,
            error=_message(error),
            status=error.status_code,
        )
    return redirect("quality:feedback", token=token)


urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("export.csv", export, name="export"),
    path("complaints/", complaint_list, name="complaints"),
    path("complaints/<uuid:public_id>/", complaint_detail, name="complaint"),
    path("complaints/<uuid:public_id>/triage/", complaint_triage, name="complaint-triage"),
    path("complaints/<uuid:public_id>/reply/", complaint_reply, name="complaint-reply"),
    path("complaints/<uuid:public_id>/close/", complaint_close, name="complaint-close"),
    path("reviews/", review_list, name="reviews"),
    path("reviews/<uuid:public_id>/", review_detail, name="review"),
    path("feedback/<str:token>/", feedback, name="feedback"),
]
