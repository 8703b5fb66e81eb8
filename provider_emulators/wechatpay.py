"""The emulated WeChat Pay API v3 (`/emulators/wechatpay/v3/...`).

Every request must carry the merchant's `Authorization: WECHATPAY2-SHA256-RSA2048 ...` signature
over "METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n", checked against the merchant's registered API
certificate; every answer (errors too, the bill file excepted) is signed with `Wechatpay-*`
headers by the WeChat Pay key, as the real API does. Errors are `{"code", "message"}` with
WeChat Pay's codes and HTTP statuses; malformed input is a 400, never a 500.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from provider_emulators import bills, services
from provider_emulators.models import Channel, Provider
from provider_emulators.registry import WeChatPayPlatform, wechatpay_platform
from provider_emulators.services import EmulatorRefusal, Refusal, TradeOrder
from provider_emulators.signing import (
    rsa_verify,
    wechatpay_authorization,
    wechatpay_request_message,
    wechatpay_signed_headers,
)

# How far a request's timestamp may be from the emulator's clock.
REQUEST_MAX_AGE_SECONDS = 300
BILL_LINK_VALIDITY = dt.timedelta(minutes=5)
_OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_\-|*]{6,32}")
_OUT_REFUND_NO = re.compile(r"[A-Za-z0-9_\-|*@]{1,64}")

_REFUSALS: dict[Refusal, tuple[int, str, str]] = {
    Refusal.TRADE_NOT_FOUND: (404, "ORDER_NOT_EXIST", "订单不存在"),
    Refusal.ALREADY_PAID: (400, "ORDERPAID", "该订单已支付"),
    Refusal.TRADE_CLOSED: (400, "ORDER_CLOSED", "订单已关闭"),
    Refusal.EXPIRED: (400, "ORDER_CLOSED", "订单已过期"),
    Refusal.OUT_TRADE_NO_USED: (403, "OUT_TRADE_NO_USED", "商户订单号重复"),
    Refusal.NOT_PAID: (400, "INVALID_REQUEST", "订单未支付，不能退款"),
    Refusal.TOTAL_MISMATCH: (400, "INVALID_REQUEST", "订单金额与原订单金额不一致"),
    Refusal.REFUND_EXCEEDS: (400, "INVALID_REQUEST", "申请退款金额超过订单可退金额"),
    Refusal.REFUND_NOT_FOUND: (404, "RESOURCE_NOT_EXISTS", "退款单不存在"),
    Refusal.OUT_REFUND_NO_USED: (400, "INVALID_REQUEST", "商户退款单号重复，参数与原退款不一致"),
}


class WeChatPayError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["detail"] = {"field": self.field, "location": "body"}
        return body

    @classmethod
    def refused(cls, refusal: EmulatorRefusal, *, not_found: str = "") -> WeChatPayError:
        status, code, message = _REFUSALS[refusal.refusal]
        if refusal.refusal == Refusal.TRADE_NOT_FOUND and not_found:
            code = not_found
        return cls(status, code, message)


def _param_error(field: str, issue: str) -> WeChatPayError:
    return WeChatPayError(400, "PARAM_ERROR", f"参数错误：{field} {issue}", field=field)


@dataclass(frozen=True)
class ApiRequest:
    http: HttpRequest
    platform: WeChatPayPlatform
    mchid: str


Answer = tuple[int, dict[str, Any] | None]
# A handler answers a status and JSON to sign, or (the bill file) a finished response.
Handler = Callable[..., Answer | HttpResponse]


@csrf_exempt
def wechatpay_api(request: HttpRequest, api_path: str) -> HttpResponse:
    platform = wechatpay_platform()
    try:
        mchid = _authenticate(request, platform)
        handler, arguments = _route(request.method or "", api_path)
        answer = handler(ApiRequest(http=request, platform=platform, mchid=mchid), **arguments)
        if isinstance(answer, HttpResponse):
            return answer
        status, data = answer
    except WeChatPayError as error:
        status, data = error.status, error.body()
    return _signed_response(platform, status, data)


# --- Request authentication and answer signing ----------------------------------------------


def _signed_path(request: HttpRequest) -> str:
    """The path the merchant signed: the request's path and query below the API's mount."""
    mount = reverse("provider_emulators:wechatpay-api", kwargs={"api_path": ""}).rstrip("/")
    return request.get_full_path()[len(mount) :]


def _authenticate(request: HttpRequest, platform: WeChatPayPlatform) -> str:
    fields = wechatpay_authorization(request.headers.get("Authorization", ""))
    if fields is None:
        raise WeChatPayError(401, "SIGN_ERROR", "缺少或无法解析 Authorization 签名信息")
    merchant = platform.merchant
    if fields["mchid"] != merchant.mchid:
        raise WeChatPayError(400, "MCH_NOT_EXISTS", "商户号不存在")
    if fields["serial_no"].upper() != merchant.serial_no:
        raise WeChatPayError(401, "SIGN_ERROR", "商户证书序列号有误")
    if not fields["timestamp"].isdigit() or (
        abs(time.time() - int(fields["timestamp"])) > REQUEST_MAX_AGE_SECONDS
    ):
        raise WeChatPayError(401, "SIGN_ERROR", "请求时间戳超出允许范围")
    message = wechatpay_request_message(
        method=request.method or "",
        path=_signed_path(request),
        timestamp=fields["timestamp"],
        nonce_str=fields["nonce_str"],
        body=request.body,
    )
    if not rsa_verify(merchant.public_key, message, fields["signature"]):
        raise WeChatPayError(401, "SIGN_ERROR", "签名错误")
    return fields["mchid"]


def _signed_response(
    platform: WeChatPayPlatform, status: int, data: dict[str, Any] | None
) -> HttpResponse:
    body = b"" if data is None else services.compact_json(data).encode()
    response = HttpResponse(body, status=status, content_type="application/json; charset=utf-8")
    headers = wechatpay_signed_headers(
        private_key=platform.private_key,
        public_key_id=platform.public_key_id,
        body=body,
        timestamp=int(time.time()),
    )
    for name, value in {**headers, "Request-ID": str(uuid.uuid4())}.items():
        response[name] = value
    return response


# --- Routing ---------------------------------------------------------------------------------


def _route(method: str, api_path: str) -> tuple[Handler, dict[str, str]]:
    for route_method, pattern, handler in _ROUTES:
        match = pattern.fullmatch(api_path)
        if match:
            if method != route_method:
                raise WeChatPayError(405, "METHOD_NOT_ALLOWED", f"{method} 不被支持")
            return handler, match.groupdict()
    raise WeChatPayError(404, "NOT_FOUND", "请求的资源不存在")


# --- Payments --------------------------------------------------------------------------------


def _order(api: ApiRequest, *, channel: str) -> Answer:
    body = _json_body(api.http)
    merchant = api.platform.merchant
    mchid = _string(body, "mchid", 32)
    if mchid != api.mchid:
        raise WeChatPayError(400, "INVALID_REQUEST", "请求的 mchid 与签名的商户号不一致")
    if _string(body, "appid", 32) != merchant.appid:
        raise WeChatPayError(400, "APPID_MCHID_NOT_MATCH", "AppID和mch_id不匹配")
    out_trade_no = _string(body, "out_trade_no", 32, pattern=_OUT_TRADE_NO)
    amount = _object(body, "amount")
    total = _positive_int(amount, "total", field="/amount/total")
    if amount.get("currency", "CNY") != "CNY":
        raise _param_error("/amount/currency", "只支持 CNY")
    payer_openid = ""
    if channel == Channel.JSAPI:
        payer_openid = _string(_object(body, "payer"), "openid", 128, field="/payer/openid")
    expires_at = None
    if "time_expire" in body:
        expires_at = _rfc3339(_string(body, "time_expire", 64), field="/time_expire")
    try:
        trade = services.trade_open(
            order=TradeOrder(
                provider=Provider.WECHATPAY,
                merchant_id=mchid,
                app_id=merchant.appid,
                out_trade_no=out_trade_no,
                channel=channel,
                description=_string(body, "description", 127),
                amount_fen=total,
                notify_url=_url(body, "notify_url"),
                expires_at=expires_at,
                payer_openid=payer_openid,
            ),
            scanned=True,
        )
    except EmulatorRefusal as refusal:
        raise WeChatPayError.refused(refusal) from None
    if channel == Channel.NATIVE:
        return 200, {"code_url": _payer_page(api.http, trade.public_id)}
    return 200, {"prepay_id": trade.prepay_id}


def _native(api: ApiRequest) -> Answer:
    return _order(api, channel=Channel.NATIVE)


def _jsapi(api: ApiRequest) -> Answer:
    return _order(api, channel=Channel.JSAPI)


def _query_by_out_trade_no(api: ApiRequest, out_trade_no: str) -> Answer:
    _check_query_mchid(api)
    try:
        trade = services.trade_get(
            provider=Provider.WECHATPAY, merchant_id=api.mchid, out_trade_no=out_trade_no
        )
    except EmulatorRefusal as refusal:
        raise WeChatPayError.refused(refusal) from None
    return 200, services.wechatpay_transaction(trade)


def _query_by_transaction_id(api: ApiRequest, transaction_id: str) -> Answer:
    """An unpaid order has no transaction id to be found by."""
    _check_query_mchid(api)
    try:
        trade = services.trade_get(
            provider=Provider.WECHATPAY, merchant_id=api.mchid, transaction_id=transaction_id
        )
    except EmulatorRefusal as refusal:
        raise WeChatPayError.refused(refusal) from None
    if trade.state not in services.PAID_STATES:
        raise WeChatPayError.refused(EmulatorRefusal(Refusal.TRADE_NOT_FOUND))
    return 200, services.wechatpay_transaction(trade)


def _close(api: ApiRequest, out_trade_no: str) -> Answer:
    """204 whether or not WeChat Pay knows the order, as the real API answers."""
    if _string(_json_body(api.http), "mchid", 32) != api.mchid:
        raise WeChatPayError(400, "INVALID_REQUEST", "请求的 mchid 与签名的商户号不一致")
    try:
        services.trade_close(
            provider=Provider.WECHATPAY,
            merchant_id=api.mchid,
            out_trade_no=out_trade_no,
            missing_ok=True,
        )
    except EmulatorRefusal as refusal:
        raise WeChatPayError.refused(refusal) from None
    return 204, None


# --- Refunds ---------------------------------------------------------------------------------


def _refund(api: ApiRequest) -> Answer:
    body = _json_body(api.http)
    out_refund_no = _string(body, "out_refund_no", 64, pattern=_OUT_REFUND_NO)
    amount = _object(body, "amount")
    refund_fen = _positive_int(amount, "refund", field="/amount/refund")
    total_fen = _positive_int(amount, "total", field="/amount/total")
    if amount.get("currency", "CNY") != "CNY":
        raise _param_error("/amount/currency", "只支持 CNY")
    reason = _string(body, "reason", 80) if "reason" in body else ""
    notify_url = _url(body, "notify_url") if "notify_url" in body else ""
    try:
        if "transaction_id" in body:
            trade = services.trade_get(
                provider=Provider.WECHATPAY,
                merchant_id=api.mchid,
                transaction_id=_string(body, "transaction_id", 32),
            )
        else:
            trade = services.trade_get(
                provider=Provider.WECHATPAY,
                merchant_id=api.mchid,
                out_trade_no=_string(body, "out_trade_no", 32),
            )
        refund, _ = services.refund_create(
            trade_pk=trade.pk,
            out_refund_no=out_refund_no,
            amount_fen=refund_fen,
            total_fen=total_fen,
            reason=reason,
            notify_url=notify_url,
        )
    except EmulatorRefusal as refusal:
        raise WeChatPayError.refused(refusal, not_found="RESOURCE_NOT_EXISTS") from None
    return 200, _refund_answer(refund)


def _query_refund(api: ApiRequest, out_refund_no: str) -> Answer:
    try:
        refund = services.refund_get_for_merchant(
            provider=Provider.WECHATPAY, merchant_id=api.mchid, out_refund_no=out_refund_no
        )
    except EmulatorRefusal as refusal:
        raise WeChatPayError.refused(refusal) from None
    return 200, _refund_answer(refund)


def _refund_answer(refund: Any) -> dict[str, Any]:
    trade = refund.trade
    answer: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": services.rfc3339(refund.created_at),
        "status": refund.state,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": trade.amount_fen,
            "refund": refund.amount_fen,
            "payer_total": trade.amount_fen,
            "payer_refund": refund.amount_fen,
            "settlement_refund": refund.amount_fen,
            "settlement_total": trade.amount_fen,
            "discount_refund": 0,
            "currency": "CNY",
        },
    }
    if refund.succeeded_at:
        answer["success_time"] = services.rfc3339(refund.succeeded_at)
    return answer


# --- Statements ------------------------------------------------------------------------------


def _trade_bill(api: ApiRequest) -> Answer:
    query = api.http.GET
    try:
        bill_date = dt.date.fromisoformat(query.get("bill_date", ""))
    except ValueError:
        raise _param_error("bill_date", "格式应为 yyyy-MM-DD") from None
    if bill_date > timezone.localdate():
        raise WeChatPayError(400, "INVALID_REQUEST", "账单日期不能晚于今天")
    bill_type = query.get("bill_type", "ALL")
    if bill_type not in ("ALL", "SUCCESS", "REFUND"):
        raise _param_error("bill_type", "应为 ALL、SUCCESS 或 REFUND")
    tar_type = query.get("tar_type", "")
    if tar_type not in ("", "GZIP"):
        raise _param_error("tar_type", "应为 GZIP")
    rows = services.bill_rows(
        provider=Provider.WECHATPAY, merchant_id=api.mchid, bill_date=bill_date
    )
    if rows is None:
        raise WeChatPayError(400, "NO_STATEMENT_EXIST", "要申请的账单不存在")
    if bill_type != "ALL":
        wanted = "payment" if bill_type == "SUCCESS" else "refund"
        rows = [row for row in rows if row.kind == wanted]
    raw = bills.wechatpay_trade_bill(rows)
    content = gzip.compress(raw) if tar_type == "GZIP" else raw
    issued = services.bill_issue(
        provider=Provider.WECHATPAY,
        merchant_id=api.mchid,
        bill_date=bill_date,
        content=content,
        valid_for=BILL_LINK_VALIDITY,
    )
    download = reverse(
        "provider_emulators:wechatpay-api", kwargs={"api_path": "v3/billdownload/file"}
    )
    return 200, {
        "hash_type": "SHA1",
        "hash_value": hashlib.sha1(raw).hexdigest(),  # noqa: S324 - WeChat Pay's integrity check
        "download_url": api.http.build_absolute_uri(f"{download}?token={issued.token}"),
    }


def _bill_file(api: ApiRequest) -> HttpResponse:
    """The bill's bytes; WeChat Pay does not sign this answer."""
    issued = services.bill_file(provider=Provider.WECHATPAY, token=api.http.GET.get("token", ""))
    if issued is None or issued.merchant_id != api.mchid:
        raise WeChatPayError(400, "INVALID_REQUEST", "账单下载链接无效或已过期")
    response = HttpResponse(bytes(issued.content), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{issued.bill_date}.csv"'
    return response


_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("POST", re.compile(r"v3/pay/transactions/native"), _native),
    ("POST", re.compile(r"v3/pay/transactions/jsapi"), _jsapi),
    (
        "GET",
        re.compile(r"v3/pay/transactions/out-trade-no/(?P<out_trade_no>[^/]+)"),
        _query_by_out_trade_no,
    ),
    (
        "GET",
        re.compile(r"v3/pay/transactions/id/(?P<transaction_id>[^/]+)"),
        _query_by_transaction_id,
    ),
    ("POST", re.compile(r"v3/pay/transactions/out-trade-no/(?P<out_trade_no>[^/]+)/close"), _close),
    ("POST", re.compile(r"v3/refund/domestic/refunds"), _refund),
    ("GET", re.compile(r"v3/refund/domestic/refunds/(?P<out_refund_no>[^/]+)"), _query_refund),
    ("GET", re.compile(r"v3/bill/tradebill"), _trade_bill),
    ("GET", re.compile(r"v3/billdownload/file"), _bill_file),
]


# --- Input checking --------------------------------------------------------------------------


def _check_query_mchid(api: ApiRequest) -> None:
    if api.http.GET.get("mchid", "") != api.mchid:
        raise _param_error("mchid", "查询参数 mchid 必填且须与签名的商户号一致")


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WeChatPayError(400, "PARAM_ERROR", "请求体不是合法的 JSON") from None
    if not isinstance(body, dict):
        raise WeChatPayError(400, "PARAM_ERROR", "请求体应为 JSON 对象")
    return body


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise _param_error(f"/{key}", "必填，应为对象")
    return value


def _string(
    data: dict[str, Any],
    key: str,
    max_length: int,
    *,
    pattern: re.Pattern[str] | None = None,
    field: str = "",
) -> str:
    value = data.get(key)
    field = field or f"/{key}"
    if not isinstance(value, str) or not value.strip():
        raise _param_error(field, "必填，应为字符串")
    if len(value) > max_length:
        raise _param_error(field, f"长度不能超过 {max_length}")
    if "\x00" in value:
        raise _param_error(field, "不能含有 NUL 字符")
    if pattern is not None and not pattern.fullmatch(value):
        raise _param_error(field, "格式不正确")
    return value


def _positive_int(data: dict[str, Any], key: str, *, field: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value > 10**12:
        raise _param_error(field, "应为正整数（单位：分）")
    return value


def _url(data: dict[str, Any], key: str) -> str:
    value = _string(data, key, 256)
    if not value.startswith(("https://", "http://")):
        raise _param_error(f"/{key}", "应为 http(s) 地址")
    return value


def _rfc3339(value: str, *, field: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _param_error(field, "应为 RFC 3339 时间") from None
    if timezone.is_naive(parsed):
        raise _param_error(field, "应带时区")
    return parsed


def _payer_page(request: HttpRequest, trade_id: uuid.UUID) -> str:
    return request.build_absolute_uri(
        reverse(
            "provider_emulators:payer-page",
            kwargs={"provider": Provider.WECHATPAY, "trade_id": trade_id},
        )
    )
