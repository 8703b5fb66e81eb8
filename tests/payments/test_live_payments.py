"""End to end over real HTTP: the platform's API on a live server, the real SDKs (wechatpayv3,
python-alipay-sdk) creating orders at the emulated providers, the payer's phone paying on the
provider's page, the provider calling the platform back, the order paid."""

import httpx
import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from notifications.models import Notification
from payments.models import InboundCallback, PaymentAttempt
from provider_emulators.hooks import emulator_trade
from tests.payments.factories import make_sale, payer_opens_and_pays

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def platform(base_url, user):
    token = RefreshToken.for_user(user).access_token
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


@pytest.mark.parametrize(
    ("provider", "channel", "openid"),
    [
        ("wechatpay", "native", ""),
        ("wechatpay", "jsapi", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        ("alipay", "precreate", ""),
        ("alipay", "wap", ""),
    ],
)
def test_a_patient_pays_through_the_provider_and_the_callback_pays_the_order(
    providers_live, provider, channel, openid
):
    sale = make_sale(fulfilment=None)
    order_url = f"/api/v1/orders/{sale.order.public_id}/"
    with platform(providers_live, sale.patient_user) as patient:
        chosen = patient.post(f"{order_url}fulfilment/", json={"method": "pickup"})
        assert chosen.status_code == 200, chosen.text
        started = patient.post(
            f"{order_url}pay/",
            json={"provider": provider, "channel": channel, "payer_openid": openid},
        )
        assert started.status_code == 200, started.text
        payment = started.json()["payment"]
        assert payment["amount_fen"] == 5350
        assert started.json()["order"]["status"] == "pending"

        page = payer_opens_and_pays(payment["pay_url"], base_url=providers_live)

        assert "53.50" in page.text
        assert "广东省第二人民医院" in page.text
        paid = patient.get(order_url).json()
    assert (paid["status"], paid["paid_fen"]) == ("paid", 5350)
    assert [(a["status"], a["provider"], a["channel"]) for a in paid["attempts"]] == [
        ("paid", provider, channel)
    ]
    trade = emulator_trade(provider=provider, out_trade_no=payment["out_trade_no"])
    assert paid["attempts"][0]["transaction_id"] == trade.transaction_id
    assert list(sale.order.ledger.values_list("kind", "amount_fen", "source")) == [
        ("payment_requested", 5350, "provider_reply"),
        ("paid", 5350, "callback"),
    ]
    callback = InboundCallback.objects.get(outcome="accepted")
    assert (callback.provider, callback.order_id) == (provider, sale.order.pk)
    assert Notification.objects.filter(event="payment_received").exists()


def test_asking_to_pay_again_reuses_the_open_provider_order(providers_live):
    sale = make_sale()
    with platform(providers_live, sale.patient_user) as patient:
        pay = f"/api/v1/orders/{sale.order.public_id}/pay/"
        first = patient.post(pay, json={"provider": "wechatpay", "channel": "native"})
        again = patient.post(pay, json={"provider": "wechatpay", "channel": "native"})
        other = patient.post(pay, json={"provider": "alipay", "channel": "precreate"})

    assert first.json()["payment"] == again.json()["payment"]
    assert other.json()["payment"]["out_trade_no"] != first.json()["payment"]["out_trade_no"]
    assert PaymentAttempt.objects.filter(order=sale.order).count() == 2
    assert sale.order.ledger.filter(kind="payment_requested").count() == 2


def test_the_same_idempotency_key_replays_the_first_answer(providers_live):
    sale = make_sale()
    with platform(providers_live, sale.patient_user) as patient:
        pay = f"/api/v1/orders/{sale.order.public_id}/pay/"
        key = {"Idempotency-Key": "pay-7f1c2e"}
        first = patient.post(pay, json={"provider": "alipay", "channel": "wap"}, headers=key)
        replay = patient.post(pay, json={"provider": "alipay", "channel": "wap"}, headers=key)
        reused = patient.post(pay, json={"provider": "wechatpay", "channel": "native"}, headers=key)

    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    assert list(PaymentAttempt.objects.values_list("provider", "channel")) == [("alipay", "wap")]


def test_a_provider_order_left_from_an_earlier_choice_is_not_reused(providers_live, settings):
    settings.PAYMENT_DELIVERY_FEE_FEN = 1000
    sale = make_sale()
    # Paying for pickup reached nowhere (the provider was unreachable): the attempt stayed.
    stale = PaymentAttempt.objects.create(
        order=sale.order,
        provider="wechatpay",
        channel="native",
        out_trade_no=f"{sale.order.number}-1",
        amount_fen=5350,
        expires_at=sale.order.expires_at,
    )
    with platform(providers_live, sale.patient_user) as patient:
        order_url = f"/api/v1/orders/{sale.order.public_id}/"
        changed = patient.post(
            f"{order_url}fulfilment/",
            json={
                "method": "delivery",
                "delivery_address": {
                    "recipient": "陈志强",
                    "phone": "13800138000",
                    "province": "广东省",
                    "city": "广州市",
                    "district": "越秀区",
                    "detail": "东风中路 483 号",
                },
            },
        )
        assert changed.status_code == 200, changed.text
        started = patient.post(
            f"{order_url}pay/", json={"provider": "wechatpay", "channel": "native"}
        )

    assert started.status_code == 200, started.text
    assert started.json()["payment"]["amount_fen"] == 6350
    assert started.json()["payment"]["out_trade_no"] == f"{sale.order.number}-2"
    stale.refresh_from_db()
    assert stale.status == "closed"
