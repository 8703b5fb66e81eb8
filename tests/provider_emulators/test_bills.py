"""What a bill says when it differs from what happened (for reconciliation tests): a payment left
out, an amount changed, a line the merchant never saw; through the real gateways' downloads."""

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from payments.providers import get_gateway
from payments.providers.base import BillLine
from provider_emulators import services
from provider_emulators.hooks import (
    emulator_bill_add,
    emulator_bill_amend,
    emulator_bill_omit,
    emulator_pay,
    emulator_trade,
)
from provider_emulators.models import Channel, Provider
from provider_emulators.services import TradeOrder
from tests.payments.providers.support import Emulators

pytestmark = pytest.mark.django_db(transaction=True)


def _paid(provider: str, out_trade_no: str, amount_fen: int) -> None:
    wechatpay = provider == Provider.WECHATPAY
    services.trade_open(
        order=TradeOrder(
            provider=provider,
            merchant_id=settings.WECHATPAY_MCHID if wechatpay else settings.ALIPAY_SELLER_ID,
            app_id=settings.WECHATPAY_APPID if wechatpay else settings.ALIPAY_APPID,
            out_trade_no=out_trade_no,
            channel=Channel.NATIVE if wechatpay else Channel.PRECREATE,
            description="处方药品, 复诊",
            amount_fen=amount_fen,
            notify_url="",
            expires_at=None,
        ),
        scanned=True,
    )
    emulator_pay(provider=provider, out_trade_no=out_trade_no, callback=False)


def _at(moment: Any) -> dt.datetime:
    return timezone.localtime(moment).replace(microsecond=0)


@pytest.mark.parametrize("provider", [Provider.WECHATPAY, Provider.ALIPAY])
def test_adjusted_bills_show_each_kind_of_mismatch(provider: str, emulators: Emulators) -> None:
    today = timezone.localdate()
    _paid(provider, "BILLADJ001", 8640)
    _paid(provider, "BILLADJ002", 1234)
    _paid(provider, "BILLADJ003", 3000)
    first = emulator_trade(provider=provider, out_trade_no="BILLADJ001")
    services.refund_create(
        trade_pk=first.pk,
        out_refund_no="BR1",
        amount_fen=640,
        total_fen=None,
        reason="",
        notify_url="",
    )

    emulator_bill_omit(provider=provider, bill_date=today, out_trade_no="BILLADJ002")
    emulator_bill_amend(
        provider=provider, bill_date=today, out_trade_no="BILLADJ003", amount_fen=2999
    )
    emulator_bill_amend(
        provider=provider,
        bill_date=today,
        out_trade_no="BILLADJ001",
        out_refund_no="BR1",
        amount_fen=600,
    )
    emulator_bill_add(
        provider=provider,
        bill_date=today,
        out_trade_no="BILLNEVER1",
        amount_fen=555,
        transaction_id="4200000000202401010000000001",
    )

    lines = get_gateway(provider).download_bill(bill_date=today)

    third = emulator_trade(provider=provider, out_trade_no="BILLADJ003")
    refund = first.refunds.get()
    added = next(line for line in lines if line.out_trade_no == "BILLNEVER1")
    assert sorted(lines, key=lambda line: (line.out_trade_no, line.kind)) == [
        BillLine("payment", "BILLADJ001", first.transaction_id, 8640, _at(first.paid_at)),
        BillLine("refund", "BILLADJ001", first.transaction_id, 600, _at(refund.created_at), "BR1"),
        BillLine("payment", "BILLADJ003", third.transaction_id, 2999, _at(third.paid_at)),
        BillLine("payment", "BILLNEVER1", "4200000000202401010000000001", 555, added.occurred_at),
    ]
    assert added.occurred_at.date() == today


def test_a_day_with_only_adjustments_has_a_bill(emulators: Emulators) -> None:
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    emulator_bill_add(
        provider=Provider.WECHATPAY, bill_date=yesterday, out_trade_no="BILLONLY01", amount_fen=1
    )

    [line] = get_gateway("wechatpay").download_bill(bill_date=yesterday)

    assert (line.kind, line.out_trade_no, line.amount_fen, line.occurred_at.date()) == (
        "payment",
        "BILLONLY01",
        1,
        yesterday,
    )
