"""The operations dashboard (/operations/): who may open it, its figures, the facilities with
their terminals (filters, offline highlighted, pages of constant cost), the audit log viewer,
dead notifications and their retry, reconciliation reports, and the SVG charts."""

import datetime
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role, User
from clinics.models import FacilityType, Terminal, TerminalStatus
from core.actors import Actor
from core.dates import local_day_start
from core.models import AuditAction
from core.services import audit_record
from notifications.models import Notification, NotificationStatus
from operations.charts import Series, bar_chart, nice_ceiling
from payments.models import (
    LedgerKind,
    LedgerSource,
    PaymentOrder,
    ReconciliationReport,
)
from payments.services.ledger import ledger_append
from tests.consultations.builders import make_visit
from tests.factories import make_facility, make_staff, make_terminal, make_user
from tests.payments.factories import make_sale

pytestmark = pytest.mark.django_db

PAGES = [
    "/operations/",
    "/operations/facilities/",
    "/operations/payments/",
    "/operations/notifications/",
    "/operations/audit/",
]


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def operator() -> User:
    return make_user(role=Role.OPERATIONS)


# --- Who may open it ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_the_sign_in_page(url: str) -> None:
    answer = Client().get(url)

    assert (answer.status_code, answer["Location"]) == (302, f"/accounts/login/?next={url}")


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("role", [Role.CLINIC_STAFF, Role.DOCTOR, Role.PHARMACIST, Role.PATIENT])
def test_other_roles_are_refused(url: str, role: str) -> None:
    user = make_staff() if role == Role.CLINIC_STAFF else make_user(role=role)

    assert signed_in(user).get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_operations_open_every_page(url: str) -> None:
    assert signed_in(operator()).get(url).status_code == 200


def test_a_reconciliation_report_that_does_not_exist_is_not_found() -> None:
    url = "/operations/payments/reconciliations/9b2f7c1e-0000-4000-8000-000000000000/"

    assert signed_in(operator()).get(url).status_code == 404


def test_other_roles_cannot_retry_a_dead_notification() -> None:
    row = _dead_notification()

    answer = signed_in(make_staff()).post(f"/operations/notifications/{row.public_id}/retry/")

    assert answer.status_code == 403
    row.refresh_from_db()
    assert row.status == NotificationStatus.DEAD


# --- The dashboard's figures ----------------------------------------------------------------------


def _today_at_noon() -> datetime.timedelta:
    """How far from now today's local noon is: visits placed there count as today's whatever
    the hour the test runs."""
    noon = local_day_start(timezone.localdate()) + datetime.timedelta(hours=12)
    return noon - timezone.now()


def test_the_dashboard_counts_today_and_draws_30_days_of_charts() -> None:
    today = _today_at_noon()
    make_visit("booked", starts_in=today)
    make_visit("checked_in", starts_in=today)
    make_visit("checked_in", starts_in=today)
    make_visit("cancelled", starts_in=today - datetime.timedelta(days=1))  # yesterday
    sale = make_sale(visit=make_visit("completed", starts_in=today))
    ledger_append(
        order=sale.order,
        kind=LedgerKind.PAID,
        amount_fen=5350,
        dedupe_key="receipt:test:today",
        source=LedgerSource.CALLBACK,
        occurred_at=timezone.now(),
    )
    PaymentOrder.objects.filter(pk=sale.order.pk).update(
        needs_attention=True, attention_reason="late_payment"
    )
    online = make_terminal()
    Terminal.objects.filter(pk=online.terminal.pk).update(status=TerminalStatus.ONLINE)
    make_terminal()  # offline until its first heartbeat

    page = signed_in(operator()).get("/operations/").content.decode()

    counts = dict(re.findall(r'<tr data-status="(\w+)"[^>]*>.*?class="figure">(\d+)<', page))
    assert counts["booked"] == "1"
    assert counts["checked_in"] == "2"
    assert counts["completed"] == "1"  # the sale's visit
    assert counts["cancelled"] == "0"
    assert (counts["online"], counts["offline"], counts["maintenance"]) == ("1", "1", "0")
    assert 'id="received-today">¥53.50<' in page
    assert 'id="attention-count">1<' in page
    assert sale.order.number in page
    consultations = page.split('id="chart-consultations"')[1].split("</figure>")[0]
    revenue = page.split('id="chart-revenue"')[1].split("</figure>")[0]
    assert consultations.count("<rect ") == 30
    assert revenue.count("<rect ") == 60  # received and refunded, each day
    assert consultations.count("<tr><td>") == 30
    # The table under the chart: today's four (cancelled ones never count).
    assert re.findall(r"<tr><td>[\d-]+</td><td>(\d+)</td></tr>", consultations)[-2:] == ["0", "4"]


def test_orders_shown_on_the_dashboard_are_audited() -> None:
    sale = make_sale()
    PaymentOrder.objects.filter(pk=sale.order.pk).update(needs_attention=True)
    user = operator()

    signed_in(user).get("/operations/")

    from core.models import AuditEvent

    assert list(
        AuditEvent.objects.filter(actor=user, object_type="payment_order").values_list(
            "object_id", flat=True
        )
    ) == [str(sale.order.public_id)]


# --- Facilities and terminals -------------------------------------------------------------------


def _network(count: int, *, city: str = "广州市") -> list[Any]:
    facilities = []
    for _ in range(count):
        facility = make_facility(city=city)
        make_terminal(facility)
        make_terminal(facility)
        facilities.append(facility)
    return facilities


def test_offline_terminals_are_highlighted_and_can_be_filtered() -> None:
    quiet, lively = _network(2)
    Terminal.objects.filter(facility=lively).update(status=TerminalStatus.ONLINE)
    client = signed_in(operator())

    every = client.get("/operations/facilities/").content.decode()
    offline = client.get("/operations/facilities/?offline=1").content.decode()

    assert f'data-facility="{quiet.code}" class="has-offline"' in every
    assert f'data-facility="{lively.code}" >' in every
    assert every.count("terminal-offline offline") == 2
    assert f'data-facility="{quiet.code}"' in offline
    assert f'data-facility="{lively.code}"' not in offline


def test_facilities_filter_by_city_and_type() -> None:
    (guangzhou,) = _network(1, city="广州市")
    (shenzhen,) = _network(1, city="深圳市")
    school = make_facility(city="深圳市", facility_type=FacilityType.SCHOOL)
    client = signed_in(operator())

    by_city = client.get("/operations/facilities/?city=深圳市").content.decode()
    by_both = client.get(f"/operations/facilities/?city=深圳市&type={FacilityType.SCHOOL}")

    listed = re.findall(r'data-facility="(\w+)"', by_city)
    assert sorted(listed) == sorted([shenzhen.code, school.code])
    assert re.findall(r'data-facility="(\w+)"', by_both.content.decode()) == [school.code]
    assert guangzhou.code not in by_city


def test_a_page_of_facilities_costs_the_same_queries_however_many_there_are() -> None:
    client = signed_in(operator())
    _network(3)
    client.get("/operations/facilities/")  # warm the session and the caches
    with CaptureQueriesContext(connection) as few:
        client.get("/operations/facilities/")
    _network(12)
    with CaptureQueriesContext(connection) as many:
        page = client.get("/operations/facilities/")

    assert len(re.findall(r"data-facility=", page.content.decode())) == 15
    assert len(many) == len(few)


def test_facilities_come_in_pages_of_fifty() -> None:
    for _ in range(51):
        make_facility()
    client = signed_in(operator())

    first = client.get("/operations/facilities/").content.decode()
    second = client.get("/operations/facilities/?page=2").content.decode()

    assert first.count("data-facility=") == 50
    assert second.count("data-facility=") == 1


# --- Audit log, notifications, reconciliation ----------------------------------------------------


def test_the_audit_log_filters_by_object_and_by_who() -> None:
    nurse = make_staff(username="nurse.li")
    other = make_staff(username="nurse.wang")
    audit_record(
        actor=Actor(role=Role.CLINIC_STAFF, user=nurse),
        action=AuditAction.READ,
        object_type="patient",
        object_ids=["p-1", "p-2"],
    )
    audit_record(
        actor=Actor(role=Role.CLINIC_STAFF, user=other),
        action=AuditAction.UPDATE,
        object_type="prescription",
        object_ids=["rx-1"],
    )
    client = signed_in(operator())

    def objects(query: str) -> list[str]:
        page = client.get(f"/operations/audit/?{query}").content.decode()
        table = page.split('id="audit-events"')[1]
        return re.findall(r"<small>([\w-]+)</small></a>", table)

    assert objects("object_type=patient") == ["p-2", "p-1"]
    assert objects("object_type=patient&object_id=p-1") == ["p-1"]
    assert objects("actor=nurse.wang") == ["rx-1"]
    assert objects("actor=nobody") == []


def _dead_notification() -> Notification:
    from notifications.services import notify

    visit = make_visit()
    (row,) = notify(
        event="booking_confirmed",
        recipient=visit.patient,
        objects={"consultation": visit.consultation.pk},
        dedupe_key="dead-for-operations",
    )
    Notification.objects.filter(pk=row.pk).update(
        status=NotificationStatus.DEAD,
        attempts=8,
        last_error="SMS provider isv.MOBILE_NUMBER_ILLEGAL",
        dead_at=timezone.now(),
    )
    row.refresh_from_db()
    return row


def test_dead_notifications_are_listed_and_sent_again(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SMS_API_BASE_URL = ""
    row = _dead_notification()
    client = signed_in(operator())

    listed = client.get("/operations/notifications/").content.decode()
    assert f'data-notification="{row.public_id}"' in listed
    assert "isv.MOBILE_NUMBER_ILLEGAL" in listed

    with django_capture_on_commit_callbacks(execute=False):
        retried = client.post(f"/operations/notifications/{row.public_id}/retry/")

    assert (retried.status_code, retried["Location"]) == (302, "/operations/notifications/")
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 0)
    assert (
        f'data-notification="{row.public_id}"'
        not in client.get("/operations/notifications/").content.decode()
    )


def test_a_reconciliation_report_shows_its_discrepancies() -> None:
    report = ReconciliationReport.objects.create(
        provider="wechatpay",
        bill_date=datetime.date(2026, 3, 1),
        status="completed",
        provider_lines=3,
        ledger_lines=2,
        matched=2,
        missing_locally=1,
        ran_at=timezone.now(),
    )
    report.discrepancies.create(
        kind="missing_locally", line_kind="payment", out_trade_no="PO2026030100000101-1"
    )
    client = signed_in(operator())

    listing = client.get("/operations/payments/").content.decode()
    detail = client.get(f"/operations/payments/reconciliations/{report.public_id}/")

    assert f'href="/operations/payments/reconciliations/{report.public_id}/"' in listing
    assert re.search(r'<tr class="offline"><td><a href="/operations/payments/reconc', listing)
    assert "PO2026030100000101-1" in detail.content.decode()


# --- Charts -------------------------------------------------------------------------------------


def test_axis_tops_are_round_numbers() -> None:
    assert [nice_ceiling(value) for value in (0, 3, 5, 17, 99, 101, 2350)] == [
        4,
        4,
        8,
        20,
        100,
        200,
        4000,
    ]


def test_bars_are_drawn_to_scale_from_the_baseline() -> None:
    days = [datetime.date(2026, 3, 1), datetime.date(2026, 3, 2)]

    chart = bar_chart(slug="c", title="t", days=days, series=[Series("n", [2, 4])])

    low, high = chart.bars
    assert high.y + high.height == low.y + low.height == chart.baseline
    assert high.height == 2 * low.height
    assert chart.ticks[-1].label == "4"
    assert [row.values for row in chart.rows] == [["2"], ["4"]]


def test_a_chart_refuses_series_that_do_not_fit_its_days() -> None:
    days = [datetime.date(2026, 3, 1)]

    with pytest.raises(ValueError, match="one value per day"):
        bar_chart(slug="c", title="t", days=days, series=[Series("n", [1, 2])])
    with pytest.raises(ValueError, match="negative"):
        bar_chart(slug="c", title="t", days=days, series=[Series("n", [-1])])
