"""Races on PostgreSQL, with real threads and real connections: fifty copies of one callback,
fifty different callbacks of one payment, the provider's whole retry schedule, concurrent
refund requests, and concurrent requests under one Idempotency-Key. Every one ends with one
effect, and never a 5xx."""

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from core.actors import actor_for_user
from payments.models import InboundCallback, PaymentAttempt, PaymentEvent, Refund
from payments.selectors import order_ledger_totals
from payments.services import order_choose_fulfilment
from provider_emulators.hooks import emulator_replay_schedule, emulator_signed_callback
from tests.factories import api_client
from tests.payments.factories import (
    make_operator,
    make_sale,
    open_attempt,
    paid_sale,
    payer_pays_quietly,
    post_callback,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 50


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in `count` threads released together; their results, in index order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = work(index)
        except BaseException as error:  # reported below; a dead thread must not hide
            failures.append(error)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []
    return results


def assert_paid_once(sale, attempt):
    order = sale.refresh()
    assert (order.status, order.paid_fen) == ("paid", attempt.amount_fen)
    assert list(PaymentEvent.objects.filter(order=order).values_list("kind", flat=True)) == ["paid"]
    assert order.events.filter(to_status="paid").count() == 1
    assert order_ledger_totals(order=order).received_fen == attempt.amount_fen


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_fifty_copies_of_one_callback_pay_once(provider):
    sale = make_sale()
    attempt = open_attempt(sale, provider=provider)
    payer_pays_quietly(attempt)
    callback = emulator_signed_callback(provider=provider, out_trade_no=attempt.out_trade_no)

    replies = race(THREADS, lambda _: post_callback(Client(), callback, provider=provider))

    statuses = Counter((r.status_code, r.content) for r in replies)
    accepted = (204, b"") if provider == "wechatpay" else (200, b"success")
    assert statuses == {accepted: THREADS}
    assert_paid_once(sale, attempt)
    row = InboundCallback.objects.get()
    assert (row.outcome, row.deliveries) == ("accepted", THREADS)


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_fifty_different_callbacks_of_one_payment_pay_once(provider):
    sale = make_sale()
    attempt = open_attempt(sale, provider=provider)
    payer_pays_quietly(attempt)
    callbacks = [
        emulator_signed_callback(
            provider=provider, out_trade_no=attempt.out_trade_no, new_event=True
        )
        for _ in range(THREADS)
    ]

    replies = race(THREADS, lambda i: post_callback(Client(), callbacks[i], provider=provider))

    assert {r.status_code for r in replies} == ({204} if provider == "wechatpay" else {200})
    assert_paid_once(sale, attempt)
    assert InboundCallback.objects.filter(outcome="accepted").count() == THREADS
    assert InboundCallback.objects.values("event_id").distinct().count() == THREADS


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_the_whole_retry_schedule_replayed_pays_once(providers_live, provider):
    sale = make_sale()
    attempt = open_attempt(sale, provider=provider)
    payer_pays_quietly(attempt)

    outcomes = emulator_replay_schedule(provider=provider, out_trade_no=attempt.out_trade_no)

    assert len(outcomes) == {"wechatpay": 16, "alipay": 8}[provider]
    assert all(outcome.accepted for outcome in outcomes)
    assert_paid_once(sale, attempt)
    assert InboundCallback.objects.get().deliveries == len(outcomes)


@pytest.mark.parametrize("amount_fen", [1000, 2000])
def test_concurrent_refund_requests_never_pass_what_was_paid(providers_live, amount_fen):
    sale, attempt = paid_sale()
    operator = make_operator()
    clients = [api_client(operator) for _ in range(30)]
    refund_url = f"/api/v1/orders/{sale.order.public_id}/refund/"

    replies = race(
        len(clients),
        lambda i: clients[i].post(refund_url, {"amount_fen": amount_fen, "reason": "并发退款"}),
    )

    fits = 5350 // amount_fen
    codes = Counter(
        (r.status_code, r.json().get("code") if r.status_code != 202 else None) for r in replies
    )
    assert codes == {(202, None): fits, (409, "refund_exceeds_paid"): len(clients) - fits}
    order = sale.refresh()
    assert Refund.objects.filter(order=order).count() == fits
    assert order.refunded_fen + order.refund_pending_fen == fits * amount_fen <= order.paid_fen
    totals = order_ledger_totals(order=order)
    assert (totals.refunded_fen, totals.refund_pending_fen) == (
        order.refunded_fen,
        order.refund_pending_fen,
    )
    assert order.refunded_fen == fits * amount_fen  # all settled at the provider
    attempt.refresh_from_db()
    from provider_emulators.hooks import emulator_trade

    trade = emulator_trade(provider="wechatpay", out_trade_no=attempt.out_trade_no)
    assert trade.refunded_fen == fits * amount_fen


def test_concurrent_requests_under_one_idempotency_key_start_one_payment(providers_live):
    sale = make_sale(fulfilment=None)
    order_choose_fulfilment(
        actor=actor_for_user(sale.patient_user), order=sale.order, method="pickup"
    )
    clients = [api_client(sale.patient_user) for _ in range(20)]
    pay_url = f"/api/v1/orders/{sale.order.public_id}/pay/"

    replies = race(
        len(clients),
        lambda i: clients[i].post(
            pay_url,
            {"provider": "wechatpay", "channel": "native"},
            headers={"Idempotency-Key": "same-key-for-all"},
        ),
    )

    assert PaymentAttempt.objects.filter(order=sale.order).count() == 1
    paid = [r for r in replies if r.status_code == 200]
    busy = [r for r in replies if r.status_code == 409]
    assert len(paid) + len(busy) == len(clients)
    assert {r.json()["code"] for r in busy} <= {"idempotency_key_in_progress"}
    assert len({r.json()["payment"]["out_trade_no"] for r in paid}) == 1
    assert sale.order.ledger.filter(kind="payment_requested").count() == 1
