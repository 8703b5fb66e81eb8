"""Provider callbacks, signed by the emulated providers exactly as WeChat Pay and Alipay sign
theirs, sent to the platform's notify endpoints: accepted once and applied once; anything forged,
stale, for someone else's merchant or app, for an unknown order, with a wrong amount or
malformed is rejected with the provider's failure reply, recorded, and changes nothing."""

import datetime
import time

import pytest
from django.test import Client

from notifications.models import Notification
from payments.models import InboundCallback, PaymentEvent
from provider_emulators.hooks import emulator_signed_callback
from provider_emulators.registry import wechatpay_platform
from provider_emulators.services import SignedCallback
from provider_emulators.signing import wechatpay_signed_headers
from tests.payments.factories import make_sale, open_attempt, payer_pays_quietly, post_callback

pytestmark = pytest.mark.django_db

PROVIDERS = ["wechatpay", "alipay"]


def accepted_reply(response, provider):
    if provider == "wechatpay":
        return response.status_code == 204
    return response.status_code == 200 and response.content == b"success"


def failure_reply(response, provider):
    if provider == "wechatpay":
        return response.status_code == 400 and response.json()["code"] == "FAIL"
    return response.status_code == 200 and response.content == b"failure"


@pytest.fixture
def paid_at_provider(request):
    """A pending order whose payer has paid at the provider; the callback not yet sent."""
    provider = request.param
    sale = make_sale()
    attempt = open_attempt(sale, provider=provider)
    payer_pays_quietly(attempt)
    return sale, attempt


def signed(attempt, **options):
    return emulator_signed_callback(
        provider=attempt.provider, out_trade_no=attempt.out_trade_no, **options
    )


def assert_nothing_changed(sale, attempt):
    order = sale.refresh()
    attempt.refresh_from_db()
    assert (order.status, order.paid_fen, order.paid_at) == ("pending", 0, None)
    assert (attempt.status, attempt.transaction_id) == ("open", "")
    assert not PaymentEvent.objects.filter(order=order).exists()
    assert not Notification.objects.filter(event="payment_received").exists()


@pytest.mark.parametrize("paid_at_provider", PROVIDERS, indirect=True)
def test_a_genuine_callback_pays_the_order_once(paid_at_provider):
    sale, attempt = paid_at_provider
    provider = attempt.provider
    callback = signed(attempt)

    first = post_callback(Client(), callback, provider=provider)
    again = post_callback(Client(), callback, provider=provider)

    assert accepted_reply(first, provider), first.content
    assert accepted_reply(again, provider), again.content
    order = sale.refresh()
    assert (order.status, order.paid_fen) == ("paid", order.payable_fen)
    assert list(PaymentEvent.objects.filter(order=order).values_list("kind", "amount_fen")) == [
        ("paid", order.payable_fen)
    ]
    row = InboundCallback.objects.get()
    assert (row.outcome, row.deliveries, row.order_id, row.kind) == (
        "accepted",
        2,
        order.pk,
        "payment",
    )
    assert row.body == callback.body
    attempt.refresh_from_db()
    assert attempt.status == "paid"
    assert attempt.transaction_id
    assert sorted(
        Notification.objects.filter(event="payment_received").values_list("channel", flat=True)
    ) == ["in_app", "sms"]


def _wrong_amount(provider):
    if provider == "wechatpay":
        return {
            "amount": {"total": 1, "payer_total": 1, "currency": "CNY", "payer_currency": "CNY"}
        }
    return {"total_amount": "0.01", "receipt_amount": "0.01", "buyer_pay_amount": "0.01"}


def _wrong_merchant(provider):
    return {"mchid": "1900000999"} if provider == "wechatpay" else {"seller_id": "2088000000000999"}


def _wrong_app(provider):
    return (
        {"appid": "wx0000000000000999"}
        if provider == "wechatpay"
        else {"app_id": "2021000000000999"}
    )


def _unknown_order(provider):
    return {"out_trade_no": "PO20990101999999-1"}


@pytest.mark.parametrize("paid_at_provider", PROVIDERS, indirect=True)
@pytest.mark.parametrize(
    ("case", "changes", "code"),
    [
        ("wrong amount", _wrong_amount, "amount_mismatch"),
        ("wrong merchant", _wrong_merchant, "merchant_mismatch"),
        ("wrong app", _wrong_app, "app_mismatch"),
        ("unknown order", _unknown_order, "unknown_order"),
    ],
)
def test_a_signed_callback_that_does_not_match_the_order_is_rejected(
    paid_at_provider, case, changes, code
):
    sale, attempt = paid_at_provider
    provider = attempt.provider

    response = post_callback(
        Client(), signed(attempt, changes=changes(provider)), provider=provider
    )

    assert failure_reply(response, provider), (case, response.status_code, response.content)
    row = InboundCallback.objects.get()
    assert (row.outcome, row.reject_code) == ("rejected", code)
    assert row.event_id  # it was genuine: stored under its event id
    assert_nothing_changed(sale, attempt)


@pytest.mark.parametrize("paid_at_provider", PROVIDERS, indirect=True)
def test_a_forged_signature_is_rejected(paid_at_provider):
    sale, attempt = paid_at_provider
    provider = attempt.provider
    genuine = signed(attempt)
    # The body is changed after signing: the amount a forger would like to have been paid.
    tampered = (
        genuine.body.replace(b"=", b"=0", 1) if provider == "alipay" else genuine.body[:-2] + b" }"
    )
    forged = SignedCallback(url=genuine.url, headers=genuine.headers, body=tampered)

    response = post_callback(Client(), forged, provider=provider)

    assert failure_reply(response, provider)
    row = InboundCallback.objects.get()
    assert (row.outcome, row.reject_code, row.event_id) == ("rejected", "bad_signature", "")
    assert_nothing_changed(sale, attempt)


@pytest.mark.parametrize("paid_at_provider", ["wechatpay"], indirect=True)
def test_a_signature_probe_is_answered_with_a_failure(paid_at_provider):
    sale, attempt = paid_at_provider

    response = post_callback(Client(), signed(attempt, probe=True), provider="wechatpay")

    assert failure_reply(response, "wechatpay")
    assert InboundCallback.objects.get().reject_code == "signature_probe"
    assert_nothing_changed(sale, attempt)


@pytest.mark.parametrize("paid_at_provider", PROVIDERS, indirect=True)
def test_a_stale_callback_is_rejected(paid_at_provider, settings):
    sale, attempt = paid_at_provider
    provider = attempt.provider
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(
        seconds=settings.PAYMENT_NOTIFICATION_MAX_AGE_SECONDS + 60
    )

    response = post_callback(Client(), signed(attempt, sent_at=long_ago), provider=provider)

    assert failure_reply(response, provider)
    assert InboundCallback.objects.get().reject_code == "stale_timestamp"
    assert_nothing_changed(sale, attempt)


def _correctly_signed_garbage(body):
    platform = wechatpay_platform()
    headers = wechatpay_signed_headers(
        private_key=platform.private_key,
        public_key_id=platform.public_key_id,
        body=body,
        timestamp=int(time.time()),
    )
    return SignedCallback(
        url="", headers={"Content-Type": "application/json", **headers}, body=body
    )


@pytest.mark.parametrize(
    ("provider", "request_", "code"),
    [
        (
            "wechatpay",
            SignedCallback("", {"Content-Type": "application/json"}, b"{}"),
            "missing_signature_headers",
        ),
        ("wechatpay", _correctly_signed_garbage, "malformed_body"),
        (
            "alipay",
            SignedCallback("", {"Content-Type": "text/plain"}, b"\xff\xfe\x00garbage"),
            "malformed_body",
        ),
        (
            "alipay",
            SignedCallback("", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1&a=2"),
            "malformed_body",
        ),
        (
            "alipay",
            SignedCallback("", {"Content-Type": "application/x-www-form-urlencoded"}, b""),
            "missing_signature",
        ),
    ],
)
def test_a_malformed_body_gets_the_failure_reply_never_a_500(provider, request_, code):
    sale = make_sale()
    attempt = open_attempt(sale, provider=provider)
    if callable(request_):
        request_ = request_(b"\x00not json at all\xff")

    response = post_callback(Client(), request_, provider=provider)

    assert failure_reply(response, provider), (response.status_code, response.content)
    row = InboundCallback.objects.get()
    assert (row.outcome, row.reject_code) == ("rejected", code)
    assert_nothing_changed(sale, attempt)


def test_only_post_reaches_the_notify_endpoint():
    response = Client().get("/api/v1/payments/notify/wechatpay")
    assert response.status_code == 405
    assert not InboundCallback.objects.exists()
