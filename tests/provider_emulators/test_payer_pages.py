"""The payer pages: what the phone shows, and what paying, cancelling, an expired or closed
trade and a bad JSAPI signature do (the emulated trade changes only when the payer pays)."""

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from provider_emulators import services
from provider_emulators.models import Channel, EmulatedTrade, Provider, TradeState
from provider_emulators.services import TradeOrder

pytestmark = pytest.mark.django_db


def _trade(
    provider: str = Provider.WECHATPAY,
    *,
    expires_at: dt.datetime | None = None,
    channel: str = Channel.NATIVE,
    scanned: bool = True,
) -> EmulatedTrade:
    wechatpay = provider == Provider.WECHATPAY
    return services.trade_open(
        order=TradeOrder(
            provider=provider,
            merchant_id=settings.WECHATPAY_MCHID if wechatpay else settings.ALIPAY_SELLER_ID,
            app_id=settings.WECHATPAY_APPID if wechatpay else settings.ALIPAY_APPID,
            out_trade_no="PAYER00001",
            channel=channel,
            description="处方药品",
            amount_fen=8640,
            notify_url="",
            expires_at=expires_at,
            payer_openid="oPAYER" if channel == Channel.JSAPI else "",
        ),
        scanned=scanned,
    )


def _page(trade: EmulatedTrade, action: str = "") -> str:
    return f"/emulators/pay/{trade.provider}/{trade.public_id}/{action}"


def test_the_page_shows_merchant_amount_and_both_buttons(client: Client) -> None:
    trade = _trade()

    page = client.get(_page(trade))

    text = page.content.decode()
    assert page.status_code == 200
    assert settings.PAYMENT_MERCHANT_NAME in text
    assert "¥86.40" in text
    assert "支付 Pay" in text
    assert "取消 Cancel" in text


def test_opening_an_alipay_code_is_the_scan_that_creates_the_trade(client: Client) -> None:
    trade = _trade(Provider.ALIPAY, channel=Channel.PRECREATE, scanned=False)
    assert not services.trade_visible(trade)

    client.get(_page(trade))

    trade.refresh_from_db()
    assert services.trade_visible(trade)


def test_paying_marks_the_trade_paid_once(client: Client) -> None:
    trade = _trade()

    paid = client.post(_page(trade, "pay/"), follow=True)
    again = client.post(_page(trade, "pay/"))

    trade.refresh_from_db()
    assert "支付成功 Paid" in paid.content.decode()
    assert (again.status_code, trade.state) == (409, TradeState.SUCCESS)
    assert "该订单已支付 Already paid" in again.content.decode()
    assert trade.paid_at is not None


def test_cancelling_changes_nothing_at_the_provider(client: Client) -> None:
    trade = _trade()

    page = client.post(_page(trade, "cancel/"))

    trade.refresh_from_db()
    assert page.status_code == 200
    assert "已取消支付 Payment cancelled" in page.content.decode()
    assert (trade.state, trade.paid_at) == (TradeState.NOTPAY, None)


@pytest.mark.parametrize("ended", ["expired", "closed"])
def test_an_expired_or_closed_trade_cannot_be_paid(client: Client, ended: str) -> None:
    trade = _trade(expires_at=timezone.now() - dt.timedelta(seconds=1))
    if ended == "closed":
        services.trade_close(
            provider=trade.provider,
            merchant_id=trade.merchant_id,
            out_trade_no=trade.out_trade_no,
            missing_ok=False,
        )
    label = "订单已过期 Order expired" if ended == "expired" else "订单已关闭 Order closed"

    page = client.get(_page(trade))
    refused = client.post(_page(trade, "pay/"))

    trade.refresh_from_db()
    assert label in page.content.decode()
    assert 'data-testid="pay"' not in page.content.decode()
    assert refused.status_code == 409
    assert trade.paid_at is None


def test_paying_needs_the_pages_csrf_token() -> None:
    trade = _trade()

    refused = Client(enforce_csrf_checks=True).post(_page(trade, "pay/"))

    trade.refresh_from_db()
    assert (refused.status_code, trade.state) == (403, TradeState.NOTPAY)


@pytest.mark.parametrize(
    "path",
    [
        "/emulators/pay/wechatpay/00000000-0000-4000-8000-000000000000/",
        "/emulators/pay/paypal/00000000-0000-4000-8000-000000000000/",
    ],
)
def test_an_unknown_trade_is_not_found(client: Client, path: str) -> None:
    assert client.get(path).status_code == 404
    assert client.post(path + "pay/").status_code == 404


def test_paying_is_a_post(client: Client) -> None:
    trade = _trade()

    assert client.get(_page(trade, "pay/")).status_code == 405


@pytest.mark.parametrize(
    ("parameters", "status", "code"),
    [
        ({}, 400, "PARAM_ERROR"),
        ({"params": "{not json"}, 400, "PARAM_ERROR"),
        (
            {
                "appId": "wx8888888888888888",
                "timeStamp": "1",
                "nonceStr": "n",
                "package": "prepay_id=wx1",
                "signType": "RSA",
                "paySign": "forged",
            },
            400,
            "SIGN_ERROR",
        ),
    ],
)
def test_the_jsapi_cashier_refuses_unsigned_parameters(
    client: Client, parameters: dict[str, Any], status: int, code: str
) -> None:
    page = client.get("/emulators/pay/wechatpay/jsapi/", parameters)

    assert page.status_code == status
    assert f'<span data-testid="code">{code}</span>' in page.content.decode()
