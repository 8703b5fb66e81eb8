"""The emulated Alipay open-platform gateway (`/emulators/alipay/gateway.do`).

One endpoint, dispatched on `method`. Every request must be RSA2-signed by the registered
application (all parameters but `sign`, sorted, empty ones left out). A request the gateway
itself refuses (missing or bad parameters, unknown app, bad signature) is answered unsigned with
Alipay's gateway codes (40001, 40002 and a `sub_code` such as `isv.invalid-signature`); a
business answer (10000 success, 40004 business failure with an `ACQ.*` sub_code) is the
`<method>_response` object followed by Alipay's RSA2 signature of exactly its JSON text.
`alipay.trade.wap.pay` is a page: the phone's browser lands on the payer page.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from payments.providers.money import fen_to_yuan, yuan_to_fen
from provider_emulators import bills, services
from provider_emulators.models import Channel, EmulatedRefund, EmulatedTrade, Provider
from provider_emulators.registry import AlipayPlatform, alipay_platform
from provider_emulators.services import EmulatorRefusal, Refusal, TradeOrder
from provider_emulators.signing import alipay_content, rsa_sign, rsa_verify

SUCCESS = "10000"
# Alipay's bill links stay valid for 30 seconds.
BILL_LINK_VALIDITY = dt.timedelta(seconds=30)
MAX_AMOUNT_FEN = 100_000_000 * 100
_OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_\-]{1,64}")

_REFUSALS: dict[Refusal, tuple[str, str]] = {
    Refusal.TRADE_NOT_FOUND: ("ACQ.TRADE_NOT_EXIST", "交易不存在"),
    Refusal.ALREADY_PAID: ("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"),
    Refusal.TRADE_CLOSED: ("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"),
    Refusal.EXPIRED: ("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"),
    Refusal.OUT_TRADE_NO_USED: ("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"),
    Refusal.NOT_PAID: ("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
    Refusal.TOTAL_MISMATCH: ("ACQ.INVALID_PARAMETER", "参数无效"),
    Refusal.REFUND_EXCEEDS: ("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"),
    Refusal.REFUND_NOT_FOUND: ("ACQ.TRADE_NOT_EXIST", "退款记录不存在"),
    Refusal.OUT_REFUND_NO_USED: ("ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求"),
}


class GatewayRefusal(Exception):
    """The gateway refuses the request itself (answered unsigned)."""

    def __init__(self, code: str, msg: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(sub_msg)
        self.answer = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}


class BusinessFailure(Exception):
    """A signed 40004 answer."""

    def __init__(self, sub_code: str, sub_msg: str) -> None:
        super().__init__(sub_msg)
        self.answer = {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": sub_code,
            "sub_msg": sub_msg,
        }

    @classmethod
    def refused(cls, refusal: EmulatorRefusal) -> BusinessFailure:
        return cls(*_REFUSALS[refusal.refusal])


def _invalid(sub_code: str, sub_msg: str) -> GatewayRefusal:
    return GatewayRefusal("40002", "Invalid Arguments", sub_code, sub_msg)


def _missing(name: str) -> GatewayRefusal:
    return GatewayRefusal(
        "40001",
        "Missing Required Arguments",
        f"isv.missing-{name.replace('_', '-')}",
        f"缺少{name}参数",
    )


@dataclass(frozen=True)
class ApiRequest:
    http: HttpRequest
    platform: AlipayPlatform
    params: dict[str, str]
    biz: dict[str, Any]


Handler = Callable[[ApiRequest], dict[str, Any]]


@csrf_exempt
def alipay_gateway(request: HttpRequest) -> HttpResponse:
    params = (request.POST if request.method == "POST" else request.GET).dict()
    method = params.get("method", "")
    if method == "alipay.trade.wap.pay":
        return _wap_pay(request, params)
    handler = _HANDLERS.get(method)
    response_key = method.replace(".", "_") + "_response" if handler else "error_response"
    platform = alipay_platform()
    try:
        if not method:
            raise _missing("method")
        if handler is None:
            raise _invalid("isv.invalid-method", "不存在的方法名")
        _authenticate(params, platform)
        api = ApiRequest(http=request, platform=platform, params=params, biz=_biz(params))
        try:
            answer = handler(api)
        except EmulatorRefusal as refusal:
            answer = BusinessFailure.refused(refusal).answer
        except BusinessFailure as failure:
            answer = failure.answer
    except GatewayRefusal as refusal:
        body = services.compact_json({response_key: refusal.answer})
        return HttpResponse(body.encode(), content_type="application/json;charset=utf-8")
    content = services.compact_json(answer)
    signature = rsa_sign(platform.private_key, content.encode())
    body = f'{{"{response_key}":{content},"sign":"{signature}"}}'
    return HttpResponse(body.encode(), content_type="application/json;charset=utf-8")


def _authenticate(params: dict[str, str], platform: AlipayPlatform) -> None:
    for name in ("app_id", "sign_type", "sign", "timestamp", "charset", "version"):
        if not params.get(name):
            raise _missing(name)
    if params["app_id"] != platform.app.app_id:
        raise _invalid("isv.invalid-app-id", "无效的AppID参数")
    if params["sign_type"] != "RSA2":
        raise _invalid("isv.invalid-signature-type", "无效的签名类型")
    if params["charset"].lower() != "utf-8":
        raise _invalid("isv.invalid-charset", "字符集不合法")
    try:
        dt.datetime.strptime(params["timestamp"], services.ALIPAY_TIME_FORMAT)
    except ValueError:
        raise _invalid("isv.invalid-timestamp", "非法的时间戳参数") from None
    notify_url = params.get("notify_url", "")
    if notify_url and (
        not notify_url.startswith(("https://", "http://"))
        or len(notify_url) > 256
        or "\x00" in notify_url
    ):
        raise _invalid("isv.invalid-notify-url", "notify_url 不合法")
    if not rsa_verify(
        platform.app.public_key, alipay_content(params, exclude=("sign",)), params["sign"]
    ):
        raise _invalid(
            "isv.invalid-signature",
            "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配",
        )


def _biz(params: dict[str, str]) -> dict[str, Any]:
    try:
        biz = json.loads(params.get("biz_content") or "{}")
    except json.JSONDecodeError:
        raise _invalid("isv.invalid-parameter", "biz_content 不是合法的 JSON") from None
    if not isinstance(biz, dict):
        raise _invalid("isv.invalid-parameter", "biz_content 应为 JSON 对象")
    return biz


# --- Trades ----------------------------------------------------------------------------------


def _order(api: ApiRequest, *, channel: str) -> EmulatedTrade:
    biz = api.biz
    amount = _amount(biz, "total_amount")
    expires_at = None
    if biz.get("time_expire"):
        expires_at = _local_time(biz, "time_expire")
    return services.trade_open(
        order=TradeOrder(
            provider=Provider.ALIPAY,
            merchant_id=api.platform.app.seller_id,
            app_id=api.platform.app.app_id,
            out_trade_no=_text(biz, "out_trade_no", 64, pattern=_OUT_TRADE_NO),
            channel=channel,
            description=_text(biz, "subject", 256),
            amount_fen=amount,
            notify_url=api.params.get("notify_url", ""),
            expires_at=expires_at,
        ),
        scanned=channel == Channel.WAP,
    )


def _precreate(api: ApiRequest) -> dict[str, Any]:
    trade = _order(api, channel=Channel.PRECREATE)
    return {
        "code": SUCCESS,
        "msg": "Success",
        "out_trade_no": trade.out_trade_no,
        "qr_code": _payer_page(api.http, trade),
    }


def _query(api: ApiRequest) -> dict[str, Any]:
    trade = _trade(api)
    now = timezone.now()
    answer: dict[str, Any] = {
        "code": SUCCESS,
        "msg": "Success",
        "trade_no": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "trade_status": services.alipay_trade_status(trade, now=now),
        "total_amount": fen_to_yuan(trade.amount_fen),
    }
    if trade.paid_at is not None:
        paid = fen_to_yuan(trade.amount_fen)
        answer |= {
            "buyer_logon_id": "138****8888",
            "buyer_user_id": trade.buyer_id,
            "buyer_pay_amount": paid,
            "receipt_amount": paid,
            "invoice_amount": paid,
            "point_amount": "0.00",
            "send_pay_date": services.alipay_time(trade.paid_at),
        }
    return answer


def _close(api: ApiRequest) -> dict[str, Any]:
    trade = _trade(api)
    try:
        services.trade_close(
            provider=Provider.ALIPAY,
            merchant_id=trade.merchant_id,
            out_trade_no=trade.out_trade_no,
            missing_ok=False,
        )
    except EmulatorRefusal as refusal:
        if refusal.refusal == Refusal.ALREADY_PAID:
            raise BusinessFailure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法") from None
        raise
    return {
        "code": SUCCESS,
        "msg": "Success",
        "trade_no": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
    }


# --- Refunds ---------------------------------------------------------------------------------


def _refund(api: ApiRequest) -> dict[str, Any]:
    trade = _trade(api)
    amount = _amount(api.biz, "refund_amount")
    # Without out_request_no Alipay takes the request as the one full refund of the trade.
    out_request_no = (
        _text(api.biz, "out_request_no", 64)
        if api.biz.get("out_request_no")
        else trade.out_trade_no
    )
    reason = str(api.biz.get("refund_reason", ""))[:80]
    refund, created = services.refund_create(
        trade_pk=trade.pk,
        out_refund_no=out_request_no,
        amount_fen=amount,
        total_fen=None,
        reason=reason,
        notify_url="",
    )
    trade.refresh_from_db()
    return {
        "code": SUCCESS,
        "msg": "Success",
        "trade_no": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "buyer_logon_id": "138****8888",
        "buyer_user_id": trade.buyer_id,
        "fund_change": "Y" if created else "N",
        "refund_fee": fen_to_yuan(trade.refunded_fen),
        "send_back_fee": fen_to_yuan(refund.amount_fen),
        "gmt_refund_pay": services.alipay_time(refund.succeeded_at or refund.created_at),
    }


def _refund_query(api: ApiRequest) -> dict[str, Any]:
    """A refund Alipay never received answers an empty success."""
    trade = _trade(api)
    out_request_no = _text(api.biz, "out_request_no", 64)
    refund: EmulatedRefund | None = trade.refunds.filter(out_refund_no=out_request_no).first()
    if refund is None:
        return {"code": SUCCESS, "msg": "Success"}
    return {
        "code": SUCCESS,
        "msg": "Success",
        "trade_no": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "out_request_no": refund.out_refund_no,
        "total_amount": fen_to_yuan(trade.amount_fen),
        "refund_amount": fen_to_yuan(refund.amount_fen),
        "refund_status": "REFUND_SUCCESS",
        "gmt_refund_pay": services.alipay_time(refund.succeeded_at or refund.created_at),
    }


# --- Statements ------------------------------------------------------------------------------


def _bill_url(api: ApiRequest) -> dict[str, Any]:
    if api.biz.get("bill_type") != "trade":
        raise BusinessFailure("isv.invalid-parameter", "bill_type 仅支持 trade")
    try:
        bill_date = dt.date.fromisoformat(str(api.biz.get("bill_date", "")))
    except ValueError:
        raise BusinessFailure("isv.invalid-parameter", "bill_date 格式应为 yyyy-MM-dd") from None
    if bill_date > timezone.localdate():
        raise BusinessFailure("isv.invalid-parameter", "账单日期不能晚于今天")
    seller_id = api.platform.app.seller_id
    rows = services.bill_rows(provider=Provider.ALIPAY, merchant_id=seller_id, bill_date=bill_date)
    if rows is None:
        raise BusinessFailure("isp.bill_not_exist", "账单不存在")
    _, content = bills.alipay_business_details(rows, seller_id=seller_id, bill_date=bill_date)
    issued = services.bill_issue(
        provider=Provider.ALIPAY,
        merchant_id=seller_id,
        bill_date=bill_date,
        content=content,
        valid_for=BILL_LINK_VALIDITY,
    )
    url = reverse("provider_emulators:alipay-bill", kwargs={"token": issued.token})
    return {
        "code": SUCCESS,
        "msg": "Success",
        "bill_download_url": api.http.build_absolute_uri(url),
    }


def alipay_bill_file(request: HttpRequest, token: str) -> HttpResponse:
    """The bill zip (no signature: the link itself is the secret, briefly valid)."""
    issued = services.bill_file(provider=Provider.ALIPAY, token=token)
    if issued is None:
        raise Http404("no such bill")
    name = f"{issued.merchant_id}0156_{issued.bill_date:%Y%m%d}.csv.zip"
    response = HttpResponse(bytes(issued.content), content_type="application/oct-stream")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- The phone's cashier (wap pay) ----------------------------------------------------------


def _wap_pay(request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    platform = alipay_platform()
    try:
        _authenticate(params, platform)
        api = ApiRequest(http=request, platform=platform, params=params, biz=_biz(params))
        trade = _order(api, channel=Channel.WAP)
    except GatewayRefusal as refusal:
        return _error_page(request, refusal.answer["sub_code"], refusal.answer["sub_msg"])
    except BusinessFailure as failure:
        return _error_page(request, failure.answer["sub_code"], failure.answer["sub_msg"])
    except EmulatorRefusal as refusal:
        sub_code, sub_msg = _REFUSALS[refusal.refusal]
        return _error_page(request, sub_code, sub_msg)
    return HttpResponseRedirect(_payer_page(request, trade))


def _error_page(request: HttpRequest, code: str, message: str) -> HttpResponse:
    return render(
        request,
        "provider_emulators/error.html",
        {"provider_label": "支付宝 Alipay", "code": code, "message": message},
        status=400,
    )


# --- Input checking --------------------------------------------------------------------------


def _trade(api: ApiRequest) -> EmulatedTrade:
    out_trade_no = str(api.biz.get("out_trade_no", ""))
    trade_no = str(api.biz.get("trade_no", ""))
    if not (out_trade_no or trade_no):
        raise BusinessFailure("ACQ.INVALID_PARAMETER", "out_trade_no 与 trade_no 不能同时为空")
    return services.trade_get(
        provider=Provider.ALIPAY,
        merchant_id=api.platform.app.seller_id,
        out_trade_no=out_trade_no,
        transaction_id=trade_no,
    )


def _text(
    biz: dict[str, Any], key: str, max_length: int, *, pattern: re.Pattern[str] | None = None
) -> str:
    value = biz.get(key)
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > max_length
        or "\x00" in value
    ):
        raise BusinessFailure("ACQ.INVALID_PARAMETER", f"参数无效：{key}")
    if pattern is not None and not pattern.fullmatch(value):
        raise BusinessFailure("ACQ.INVALID_PARAMETER", f"参数无效：{key}")
    return value


def _amount(biz: dict[str, Any], key: str) -> int:
    try:
        fen = yuan_to_fen(str(biz.get(key, "")))
    except ValueError:
        raise BusinessFailure("ACQ.INVALID_PARAMETER", f"参数无效：{key}") from None
    if not 1 <= fen <= MAX_AMOUNT_FEN:
        raise BusinessFailure("ACQ.INVALID_PARAMETER", f"参数无效：{key} 超出范围")
    return fen


def _local_time(biz: dict[str, Any], key: str) -> dt.datetime:
    try:
        return timezone.make_aware(
            dt.datetime.strptime(str(biz.get(key)), services.ALIPAY_TIME_FORMAT)
        )
    except ValueError:
        raise BusinessFailure("ACQ.INVALID_PARAMETER", f"参数无效：{key}") from None


def _payer_page(request: HttpRequest, trade: EmulatedTrade) -> str:
    return request.build_absolute_uri(
        reverse(
            "provider_emulators:payer-page",
            kwargs={"provider": Provider.ALIPAY, "trade_id": trade.public_id},
        )
    )


_HANDLERS: dict[str, Handler] = {
    "alipay.trade.precreate": _precreate,
    "alipay.trade.query": _query,
    "alipay.trade.close": _close,
    "alipay.trade.refund": _refund,
    "alipay.trade.fastpay.refund.query": _refund_query,
    "alipay.data.dataservice.bill.downloadurl.query": _bill_url,
}
