"""The payer's side: what the phone shows after scanning the QR code or opening the cashier URL.

`/emulators/pay/<provider>/<trade id>/` shows the merchant, the amount and "支付 Pay" /
"取消 Cancel"; paying marks the emulated trade paid and sends the provider's notification.
WeChat Pay's JSAPI cashier (`/emulators/pay/wechatpay/jsapi/`) takes the parameters the page would
hand to `WeixinJSBridge`, checks their paySign against the merchant's key, as WeChat does, and
opens the same page.
"""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from payments.providers.money import fen_to_yuan
from provider_emulators import services
from provider_emulators.models import EmulatedTrade, Provider, TradeState
from provider_emulators.registry import wechatpay_platform
from provider_emulators.services import EmulatorRefusal, Refusal
from provider_emulators.signing import rsa_verify

_LABELS = {Provider.WECHATPAY: "微信支付 WeChat Pay", Provider.ALIPAY: "支付宝 Alipay"}
_COLOURS = {Provider.WECHATPAY: "#07c160", Provider.ALIPAY: "#1677ff"}
_REFUSED = {
    Refusal.ALREADY_PAID: "该订单已支付 Already paid",
    Refusal.TRADE_CLOSED: "订单已关闭 Order closed",
    Refusal.EXPIRED: "订单已过期 Order expired",
}
_JSAPI_FIELDS = ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")


@require_GET
def payer_page(request: HttpRequest, provider: str, trade_id: uuid.UUID) -> HttpResponse:
    trade = _trade(provider, trade_id)
    if trade is None:
        return _error(request, provider, "ORDER_NOT_EXIST", "订单不存在 No such order", 404)
    if trade.scanned_at is None:
        trade = services.trade_scan(trade_pk=trade.pk)
    return _page(request, trade)


@require_POST
def payer_pay(request: HttpRequest, provider: str, trade_id: uuid.UUID) -> HttpResponse:
    trade = _trade(provider, trade_id)
    if trade is None:
        return _error(request, provider, "ORDER_NOT_EXIST", "订单不存在 No such order", 404)
    try:
        services.trade_pay(trade_pk=trade.pk)
    except EmulatorRefusal as refusal:
        trade.refresh_from_db()
        return _page(request, trade, error=_REFUSED[refusal.refusal], status=409)
    return redirect("provider_emulators:payer-page", provider=provider, trade_id=trade.public_id)


@require_POST
def payer_cancel(request: HttpRequest, provider: str, trade_id: uuid.UUID) -> HttpResponse:
    """The payer walks away: nothing changes at the provider (the merchant closes the order)."""
    trade = _trade(provider, trade_id)
    if trade is None:
        return _error(request, provider, "ORDER_NOT_EXIST", "订单不存在 No such order", 404)
    return _page(request, trade, cancelled=True)


@require_GET
def wechatpay_jsapi_cashier(request: HttpRequest) -> HttpResponse:
    """Either the six JSAPI parameters as query parameters, or `params=<their JSON>` (what
    `CreatedPayment.pay_url` holds for a JSAPI payment)."""
    parameters: object = request.GET.dict()
    if "params" in request.GET:
        try:
            parameters = json.loads(request.GET["params"])
        except json.JSONDecodeError:
            parameters = {}
    if not isinstance(parameters, dict) or not all(
        isinstance(parameters.get(name), str) for name in _JSAPI_FIELDS
    ):
        return _error(request, Provider.WECHATPAY, "PARAM_ERROR", "缺少支付参数 Missing parameters")
    merchant = wechatpay_platform().merchant
    message = "{appId}\n{timeStamp}\n{nonceStr}\n{package}\n".format_map(parameters).encode()
    if (
        parameters["appId"] != merchant.appid
        or parameters["signType"] != "RSA"
        or not rsa_verify(merchant.public_key, message, parameters["paySign"])
    ):
        return _error(request, Provider.WECHATPAY, "SIGN_ERROR", "支付验证签名失败 Bad paySign")
    prepay_id = str(parameters["package"]).removeprefix("prepay_id=")
    trade = (
        EmulatedTrade.objects.filter(provider=Provider.WECHATPAY, prepay_id=prepay_id).first()
        if prepay_id and "\x00" not in prepay_id
        else None
    )
    if trade is None:
        return _error(
            request, Provider.WECHATPAY, "ORDER_NOT_EXIST", "订单不存在 No such order", 404
        )
    return redirect(
        "provider_emulators:payer-page", provider=Provider.WECHATPAY, trade_id=trade.public_id
    )


def _trade(provider: str, trade_id: uuid.UUID) -> EmulatedTrade | None:
    if provider not in Provider.values:
        return None
    return EmulatedTrade.objects.filter(provider=provider, public_id=trade_id).first()


def _page(
    request: HttpRequest,
    trade: EmulatedTrade,
    *,
    error: str = "",
    cancelled: bool = False,
    status: int = 200,
) -> HttpResponse:
    if trade.state in services.PAID_STATES:
        state = "paid"
    elif trade.state == TradeState.CLOSED:
        state = "closed"
    elif services.trade_expired(trade, now=timezone.now()):
        state = "expired"
    else:
        state = "payable"
    return render(
        request,
        "provider_emulators/payer.html",
        {
            "trade": trade,
            "provider": trade.provider,
            "provider_label": _LABELS[Provider(trade.provider)],
            "colour": _COLOURS[Provider(trade.provider)],
            "merchant_name": settings.PAYMENT_MERCHANT_NAME,
            "amount_yuan": fen_to_yuan(trade.amount_fen),
            "state": state,
            "error": error,
            "cancelled": cancelled,
        },
        status=status,
    )


def _error(
    request: HttpRequest, provider: str, code: str, message: str, status: int = 400
) -> HttpResponse:
    label = _LABELS.get(Provider(provider), "") if provider in Provider.values else ""
    return render(
        request,
        "provider_emulators/error.html",
        {"provider_label": label, "code": code, "message": message},
        status=status,
    )
