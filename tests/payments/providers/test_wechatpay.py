"""WeChat Pay through the real `wechatpayv3` SDK against the emulator, over real HTTP (live server):
Native and JSAPI payments, query, close, refunds, the trade bill, and the notification that
arrives at a receiver and is verified and decrypted by `parse_notification`."""

import datetime as dt
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.utils import timezone

from payments.providers import get_gateway
from payments.providers.base import (
    REFUND_NOT_FOUND,
    BillLine,
    CreatedPayment,
    GatewayError,
    GatewayRejected,
    PaymentQuery,
    RefundResult,
)
from provider_emulators.hooks import emulator_pay, emulator_trade
from provider_emulators.models import EmulatedTrade, RefundState
from provider_emulators.registry import wechatpay_platform
from provider_emulators.signing import rsa_verify
from tests.payments.providers.support import CallbackReceiver, Emulators, Phone

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.payments.providers.support"),
]


def _expires() -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=30)


def _create(emulators: Emulators, out_trade_no: str, amount_fen: int = 8640) -> CreatedPayment:
    return get_gateway("wechatpay").create_payment(
        out_trade_no=out_trade_no,
        amount_fen=amount_fen,
        description="处方药品 Prescription medicines",
        channel="native",
        notify_url=emulators.notify_url("wechatpay"),
        expires_at=_expires(),
    )


def test_native_payment_is_created_queried_paid_on_the_phone_and_notified(
    emulators: Emulators, receiver: CallbackReceiver, phone: Phone
) -> None:
    gateway = get_gateway("wechatpay")

    created = _create(emulators, "WXNATIVE0001")

    trade = emulator_trade(provider="wechatpay", out_trade_no="WXNATIVE0001")
    assert created == CreatedPayment(
        out_trade_no="WXNATIVE0001",
        channel="native",
        pay_url=f"{emulators.url}/emulators/pay/wechatpay/{trade.public_id}/",
    )
    assert gateway.query_payment(out_trade_no="WXNATIVE0001") == PaymentQuery(
        out_trade_no="WXNATIVE0001", status="pending", amount_fen=8640
    )

    page = phone.open(created.pay_url)
    assert page.status_code == 200
    assert "¥86.40" in page.text
    assert settings.PAYMENT_MERCHANT_NAME in page.text
    paid_page = phone.press("pay")

    assert paid_page.status_code == 200
    assert "支付成功 Paid" in paid_page.text
    trade.refresh_from_db()
    assert trade.paid_at is not None
    assert [(r.provider, r.rejected) for r in receiver.received] == [("wechatpay", "")]
    notification = receiver.received[0].notification
    assert notification is not None
    assert (
        notification.provider,
        notification.kind,
        notification.status,
        notification.merchant_id,
        notification.app_id,
        notification.out_trade_no,
        notification.transaction_id,
        notification.amount_fen,
        notification.occurred_at,
        notification.out_refund_no,
    ) == (
        "wechatpay",
        "payment",
        "paid",
        settings.WECHATPAY_MCHID,
        settings.WECHATPAY_APPID,
        "WXNATIVE0001",
        trade.transaction_id,
        8640,
        trade.paid_at.replace(microsecond=0),
        "",
    )
    assert notification.event_id == trade.callbacks.get().event_id
    assert notification.raw["event_type"] == "TRANSACTION.SUCCESS"
    assert gateway.query_payment(out_trade_no="WXNATIVE0001") == PaymentQuery(
        out_trade_no="WXNATIVE0001",
        status="paid",
        amount_fen=8640,
        transaction_id=trade.transaction_id,
        paid_at=trade.paid_at.replace(microsecond=0),
    )


def test_jsapi_payment_answers_signed_cashier_parameters_that_open_the_payer_page(
    emulators: Emulators, receiver: CallbackReceiver, phone: Phone
) -> None:
    created = get_gateway("wechatpay").create_payment(
        out_trade_no="WXJSAPI0001",
        amount_fen=3000,
        description="复诊诊查费",
        channel="jsapi",
        notify_url=emulators.notify_url("wechatpay"),
        expires_at=_expires(),
        payer_openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    )

    parameters = json.loads(created.pay_url)
    trade = emulator_trade(provider="wechatpay", out_trade_no="WXJSAPI0001")
    assert sorted(parameters) == [
        "appId",
        "nonceStr",
        "package",
        "paySign",
        "signType",
        "timeStamp",
    ]
    assert (parameters["appId"], parameters["package"], parameters["signType"]) == (
        settings.WECHATPAY_APPID,
        f"prepay_id={trade.prepay_id}",
        "RSA",
    )
    message = "{appId}\n{timeStamp}\n{nonceStr}\n{package}\n".format_map(parameters).encode()
    assert rsa_verify(wechatpay_platform().merchant.public_key, message, parameters["paySign"])

    cashier = phone.open("/emulators/pay/wechatpay/jsapi/", params={"params": created.pay_url})
    assert str(cashier.url) == f"{emulators.url}/emulators/pay/wechatpay/{trade.public_id}/"
    phone.press("pay")

    [received] = receiver.received
    assert received.notification is not None
    assert received.notification.raw["resource"]["payer"] == {  # type: ignore[index]
        "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    }
    assert received.notification.raw["resource"]["trade_type"] == "JSAPI"  # type: ignore[index]


def test_a_closed_payment_cannot_be_paid_and_closing_is_idempotent(
    emulators: Emulators, receiver: CallbackReceiver, phone: Phone
) -> None:
    gateway = get_gateway("wechatpay")
    created = _create(emulators, "WXCLOSE0001")

    gateway.close_payment(out_trade_no="WXCLOSE0001")
    gateway.close_payment(out_trade_no="WXCLOSE0001")
    gateway.close_payment(out_trade_no="WXNEVERSEEN1")

    assert gateway.query_payment(out_trade_no="WXCLOSE0001") == PaymentQuery(
        out_trade_no="WXCLOSE0001", status="closed", amount_fen=8640
    )
    page = phone.open(created.pay_url)
    assert "订单已关闭 Order closed" in page.text
    assert 'data-testid="pay"' not in page.text
    assert gateway.query_payment(out_trade_no="WXNEVERSEEN1") == PaymentQuery(
        out_trade_no="WXNEVERSEEN1", status="not_found"
    )
    assert receiver.received == []
    assert not EmulatedTrade.objects.filter(out_trade_no="WXNEVERSEEN1").exists()


def test_a_paid_payment_cannot_be_closed_or_ordered_again(emulators: Emulators) -> None:
    gateway = get_gateway("wechatpay")
    _create(emulators, "WXPAID00001")
    emulator_pay(provider="wechatpay", out_trade_no="WXPAID00001", callback=False)

    with pytest.raises(GatewayRejected) as closing:
        gateway.close_payment(out_trade_no="WXPAID00001")
    with pytest.raises(GatewayRejected) as reordering:
        _create(emulators, "WXPAID00001")
    with pytest.raises(GatewayRejected) as changed:
        _create(emulators, "WXPAID00001", amount_fen=1)

    assert closing.value.provider_code == "ORDERPAID"
    assert reordering.value.provider_code == "ORDERPAID"
    assert changed.value.provider_code == "OUT_TRADE_NO_USED"
    assert emulator_trade(provider="wechatpay", out_trade_no="WXPAID00001").state == "SUCCESS"


def test_an_identical_repeat_of_an_unpaid_order_answers_the_same_code(emulators: Emulators) -> None:
    first = _create(emulators, "WXREPEAT001")
    again = _create(emulators, "WXREPEAT001")

    assert again == first
    assert EmulatedTrade.objects.filter(out_trade_no="WXREPEAT001").count() == 1


def test_partial_refunds_twice_then_a_refund_above_the_total_is_refused(
    emulators: Emulators, receiver: CallbackReceiver
) -> None:
    gateway = get_gateway("wechatpay")
    _create(emulators, "WXREFUND001")
    emulator_pay(provider="wechatpay", out_trade_no="WXREFUND001", callback=False)
    notify_url = emulators.notify_url("wechatpay")

    def refund(out_refund_no: str, refund_fen: int) -> RefundResult:
        return gateway.refund(
            out_trade_no="WXREFUND001",
            out_refund_no=out_refund_no,
            refund_fen=refund_fen,
            total_fen=8640,
            reason="处方未取药",
            notify_url=notify_url,
        )

    first = refund("WXR1", 3000)
    second = refund("WXR2", 5000)
    with pytest.raises(GatewayRejected) as above_total:
        refund("WXR3", 1641)
    repeated = refund("WXR1", 3000)

    trade = emulator_trade(provider="wechatpay", out_trade_no="WXREFUND001")
    ids = dict(trade.refunds.values_list("out_refund_no", "refund_id"))
    assert first == RefundResult(
        out_refund_no="WXR1", status="processing", refund_id=ids["WXR1"], amount_fen=3000
    )
    assert second == RefundResult(
        out_refund_no="WXR2", status="processing", refund_id=ids["WXR2"], amount_fen=5000
    )
    assert above_total.value.provider_code == "INVALID_REQUEST"
    assert "申请退款金额超过订单可退金额" in str(above_total.value)
    assert repeated == RefundResult(
        out_refund_no="WXR1", status="succeeded", refund_id=ids["WXR1"], amount_fen=3000
    )
    assert (trade.refunded_fen, sorted(trade.refunds.values_list("state", flat=True))) == (
        8000,
        [RefundState.SUCCESS, RefundState.SUCCESS],
    )
    assert gateway.query_refund(out_trade_no="WXREFUND001", out_refund_no="WXR2") == RefundResult(
        out_refund_no="WXR2", status="succeeded", refund_id=ids["WXR2"], amount_fen=5000
    )
    with pytest.raises(GatewayRejected) as unknown:
        gateway.query_refund(out_trade_no="WXREFUND001", out_refund_no="WXR9")
    assert unknown.value.provider_code == REFUND_NOT_FOUND
    assert gateway.query_payment(out_trade_no="WXREFUND001").status == "refunded"
    refunds = [
        (
            r.notification.kind,
            r.notification.status,
            r.notification.out_refund_no,
            r.notification.amount_fen,
        )
        for r in receiver.received
        if r.notification is not None
    ]
    assert refunds == [("refund", "succeeded", "WXR1", 3000), ("refund", "succeeded", "WXR2", 5000)]


def test_the_trade_bill_lists_the_days_payments_and_refunds(emulators: Emulators) -> None:
    gateway = get_gateway("wechatpay")
    for out_trade_no, amount in (("WXBILL0001", 8640), ("WXBILL0002", 1234)):
        _create(emulators, out_trade_no, amount)
        emulator_pay(provider="wechatpay", out_trade_no=out_trade_no, callback=False)
    _create(emulators, "WXBILL0003", 999)  # never paid: not on the bill
    gateway.refund(
        out_trade_no="WXBILL0001",
        out_refund_no="WXBILLR1",
        refund_fen=640,
        total_fen=8640,
        reason="",
        notify_url="",
    )

    lines = gateway.download_bill(bill_date=timezone.localdate())

    first = emulator_trade(provider="wechatpay", out_trade_no="WXBILL0001")
    second = emulator_trade(provider="wechatpay", out_trade_no="WXBILL0002")
    refund = first.refunds.get()

    def at(moment: Any) -> dt.datetime:
        return timezone.localtime(moment).replace(microsecond=0)

    assert sorted(lines, key=lambda line: (line.kind, line.out_trade_no)) == [
        BillLine("payment", "WXBILL0001", first.transaction_id, 8640, at(first.paid_at)),
        BillLine("payment", "WXBILL0002", second.transaction_id, 1234, at(second.paid_at)),
        BillLine(
            "refund", "WXBILL0001", first.transaction_id, 640, at(refund.created_at), "WXBILLR1"
        ),
    ]
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    assert gateway.download_bill(bill_date=yesterday) == []


def test_the_emulator_refuses_a_merchant_signing_with_the_wrong_key(
    emulators: Emulators, settings: Any, tmp_path: Any
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "apiclient_key.pem"
    key_file.write_bytes(
        other_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.WECHATPAY_MERCHANT_PRIVATE_KEY_PATH = str(key_file)

    with pytest.raises(GatewayRejected) as refused:
        _create(emulators, "WXWRONGKEY1")

    assert refused.value.provider_code == "SIGN_ERROR"
    assert "HTTP 401" in str(refused.value)
    assert not EmulatedTrade.objects.exists()


def test_an_answer_not_signed_by_the_wechatpay_key_is_not_trusted(
    emulators: Emulators, settings: Any, tmp_path: Any
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    key_file = tmp_path / "pub_key.pem"
    key_file.write_bytes(
        other_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    _create(emulators, "WXUNTRUSTED")
    settings.WECHATPAY_PUBLIC_KEY_PATH = str(key_file)

    with pytest.raises(GatewayError, match="failed signature verification"):
        get_gateway("wechatpay").query_payment(out_trade_no="WXUNTRUSTED")


def test_an_unreachable_provider_is_a_gateway_error(settings: Any) -> None:
    settings.WECHATPAY_API_BASE_URL = "http://127.0.0.1:9/emulators/wechatpay"

    with pytest.raises(GatewayError, match="unreachable"):
        get_gateway("wechatpay").query_payment(out_trade_no="WXANYTHING1")
