"""Daily reconciliation: the providers' statements (downloaded through the real SDKs from the
emulators' bill APIs) against the ledger, with mismatches of each kind injected at the
provider; the command, the periodic task and the operations API."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.actors import actor_for_user
from payments.models import ReconciliationReport
from payments.services import order_refund
from payments.services.reconciliation import reconcile_provider_day
from payments.tasks import reconcile_daily_task
from provider_emulators.hooks import (
    emulator_bill_add,
    emulator_bill_amend,
    emulator_bill_omit,
    emulator_pay,
)
from tests.factories import api_client
from tests.payments.factories import make_operator, make_sale, paid_sale, pay_through_provider

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def found(report):
    return sorted(
        (
            row.kind,
            row.line_kind,
            row.out_refund_no or row.out_trade_no,
            row.provider_amount_fen,
            row.ledger_amount_fen,
        )
        for row in report.discrepancies.all()
    )


def test_wechatpay_statement_mismatches_of_each_kind_are_reported(providers_live):
    today = timezone.localdate()
    first, first_attempt = paid_sale(provider="wechatpay")
    _, second_attempt = paid_sale(provider="wechatpay")
    refund = order_refund(
        actor=actor_for_user(make_operator()), order=first.order, amount_fen=1000, reason="少发"
    )
    clean = reconcile_provider_day(provider="wechatpay", bill_date=today)
    assert (clean.status, clean.matched, clean.provider_lines, clean.ledger_lines) == (
        "completed",
        3,
        3,
        3,
    )
    assert found(clean) == []

    # The payer paid a third order, but its callback never came (and no query ran yet).
    lost = make_sale()
    lost_attempt = pay_through_provider(lost)
    emulator_pay(provider="wechatpay", out_trade_no=lost_attempt.out_trade_no, callback=False)
    emulator_bill_omit(
        provider="wechatpay", bill_date=today, out_trade_no=first_attempt.out_trade_no
    )
    emulator_bill_amend(
        provider="wechatpay",
        bill_date=today,
        out_trade_no=second_attempt.out_trade_no,
        amount_fen=5300,
    )
    emulator_bill_amend(
        provider="wechatpay",
        bill_date=today,
        out_trade_no=first_attempt.out_trade_no,
        out_refund_no=refund.out_refund_no,
        amount_fen=900,
    )

    report = reconcile_provider_day(provider="wechatpay", bill_date=today)

    assert (report.runs, report.matched) == (2, 0)
    assert (report.missing_locally, report.missing_at_provider, report.amount_mismatch) == (1, 1, 2)
    assert found(report) == sorted(
        [
            ("missing_locally", "payment", lost_attempt.out_trade_no, 5350, None),
            ("missing_at_provider", "payment", first_attempt.out_trade_no, None, 5350),
            ("amount_mismatch", "payment", second_attempt.out_trade_no, 5300, 5350),
            ("amount_mismatch", "refund", refund.out_refund_no, 900, 1000),
        ]
    )
    by_kind = {(row.kind, row.line_kind): row.order_id for row in report.discrepancies.all()}
    assert by_kind[("missing_locally", "payment")] == lost.order.pk
    assert by_kind[("amount_mismatch", "refund")] == first.order.pk
    assert ReconciliationReport.objects.count() == 1


def test_alipay_statement_with_a_payment_nobody_knows_and_the_command(providers_live):
    today = timezone.localdate()
    paid_sale(provider="alipay")
    emulator_bill_add(
        provider="alipay",
        bill_date=today,
        out_trade_no="PO20990101999999-1",
        amount_fen=1234,
        transaction_id="2099010122001400000000000001",
    )
    out = io.StringIO()

    call_command(
        "reconcile_payments", "--date", today.isoformat(), "--provider", "alipay", stdout=out
    )

    report = ReconciliationReport.objects.get(provider="alipay", bill_date=today)
    assert (
        report.matched,
        report.missing_locally,
        report.missing_at_provider,
        report.amount_mismatch,
    ) == (
        1,
        1,
        0,
        0,
    )
    assert found(report) == [("missing_locally", "payment", "PO20990101999999-1", 1234, None)]
    assert "alipay" in out.getvalue()
    assert "missing_locally 1" in out.getvalue()
    assert "PO20990101999999-1" in out.getvalue()


def test_the_daily_task_reconciles_every_provider_for_the_day(providers_live):
    today = timezone.localdate()
    paid_sale(provider="wechatpay")

    run = reconcile_daily_task.apply(args=[today.isoformat()])

    assert run.successful()
    assert run.result == {"wechatpay": "completed", "alipay": "completed"}
    wechatpay = ReconciliationReport.objects.get(provider="wechatpay", bill_date=today)
    alipay = ReconciliationReport.objects.get(provider="alipay", bill_date=today)
    assert (wechatpay.matched, wechatpay.provider_lines) == (1, 1)
    assert (alipay.matched, alipay.provider_lines) == (0, 0)


def test_operations_run_and_read_reports_through_the_api(providers_live):
    operations = api_client(make_operator())
    yesterday = timezone.localdate() - datetime.timedelta(days=1)

    run = operations.post(
        "/api/v1/payments/reconciliations/",
        {"provider": "wechatpay", "date": yesterday.isoformat()},
    )
    today = operations.post(
        "/api/v1/payments/reconciliations/",
        {"provider": "wechatpay", "date": timezone.localdate().isoformat()},
    )

    assert run.status_code == 201, run.json()
    body = run.json()
    assert (body["provider"], body["bill_date"], body["status"], body["discrepancies"]) == (
        "wechatpay",
        yesterday.isoformat(),
        "completed",
        [],
    )
    assert (today.status_code, today.json()["code"]) == (400, "bill_date_invalid")
    listed = operations.get("/api/v1/payments/reconciliations/").json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]
    detail = operations.get(f"/api/v1/payments/reconciliations/{body['id']}/")
    assert detail.json()["runs"] == 1
