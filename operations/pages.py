"""The operations dashboard at /operations/ (role operations): today's consultations, terminals,
payments and reconciliation, undelivered notifications, the facilities with their terminals, the
audit log, and 30-day charts of consultations and revenue drawn as SVG on the server.

Views are thin: operations' selectors compute the figures, the apps' own selectors and services
list and change what belongs to them (orders, reconciliation reports, dead notifications).
"""

from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role
from clinics.models import FacilityType
from core.actors import actor_from_request
from core.exceptions import DomainError, NotFoundError
from core.pages import role_required
from notifications.selectors import dead_notifications_visible_to
from notifications.services import notification_retry_dead
from operations import selectors
from operations.charts import BarChart, Series, bar_chart
from payments.models import RECEIPT_KINDS, LedgerKind
from payments.providers.money import fen_to_yuan
from payments.selectors import (
    orders_record_list_read,
    orders_visible_to,
    reconciliation_report_get,
    reconciliation_reports_for,
)

app_name = "operations"

FACILITIES_PER_PAGE = 50
AUDIT_EVENTS_PER_PAGE = 50
NOTIFICATIONS_PER_PAGE = 50
REPORTS_PER_PAGE = 30
DASHBOARD_ATTENTION_ROWS = 10
PAYMENTS_ATTENTION_ROWS = 100
DASHBOARD_REPORTS = 6
CHART_DAYS = 30

operations_page = role_required(Role.OPERATIONS)
# The terminal's status names (the model's choices are bare English words).
TERMINAL_STATUS_LABELS = {
    "online": _("Online"),
    "offline": _("Offline"),
    "maintenance": _("Maintenance"),
}


def _yuan(fen: int) -> str:
    return f"¥{fen_to_yuan(fen)}"


def _charts(actor: Any, today: Any) -> list[BarChart]:
    consultations = selectors.consultations_per_day(actor=actor, today=today, days=CHART_DAYS)
    received = selectors.ledger_per_day(
        actor=actor, today=today, kinds=RECEIPT_KINDS, days=CHART_DAYS
    )
    refunded = selectors.ledger_per_day(
        actor=actor, today=today, kinds=[LedgerKind.REFUND_SUCCEEDED], days=CHART_DAYS
    )
    return [
        bar_chart(
            slug="chart-consultations",
            title=str(_("Consultations per day")),
            days=consultations.days,
            series=[Series(str(_("Consultations")), consultations.values)],
        ),
        bar_chart(
            slug="chart-revenue",
            title=str(_("Revenue per day")),
            days=received.days,
            series=[
                Series(str(_("Received")), received.values),
                Series(str(_("Refunded")), refunded.values),
            ],
            format_value=_yuan,
        ),
    ]


@require_GET
@operations_page
def dashboard(request: HttpRequest) -> HttpResponse:
    actor = actor_from_request(request)
    today = timezone.localdate()
    attention = list(
        orders_visible_to(actor=actor)
        .filter(needs_attention=True)
        .order_by("-updated_at", "-pk")[:DASHBOARD_ATTENTION_ROWS]
    )
    orders_record_list_read(actor=actor, orders=attention)
    return render(
        request,
        "operations/dashboard.html",
        {
            "today": today,
            "consultations": selectors.consultations_today_by_status(actor=actor, today=today),
            "terminals": [
                replace(row, label=str(TERMINAL_STATUS_LABELS.get(row.status, row.label)))
                for row in selectors.terminals_by_status(actor=actor)
            ],
            "payments": selectors.payments_today(actor=actor, today=today),
            "attention": attention,
            "reports": list(reconciliation_reports_for(actor=actor)[:DASHBOARD_REPORTS]),
            "dead_notifications": dead_notifications_visible_to(actor=actor).count(),
            "charts": _charts(actor, today),
        },
    )


@require_GET
@operations_page
def facilities(request: HttpRequest) -> HttpResponse:
    actor = actor_from_request(request)
    city = request.GET.get("city", "")
    facility_type = request.GET.get("type", "")
    if facility_type not in FacilityType.values:
        facility_type = ""
    offline_only = request.GET.get("offline") == "1"
    rows = selectors.facilities_with_terminals(
        actor=actor, city=city, facility_type=facility_type, offline_only=offline_only
    )
    page = Paginator(rows, FACILITIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "operations/facilities.html",
        {
            "page": page,
            "cities": selectors.facility_cities(actor=actor),
            "types": FacilityType.choices,
            "city": city,
            "facility_type": facility_type,
            "offline_only": offline_only,
            "query": _query_without_page(request),
        },
    )


@require_GET
@operations_page
def payments(request: HttpRequest) -> HttpResponse:
    """Orders that need a person, and the daily reconciliation reports."""
    actor = actor_from_request(request)
    attention = list(
        orders_visible_to(actor=actor)
        .filter(needs_attention=True)
        .order_by("-updated_at", "-pk")[:PAYMENTS_ATTENTION_ROWS]
    )
    orders_record_list_read(actor=actor, orders=attention)
    reports = Paginator(reconciliation_reports_for(actor=actor), REPORTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "operations/payments.html",
        {
            "attention": attention,
            "reports": reports,
            "payments": selectors.payments_today(actor=actor, today=timezone.localdate()),
        },
    )


@require_GET
@operations_page
def reconciliation(request: HttpRequest, public_id: Any) -> HttpResponse:
    try:
        report = reconciliation_report_get(actor=actor_from_request(request), public_id=public_id)
    except NotFoundError as error:
        raise Http404(error.message) from error
    return render(request, "operations/reconciliation.html", {"report": report})


@require_GET
@operations_page
def notifications(request: HttpRequest) -> HttpResponse:
    actor = actor_from_request(request)
    dead = dead_notifications_visible_to(actor=actor).select_related(
        "recipient_user", "recipient_patient"
    )
    page = Paginator(dead, NOTIFICATIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "operations/notifications.html", {"page": page})


@require_POST
@operations_page
def notification_retry(request: HttpRequest, public_id: Any) -> HttpResponse:
    """Send a dead notification again once its cause is fixed (dead → pending)."""
    try:
        notification_retry_dead(actor=actor_from_request(request), public_id=str(public_id))
    except NotFoundError as error:
        raise Http404(error.message) from error
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The notification is queued to be sent again."))
    return redirect("operations:notifications")


@require_GET
@operations_page
def audit_log(request: HttpRequest) -> HttpResponse:
    actor = actor_from_request(request)
    filters = {
        "object_type": request.GET.get("object_type", "").strip(),
        "object_id": request.GET.get("object_id", "").strip(),
        "actor_username": request.GET.get("actor", "").strip(),
    }
    events = selectors.audit_events(actor=actor, **filters)
    page = Paginator(events, AUDIT_EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "operations/audit.html",
        {"page": page, "filters": filters, "query": _query_without_page(request)},
    )


def _query_without_page(request: HttpRequest) -> str:
    """The current filters as a query string, for the pager's links."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("facilities/", facilities, name="facilities"),
    path("payments/", payments, name="payments"),
    path("payments/reconciliations/<uuid:public_id>/", reconciliation, name="reconciliation"),
    path("notifications/", notifications, name="notifications"),
    path("notifications/<uuid:public_id>/retry/", notification_retry, name="notification-retry"),
    path("audit/", audit_log, name="audit"),
]
