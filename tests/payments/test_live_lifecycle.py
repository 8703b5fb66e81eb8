"""Timeouts, lost callbacks, late and duplicate payments, refunds and their triggers, against
the emulated providers over HTTP (live server, PostgreSQL)."""

import datetime

import pytest
from django.utils import timezone

from consultations.services.lifecycle import consultation_terminate
from core.actors import actor_for_user
from notifications.models import Notification
from payments.models import InsuranceSettlement, PaymentAttempt, Refund
from payments.selectors import order_ledger_totals
from payments.services import (
    order_refund,
    orders_close_expired,
    payments_query_unconfirmed,
    refund_for_failed_delivery,
    refund_for_rejected_prescription,
    refunds_query_unsettled,
)
from provider_emulators.hooks import emulator_pay, emulator_trade
from tests.consultations.builders import make_visit
from tests.factories import api_client
from tests.payments.factories import (
    make_operator,
    make_sale,
    paid_sale,
    pay_through_provider,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def kinds(order):
    return list(order.ledger.order_by("pk").values_list("kind", "amount_fen", "source"))


def assert_ledger_agrees(order):
    order.refresh_from_db()
    totals = order_ledger_totals(order=order)
    assert (totals.received_fen, totals.refunded_fen, totals.refund_pending_fen) == (
        order.paid_fen,
        order.refunded_fen,
        order.refund_pending_fen,
    )


# --- lost callbacks and timeouts -----------------------------------------------------------------


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_a_lost_callback_is_found_by_the_query_task(providers_live, provider):
    sale = make_sale()
    attempt = pay_through_provider(sale, provider=provider)
    emulator_pay(provider=provider, out_trade_no=attempt.out_trade_no, callback=False)
    assert sale.refresh().status == "pending"

    too_soon = payments_query_unconfirmed()
    found = payments_query_unconfirmed(now=timezone.now() + datetime.timedelta(seconds=61))

    assert (too_soon, found) == (0, 1)
    order = sale.refresh()
    assert (order.status, order.paid_fen) == ("paid", 5350)
    assert kinds(order)[-1] == ("paid", 5350, "query")
    attempt.refresh_from_db()
    trade = emulator_trade(provider=provider, out_trade_no=attempt.out_trade_no)
    assert attempt.transaction_id == trade.transaction_id


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_an_unpaid_order_closes_after_its_time_at_the_provider_too(providers_live, provider):
    sale = make_sale()
    attempt = pay_through_provider(sale, provider=provider)
    not_yet = orders_close_expired(now=sale.order.expires_at - datetime.timedelta(seconds=1))

    closed = orders_close_expired(now=sale.order.expires_at + datetime.timedelta(seconds=1))

    assert (not_yet, closed) == (0, 1)
    order = sale.refresh()
    assert (order.status, order.close_reason, order.paid_fen) == ("closed", "timeout", 0)
    attempt.refresh_from_db()
    assert attempt.status == "closed"
    assert emulator_trade(provider=provider, out_trade_no=attempt.out_trade_no).state == "CLOSED"
    assert kinds(order) == [
        ("payment_requested", 5350, "provider_reply"),
        ("closed", 0, "service"),
    ]


def test_a_payment_found_while_closing_pays_the_order_instead(providers_live):
    sale = make_sale()
    attempt = pay_through_provider(sale)
    emulator_pay(provider="wechatpay", out_trade_no=attempt.out_trade_no, callback=False)

    closed = orders_close_expired(now=sale.order.expires_at + datetime.timedelta(seconds=1))

    assert closed == 0
    assert sale.refresh().status == "paid"
    assert kinds(sale.order)[-1] == ("paid", 5350, "query")


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_a_payment_after_the_local_close_is_refunded_and_flagged(providers_live, provider):
    operator = make_operator()
    sale = make_sale()
    attempt = pay_through_provider(sale, provider=provider)
    orders_close_expired(now=sale.order.expires_at + datetime.timedelta(seconds=1))
    assert sale.refresh().status == "closed"

    # The payer's payment raced the close and won at the provider; its callback comes in.
    emulator_pay(provider=provider, out_trade_no=attempt.out_trade_no, even_if_closed=True)

    order = sale.refresh()
    assert order.status == "closed"
    assert (order.needs_attention, order.attention_reason) == (True, "late_payment")
    assert (order.paid_fen, order.refunded_fen, order.refund_pending_fen) == (5350, 5350, 0)
    refund = Refund.objects.get(order=order)
    assert (refund.trigger, refund.amount_fen, refund.status) == ("late_payment", 5350, "succeeded")
    assert [row[0] for row in kinds(order)] == [
        "payment_requested",
        "closed",
        "late_payment_detected",
        "refund_requested",
        "refund_succeeded",
    ]
    trade = emulator_trade(provider=provider, out_trade_no=attempt.out_trade_no)
    assert trade.refunded_fen == 5350
    assert (
        Notification.objects.filter(
            event="payment_attention", recipient_user=operator, channel="in_app"
        ).count()
        == 1
    )
    assert Notification.objects.filter(
        event="refund_issued", recipient_patient=sale.visit.patient
    ).exists()
    assert not Notification.objects.filter(event="payment_received").exists()
    assert_ledger_agrees(order)


def test_a_second_provider_paying_the_same_order_is_refunded(providers_live):
    sale = make_sale()
    wechat = pay_through_provider(sale, provider="wechatpay")
    alipay = pay_through_provider(sale, provider="alipay")
    emulator_pay(provider="wechatpay", out_trade_no=wechat.out_trade_no)
    alipay.refresh_from_db()
    assert alipay.status == "closed"  # closed at the provider once WeChat Pay paid

    emulator_pay(provider="alipay", out_trade_no=alipay.out_trade_no, even_if_closed=True)

    order = sale.refresh()
    assert order.status == "paid"
    assert (order.paid_fen, order.refunded_fen) == (2 * 5350, 5350)
    assert (order.needs_attention, order.attention_reason) == (True, "duplicate_payment")
    refund = Refund.objects.get(order=order)
    assert (refund.trigger, refund.attempt_id, refund.status) == (
        "duplicate_payment",
        alipay.pk,
        "succeeded",
    )
    assert_ledger_agrees(order)


# --- refunds -------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_operations_refund_in_parts_up_to_what_was_paid(providers_live, provider):
    sale, attempt = paid_sale(provider=provider)
    operations = api_client(make_operator())
    refund_url = f"/api/v1/orders/{sale.order.public_id}/refund/"

    part = operations.post(refund_url, {"amount_fen": 1000, "reason": "少发一盒"})
    assert part.status_code == 202, part.json()
    assert part.json()["out_refund_no"] == f"{sale.order.number}-R1"
    order = sale.refresh()
    assert (order.status, order.refunded_fen) == ("paid", 1000)

    too_much = operations.post(refund_url, {"amount_fen": 4351, "reason": "全部退款"})
    assert (too_much.status_code, too_much.json()["code"]) == (409, "refund_exceeds_paid")
    assert too_much.json()["refundable_fen"] == 4350

    rest = operations.post(refund_url, {"amount_fen": 4350, "reason": "全部退款"})
    assert rest.status_code == 202
    order = sale.refresh()
    assert (order.status, order.refunded_fen, order.refund_pending_fen) == ("refunded", 5350, 0)
    assert list(Refund.objects.filter(order=order).values_list("status", flat=True)) == [
        "succeeded",
        "succeeded",
    ]
    assert emulator_trade(provider=provider, out_trade_no=attempt.out_trade_no).refunded_fen == 5350
    sources = list(order.ledger.filter(kind="refund_succeeded").values_list("source", flat=True))
    if provider == "wechatpay":
        # WeChat Pay settles a moment later and says so in its refund callback.
        assert sources == ["callback", "callback"]
    else:
        # Alipay settles at once: its answer and its notification race; either settles it.
        assert len(sources) == 2
        assert set(sources) <= {"callback", "provider_reply"}
    nothing_left = operations.post(refund_url, {"amount_fen": 1, "reason": "再退"})
    assert (nothing_left.status_code, nothing_left.json()["code"]) == (409, "refund_exceeds_paid")
    assert_ledger_agrees(order)


def test_a_refund_the_provider_is_still_processing_settles_on_its_callback(
    providers_live, settings
):
    # WeChat Pay settles a refund a moment later and then notifies; here the notification
    # cannot reach the platform, so the query task finds the refund settled.
    sale, _ = paid_sale(provider="wechatpay")
    settings.SITE_URL = "http://127.0.0.1:9"  # nobody listens: the refund's callback is lost
    refund = order_refund(
        actor=actor_for_user(make_operator()), order=sale.order, amount_fen=2000, reason="退一盒"
    )
    refund.refresh_from_db()
    assert refund.status in ("processing", "requested")
    assert sale.refresh().status == "refunding"

    settled = refunds_query_unsettled(now=timezone.now() + datetime.timedelta(seconds=61))

    assert settled == 1
    refund.refresh_from_db()
    assert refund.status == "succeeded"
    order = sale.refresh()
    assert (order.status, order.refunded_fen) == ("paid", 2000)
    assert_ledger_agrees(order)


def test_terminating_the_consultation_refunds_everything(providers_live):
    visit = make_visit("in_progress")
    sale, _ = paid_sale(visit=visit)

    consultation_terminate(
        actor=actor_for_user(visit.doctor),
        consultation=visit.consultation,
        reason_code="condition_changed",
        referral_note="血压控制不佳，建议线下心内科就诊",
    )

    order = sale.refresh()
    assert (order.status, order.refunded_fen) == ("refunded", 5350)
    refund = Refund.objects.get(order=order)
    assert (refund.trigger, refund.amount_fen) == ("consultation_terminated", 5350)


def test_terminating_closes_the_consultations_unpaid_orders(providers_live):
    visit = make_visit("in_progress")
    sale = make_sale(visit=visit)
    attempt = pay_through_provider(sale)

    consultation_terminate(
        actor=actor_for_user(visit.doctor),
        consultation=visit.consultation,
        reason_code="first_visit",
        referral_note="实为初诊，请线下就诊",
    )

    order = sale.refresh()
    assert (order.status, order.close_reason) == ("closed", "consultation_terminated")
    assert emulator_trade(provider="wechatpay", out_trade_no=attempt.out_trade_no).state == "CLOSED"
    assert not Refund.objects.exists()


def test_a_failed_delivery_refunds_medicine_and_delivery_but_not_the_fee(providers_live, settings):
    settings.PAYMENT_DELIVERY_FEE_FEN = 1000
    sale, _ = paid_sale(fulfilment="delivery")

    first = refund_for_failed_delivery(order=sale.order, reason="收件人拒收")
    again = refund_for_failed_delivery(order=sale.order)

    assert first is not None
    assert again is not None
    assert again.pk == first.pk
    order = sale.refresh()
    assert (order.status, order.paid_fen, order.refunded_fen) == ("paid", 6350, 2350 + 1000)
    assert (first.trigger, first.amount_fen) == ("delivery_failed", 3350)


def test_a_withdrawn_prescription_refunds_the_medicine(providers_live):
    sale, _ = paid_sale()

    refunds = refund_for_rejected_prescription(prescription=sale.prescription)

    assert [(r.trigger, r.amount_fen) for r in refunds] == [("prescription_withdrawn", 2350)]
    order = sale.refresh()
    assert (order.status, order.refunded_fen) == ("paid", 2350)


def test_insurance_settles_with_the_payment_and_reverses_with_a_full_refund(providers_live):
    from payments.services import insurance_voucher_register, order_choose_fulfilment

    sale = make_sale(fulfilment=None)
    voucher = insurance_voucher_register(
        actor=actor_for_user(make_operator()),
        patient=sale.visit.patient,
        insurer="广州市医疗保障局",
        member_id="GZ2024000123",
        personal_account_balance_fen=10000,
    )
    order_choose_fulfilment(actor=sale.patient_actor, order=sale.order, method="pickup")
    attempt = pay_through_provider(sale)
    assert attempt.amount_fen == sale.order.payable_fen == 1070
    emulator_pay(provider="wechatpay", out_trade_no=attempt.out_trade_no)
    assert InsuranceSettlement.objects.get(order=sale.order).status == "settled"

    order_refund(
        actor=actor_for_user(make_operator()), order=sale.order, amount_fen=1070, reason="退费"
    )

    order = sale.refresh()
    assert (order.status, order.refunded_fen) == ("refunded", 1070)
    assert InsuranceSettlement.objects.get(order=order).status == "reversed"
    voucher.refresh_from_db()
    assert voucher.personal_account_balance_fen == 10000
    assert PaymentAttempt.objects.get().amount_fen == 1070
