"""Alipay through the real `python-alipay-sdk` against the emulator, over real HTTP (live server):
precreate and wap payments, query, close, refunds, the bill, and the notification that arrives
at a receiver and is verified by `parse_notification`."""

import dataclasses
import datetime as dt
from typing import Any
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.utils import timezone

from payments.providers import get_gateway
from payments.providers.alipay import AlipayGateway
from payments.providers.base import (
    REFUND_NOT_FOUND,
    BillLine,
    CreatedPayment,
    GatewayError,
    GatewayRejected,
    PaymentQuery,
    RefundResult,
)
from payments.providers.config import alipay_config
from provider_emulators.hooks import emulator_pay, emulator_trade
from provider_emulators.models import EmulatedTrade
from tests.payments.providers.support import CallbackReceiver, Emulators, Phone

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.payments.providers.support"),
]


def _create(
    emulators: Emulators, out_trade_no: str, amount_fen: int = 8640, channel: Any = "precreate"
) -> CreatedPayment:
    return get_gateway("alipay").create_payment(
        out_trade_no=out_trade_no,
        amount_fen=amount_fen,
        description="处方药品 Prescription medicines",
        channel=channel,
        notify_url=emulators.notify_url("alipay"),
        expires_at=timezone.now() + dt.timedelta(minutes=30),
    )


def _local(moment: Any) -> dt.datetime:
    return timezone.localtime(moment).replace(microsecond=0)


def test_precreate_exists_once_scanned_is_paid_on_the_phone_and_notified(
    emulators: Emulators, receiver: CallbackReceiver, phone: Phone
) -> None:
    gateway = get_gateway("alipay")

    created = _create(emulators, "ALIQR00001")

    trade = emulator_trade(provider="alipay", out_trade_no="ALIQR00001")
    assert created == CreatedPayment(
        out_trade_no="ALIQR00001",
        channel="precreate",
        pay_url=f"{emulators.url}/emulators/pay/alipay/{trade.public_id}/",
    )
    # Alipay creates a precreate trade only when the payer scans the code.
    assert gateway.query_payment(out_trade_no="ALIQR00001") == PaymentQuery(
        out_trade_no="ALIQR00001", status="not_found"
    )
    page = phone.open(created.pay_url)
    assert "¥86.40" in page.text
    assert settings.PAYMENT_MERCHANT_NAME in page.text
    assert gateway.query_payment(out_trade_no="ALIQR00001") == PaymentQuery(
        out_trade_no="ALIQR00001",
        status="pending",
        amount_fen=8640,
        transaction_id=trade.transaction_id,
    )

    paid_page = phone.press("pay")

    assert "支付成功 Paid" in paid_page.text
    trade.refresh_from_db()
    [received] = receiver.received
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded; charset=utf-8"
    notification = received.notification
    assert notification is not None
    assert (
        notification.provider,
        notification.kind,
        notification.status,
        notification.event_id,
        notification.merchant_id,
        notification.app_id,
        notification.out_trade_no,
        notification.transaction_id,
        notification.amount_fen,
        notification.occurred_at,
    ) == (
        "alipay",
        "payment",
        "paid",
        trade.callbacks.get().event_id,
        settings.ALIPAY_SELLER_ID,
        settings.ALIPAY_APPID,
        "ALIQR00001",
        trade.transaction_id,
        8640,
        _local(trade.paid_at),
    )
    assert notification.raw["trade_status"] == "TRADE_SUCCESS"
    assert gateway.query_payment(out_trade_no="ALIQR00001") == PaymentQuery(
        out_trade_no="ALIQR00001",
        status="paid",
        amount_fen=8640,
        transaction_id=trade.transaction_id,
        paid_at=_local(trade.paid_at),
    )


def test_wap_pay_url_opens_alipays_cashier_and_pays(
    emulators: Emulators, receiver: CallbackReceiver, phone: Phone
) -> None:
    created = _create(emulators, "ALIWAP0001", 1234, channel="wap")

    assert created.pay_url.startswith(f"{settings.ALIPAY_GATEWAY_URL}?")
    signed = dict(parse_qsl(created.pay_url.partition("?")[2]))
    assert (signed["method"], signed["app_id"], signed["sign_type"]) == (
        "alipay.trade.wap.pay",
        settings.ALIPAY_APPID,
        "RSA2",
    )
    assert not EmulatedTrade.objects.exists()  # nothing reaches Alipay until the phone opens it

    page = phone.open(created.pay_url)

    trade = emulator_trade(provider="alipay", out_trade_no="ALIWAP0001")
    assert str(page.url) == f"{emulators.url}/emulators/pay/alipay/{trade.public_id}/"
    assert "¥12.34" in page.text
    phone.press("pay")
    [received] = receiver.received
    assert received.notification is not None
    assert (received.notification.status, received.notification.amount_fen) == ("paid", 1234)


def test_a_tampered_wap_url_is_refused_by_the_cashier(emulators: Emulators, phone: Phone) -> None:
    created = _create(emulators, "ALIWAP0002", 1234, channel="wap")

    page = phone.open(created.pay_url.replace("12.34", "0.01"))

    assert page.status_code == 400
    assert "isv.invalid-signature" in page.text
    assert not EmulatedTrade.objects.exists()


def test_a_closed_trade_cannot_be_paid(emulators: Emulators, phone: Phone) -> None:
    gateway = get_gateway("alipay")
    created = _create(emulators, "ALICLOSE01")
    phone.open(created.pay_url)

    gateway.close_payment(out_trade_no="ALICLOSE01")
    gateway.close_payment(out_trade_no="ALICLOSE01")

    trade = emulator_trade(provider="alipay", out_trade_no="ALICLOSE01")
    assert gateway.query_payment(out_trade_no="ALICLOSE01") == PaymentQuery(
        out_trade_no="ALICLOSE01",
        status="closed",
        amount_fen=8640,
        transaction_id=trade.transaction_id,
    )
    page = phone.open(created.pay_url)
    assert "订单已关闭 Order closed" in page.text
    assert 'data-testid="pay"' not in page.text


def test_closing_an_unscanned_code_is_a_no_op_and_the_code_stays_payable(
    emulators: Emulators, receiver: CallbackReceiver, phone: Phone
) -> None:
    """As at Alipay: the trade does not exist before the scan, so there is nothing to close; a
    late scan can still pay (the platform refunds such late payments)."""
    created = _create(emulators, "ALICLOSE02")

    get_gateway("alipay").close_payment(out_trade_no="ALICLOSE02")

    phone.open(created.pay_url)
    phone.press("pay")
    assert emulator_trade(provider="alipay", out_trade_no="ALICLOSE02").state == "SUCCESS"
    assert [r.notification.status for r in receiver.received if r.notification] == ["paid"]


def test_a_paid_trade_cannot_be_closed_or_created_again(emulators: Emulators) -> None:
    gateway = get_gateway("alipay")
    _create(emulators, "ALIPAID001")
    emulator_pay(provider="alipay", out_trade_no="ALIPAID001", callback=False)

    with pytest.raises(GatewayRejected) as closing:
        gateway.close_payment(out_trade_no="ALIPAID001")
    with pytest.raises(GatewayRejected) as again:
        _create(emulators, "ALIPAID001")
    with pytest.raises(GatewayRejected) as changed:
        _create(emulators, "ALIPAID001", amount_fen=1)

    assert closing.value.provider_code == "ACQ.TRADE_STATUS_ERROR"
    assert again.value.provider_code == "ACQ.TRADE_HAS_SUCCESS"
    assert changed.value.provider_code == "ACQ.CONTEXT_INCONSISTENT"


def test_partial_refunds_twice_then_a_refund_above_the_total_is_refused(
    emulators: Emulators, receiver: CallbackReceiver
) -> None:
    gateway = get_gateway("alipay")
    _create(emulators, "ALIREFUND1")
    emulator_pay(provider="alipay", out_trade_no="ALIREFUND1", callback=False)

    def refund(out_refund_no: str, refund_fen: int) -> RefundResult:
        return gateway.refund(
            out_trade_no="ALIREFUND1",
            out_refund_no=out_refund_no,
            refund_fen=refund_fen,
            total_fen=8640,
            reason="处方未取药",
            notify_url="",
        )

    first = refund("ALIR1", 3000)
    second = refund("ALIR2", 5000)
    with pytest.raises(GatewayRejected) as above_total:
        refund("ALIR3", 1641)
    repeated = refund("ALIR1", 3000)
    with pytest.raises(GatewayRejected) as reused:
        refund("ALIR1", 100)

    assert first == RefundResult(out_refund_no="ALIR1", status="succeeded", amount_fen=3000)
    assert second == RefundResult(out_refund_no="ALIR2", status="succeeded", amount_fen=5000)
    assert repeated == first
    assert above_total.value.provider_code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    assert reused.value.provider_code == "ACQ.DISCORDANT_REPEAT_REQUEST"
    assert emulator_trade(provider="alipay", out_trade_no="ALIREFUND1").refunded_fen == 8000
    assert gateway.query_refund(out_trade_no="ALIREFUND1", out_refund_no="ALIR2") == second
    with pytest.raises(GatewayRejected) as unknown:
        gateway.query_refund(out_trade_no="ALIREFUND1", out_refund_no="ALIR9")
    assert unknown.value.provider_code == REFUND_NOT_FOUND
    # Alipay notifies refunds at the payment's notify_url with the refunded total so far.
    refunds = [
        (n.kind, n.status, n.out_refund_no, n.amount_fen, n.raw["trade_status"])
        for n in (r.notification for r in receiver.received)
        if n is not None
    ]
    assert refunds == [
        ("refund", "succeeded", "ALIR1", 3000, "TRADE_SUCCESS"),
        ("refund", "succeeded", "ALIR2", 8000, "TRADE_SUCCESS"),
    ]


def test_a_full_refund_closes_the_trade(emulators: Emulators, receiver: CallbackReceiver) -> None:
    gateway = get_gateway("alipay")
    _create(emulators, "ALIREFUND2")
    emulator_pay(provider="alipay", out_trade_no="ALIREFUND2", callback=False)

    gateway.refund(
        out_trade_no="ALIREFUND2",
        out_refund_no="ALIR21",
        refund_fen=8640,
        total_fen=8640,
        reason="",
        notify_url="",
    )

    assert gateway.query_payment(out_trade_no="ALIREFUND2").status == "refunded"
    [received] = receiver.received
    assert received.notification is not None
    assert received.notification.raw["trade_status"] == "TRADE_CLOSED"
    assert (received.notification.kind, received.notification.amount_fen) == ("refund", 8640)


def test_the_bill_lists_the_days_payments_and_refunds(emulators: Emulators) -> None:
    gateway = get_gateway("alipay")
    for out_trade_no, amount in (("ALIBILL001", 8640), ("ALIBILL002", 1234)):
        _create(emulators, out_trade_no, amount)
        emulator_pay(provider="alipay", out_trade_no=out_trade_no, callback=False)
    gateway.refund(
        out_trade_no="ALIBILL001",
        out_refund_no="ALIBILLR1",
        refund_fen=640,
        total_fen=8640,
        reason="",
        notify_url="",
    )

    lines = gateway.download_bill(bill_date=timezone.localdate())

    first = emulator_trade(provider="alipay", out_trade_no="ALIBILL001")
    second = emulator_trade(provider="alipay", out_trade_no="ALIBILL002")
    refund = first.refunds.get()
    assert sorted(lines, key=lambda line: (line.kind, line.out_trade_no)) == [
        BillLine("payment", "ALIBILL001", first.transaction_id, 8640, _local(first.paid_at)),
        BillLine("payment", "ALIBILL002", second.transaction_id, 1234, _local(second.paid_at)),
        BillLine(
            "refund",
            "ALIBILL001",
            first.transaction_id,
            640,
            _local(refund.created_at),
            "ALIBILLR1",
        ),
    ]
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    assert gateway.download_bill(bill_date=yesterday) == []


def _key_file(directory: Any, name: str, *, private: bool) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / name
    if private:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    else:
        path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return str(path)


def test_the_emulator_refuses_an_app_signing_with_the_wrong_key(
    emulators: Emulators, settings: Any, tmp_path: Any
) -> None:
    settings.ALIPAY_APP_PRIVATE_KEY_PATH = _key_file(tmp_path, "app.pem", private=True)

    with pytest.raises(GatewayRejected) as refused:
        _create(emulators, "ALIWRONG01")

    assert refused.value.provider_code == "isv.invalid-signature"
    assert not EmulatedTrade.objects.exists()


def test_the_emulator_refuses_an_unknown_app(emulators: Emulators) -> None:
    # The emulator registers the app named in the settings; this gateway names another one.
    gateway = AlipayGateway(dataclasses.replace(alipay_config(), app_id="2021999999999999"))

    with pytest.raises(GatewayRejected) as refused:
        gateway.query_payment(out_trade_no="ALIANY0001")

    assert refused.value.provider_code == "isv.invalid-app-id"


def test_an_answer_not_signed_by_alipay_is_not_trusted(
    emulators: Emulators, settings: Any, tmp_path: Any
) -> None:
    settings.ALIPAY_PUBLIC_KEY_PATH = _key_file(tmp_path, "alipay.pem", private=False)

    with pytest.raises(GatewayError, match="failed signature verification"):
        _create(emulators, "ALIUNTRUST")


def test_an_unreachable_provider_is_a_gateway_error(settings: Any) -> None:
    settings.ALIPAY_GATEWAY_URL = "http://127.0.0.1:9/gateway.do"

    with pytest.raises(GatewayError, match="unreachable"):
        get_gateway("alipay").query_payment(out_trade_no="ALIANY0001")
