"""Statements in the providers' file formats.

WeChat Pay trade bill (type ALL): UTF-8 with a byte-order mark, a header, one row per payment or
refund with every field prefixed by a backquote (so spreadsheets keep long numbers), then the
summary header and the summary row. Alipay business details (业务明细): a zip holding two GBK CSV
files, the details and their summary, framed by `#` comment lines, every field followed by a tab.
Free text loses its ASCII commas (written full-width) so the unquoted rows stay parseable.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from payments.providers.money import fen_to_yuan
from provider_emulators.services import BillRow

WECHATPAY_FEE_RATE = Decimal("0.006")
WECHATPAY_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
WECHATPAY_SUMMARY_HEADER = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
ALIPAY_HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
    "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
    "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
    "退款批次号/请求号,服务费（元）,分润（元）,备注"
)


def wechatpay_trade_bill(rows: Iterable[BillRow]) -> bytes:
    lines = [WECHATPAY_HEADER]
    count = 0
    payments = refunds = 0
    fees = Decimal(0)
    for row in rows:
        count += 1
        refund = row.kind == "refund"
        fee = _wechatpay_fee(row.amount_fen) * (-1 if refund else 1)
        fees += fee
        if refund:
            refunds += row.amount_fen
        else:
            payments += row.amount_fen
        settled = row.trade_amount_fen if refund else row.amount_fen
        fields = [
            _local(row.occurred_at),
            row.app_id,
            row.merchant_id,
            "0",
            "",
            row.transaction_id,
            row.out_trade_no,
            row.payer,
            row.channel.upper(),
            "REFUND" if refund else "SUCCESS",
            "OTHERS",
            "CNY",
            fen_to_yuan(settled),
            "0.00",
            row.refund_id if refund else "0",
            row.out_refund_no if refund else "0",
            fen_to_yuan(row.amount_fen if refund else 0),
            "0.00",
            "ORIGINAL" if refund else "",
            "SUCCESS" if refund else "",
            _text(row.description),
            "",
            f"{fee:.5f}",
            "0.60%",
            fen_to_yuan(settled),
            fen_to_yuan(row.amount_fen if refund else 0),
            "",
        ]
        lines.append(",".join(f"`{field}" for field in fields))
    lines.append(WECHATPAY_SUMMARY_HEADER)
    summary = [
        str(count),
        fen_to_yuan(payments),
        fen_to_yuan(refunds),
        "0.00",
        f"{fees:.5f}",
        fen_to_yuan(payments),
        fen_to_yuan(refunds),
    ]
    lines.append(",".join(f"`{field}" for field in summary))
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def alipay_business_details(
    rows: Iterable[BillRow], *, seller_id: str, bill_date: dt.date
) -> tuple[str, bytes]:
    """The archive's file name and bytes."""
    rows = list(rows)
    account = f"{seller_id}0156"
    day = bill_date.strftime("%Y%m%d")
    start = bill_date.strftime("%Y年%m月%d日")
    end = (bill_date + dt.timedelta(days=1)).strftime("%Y年%m月%d日")
    exported = timezone.localtime().strftime("%Y年%m月%d日 %H:%M:%S")
    payments = [row for row in rows if row.kind == "payment"]
    refunds = [row for row in rows if row.kind == "refund"]
    detail_lines = [
        "#支付宝业务明细查询",
        f"#账号：[{account}]",
        f"#起始日期：[{start} 00:00:00]   终止日期：[{end} 00:00:00]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        ALIPAY_HEADER,
    ]
    for row in rows:
        refund = row.kind == "refund"
        amount = fen_to_yuan(-row.amount_fen if refund else row.amount_fen)
        fields = [
            row.transaction_id,
            row.out_trade_no,
            "退款" if refund else "交易",
            _text(row.description),
            _local(row.occurred_at),
            _local(row.occurred_at),
            "",
            "",
            "",
            "",
            row.payer,
            amount,
            amount,
            "0.00",
            "0.00",
            "0.00",
            "0.00",
            "0.00",
            "",
            "0.00",
            "0.00",
            row.out_refund_no if refund else "",
            "0.00",
            "0.00",
            "",
        ]
        detail_lines.append(",".join(f"{field}\t" for field in fields))
    detail_lines += [
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{len(payments)}笔，商家实收：{_sum(payments)}元，商家优惠：0.00元",
        f"#退款合计：{len(refunds)}笔，商家实收：-{_sum(refunds)}元，商家优惠：0.00元",
        f"#导出时间：[{exported}]",
    ]
    summary_lines = [
        "#支付宝业务汇总查询",
        f"#账号：[{account}]",
        f"#起始日期：[{start} 00:00:00]   终止日期：[{end} 00:00:00]",
        "#-----------------------------------------业务汇总列表----------------------------------------",
        "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,"
        "支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）",
        ",".join(
            f"{field}\t"
            for field in [
                "",
                "合计",
                str(len(payments)),
                str(len(refunds)),
                fen_to_yuan(_total(payments) - _total(refunds)),
                fen_to_yuan(_total(payments) - _total(refunds)),
                "0.00",
                "0.00",
                "0.00",
                "0.00",
                "0.00",
                fen_to_yuan(_total(payments) - _total(refunds)),
            ]
        ),
        "#-----------------------------------------业务汇总列表结束------------------------------------",
        f"#导出时间：[{exported}]",
    ]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(f"{account}_{day}_业务明细.csv", _gbk(detail_lines))
        zipped.writestr(f"{account}_{day}_业务明细(汇总).csv", _gbk(summary_lines))
    return f"{account}_{day}.csv.zip", archive.getvalue()


def _wechatpay_fee(amount_fen: int) -> Decimal:
    yuan = Decimal(amount_fen) / 100
    return (yuan * WECHATPAY_FEE_RATE).quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP)


def _local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def _text(value: str) -> str:
    return value.replace(",", "，").replace("\n", " ").replace("\r", " ")


def _total(rows: list[BillRow]) -> int:
    return sum(row.amount_fen for row in rows)


def _sum(rows: list[BillRow]) -> str:
    return fen_to_yuan(_total(rows))


def _gbk(lines: list[str]) -> bytes:
    # GB 18030 is GBK's superset: a subject outside GBK still round-trips.
    return ("\r\n".join(lines) + "\r\n").encode("gb18030")
