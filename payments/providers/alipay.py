"""Alipay through `python-alipay-sdk` (RSA2).

The SDK signs every request with the application key and verifies every answer against Alipay's
public key; `ALIPAY_GATEWAY_URL` decides whether that is the real Alipay or the emulator in
`provider_emulators`. Notifications are verified here before anything in them is used.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import http.client
import io
import json
import time
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig as SdkConfig
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.utils import timezone

from payments.providers.base import (
    REFUND_NOT_FOUND,
    BillLine,
    CallbackReply,
    CreatedPayment,
    GatewayError,
    GatewayRejected,
    Notification,
    NotificationRejected,
    PayChannel,
    PaymentQuery,
    ProviderName,
    RefundResult,
)
from payments.providers.config import AlipayConfig
from payments.providers.money import fen_to_yuan, yuan_to_fen
from payments.providers.signatures import MALFORMED, signature_problem

SUCCESS = "10000"
# Answers that mean "try again later" rather than "no".
_TRANSIENT_CODES = {"20000", "20001"}
_TRANSIENT_SUB_CODES = {"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR", "isp.unknow-error"}
_PAID_STATES = {"TRADE_SUCCESS", "TRADE_FINISHED"}
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class _AlipayClient(AliPay):
    """The SDK's client, with its gateway from the settings (the SDK fixes the real one)."""

    def __init__(self, *, gateway_url: str, **options: Any) -> None:
        super().__init__(**options)
        self._gateway = gateway_url


class AlipayGateway:
    name: ProviderName = "alipay"

    def __init__(self, config: AlipayConfig) -> None:
        self.config = config
        public_key = load_pem_public_key(config.alipay_public_key_pem.encode())
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ValueError("Alipay's public key must be an RSA key")
        self._public_key = public_key
        self._client = _AlipayClient(
            gateway_url=config.gateway_url,
            appid=config.app_id,
            app_private_key_string=config.app_private_key_pem,
            alipay_public_key_string=config.alipay_public_key_pem,
            sign_type="RSA2",
            config=SdkConfig(timeout=config.timeout_seconds),
        )

    # --- Payments --------------------------------------------------------------------------

    def create_payment(
        self,
        *,
        out_trade_no: str,
        amount_fen: int,
        description: str,
        channel: PayChannel,
        notify_url: str,
        expires_at: dt.datetime,
        payer_openid: str = "",
    ) -> CreatedPayment:
        """precreate: Alipay answers a QR code; the trade exists at Alipay only once the payer
        scans it (until then a query answers not_found). wap: a signed URL of Alipay's cashier,
        built locally; the trade appears when the phone opens it."""
        options = {
            "subject": description,
            "out_trade_no": out_trade_no,
            "total_amount": fen_to_yuan(amount_fen),
            "notify_url": notify_url,
            "time_expire": timezone.localtime(expires_at).strftime(_TIME_FORMAT),
        }
        if channel == "precreate":
            data = self._business(
                self._call(lambda: self._client.api_alipay_trade_precreate(**options))
            )
            return CreatedPayment(
                out_trade_no=out_trade_no, channel=channel, pay_url=_text(data, "qr_code")
            )
        if channel == "wap":
            query = self._client.api_alipay_trade_wap_pay(**options)
            return CreatedPayment(
                out_trade_no=out_trade_no,
                channel=channel,
                pay_url=f"{self.config.gateway_url}?{query}",
            )
        raise ValueError(f"Alipay has no {channel!r} channel")

    def query_payment(self, *, out_trade_no: str) -> PaymentQuery:
        data = self._call(lambda: self._client.api_alipay_trade_query(out_trade_no=out_trade_no))
        if _sub_code(data) == "ACQ.TRADE_NOT_EXIST":
            return PaymentQuery(out_trade_no=out_trade_no, status="not_found")
        data = self._business(data)
        trade_status = _text(data, "trade_status")
        paid_at = _answer_time(data["send_pay_date"]) if data.get("send_pay_date") else None
        status: Literal["pending", "paid", "closed", "refunded"]
        if trade_status in _PAID_STATES:
            status = "paid"
        elif trade_status == "WAIT_BUYER_PAY":
            status = "pending"
        elif trade_status == "TRADE_CLOSED":
            # A fully refunded trade is closed too; it was paid, so it carries a payment date.
            status = "refunded" if paid_at else "closed"
        else:
            raise GatewayError(f"Alipay answered an unknown trade status {trade_status!r}")
        return PaymentQuery(
            out_trade_no=out_trade_no,
            status=status,
            amount_fen=_answer_fen(data, "total_amount"),
            transaction_id=str(data.get("trade_no", "")),
            paid_at=paid_at,
        )

    def close_payment(self, *, out_trade_no: str) -> None:
        """A trade Alipay never created (a QR code nobody scanned) needs no closing."""
        data = self._call(lambda: self._client.api_alipay_trade_close(out_trade_no=out_trade_no))
        if _sub_code(data) != "ACQ.TRADE_NOT_EXIST":
            self._business(data)

    # --- Refunds ---------------------------------------------------------------------------

    def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str,
        notify_url: str,
    ) -> RefundResult:
        """Alipay refunds synchronously and notifies the payment's notify_url (so `notify_url`
        is not sent); a repeated out_refund_no answers the first result without moving money."""
        options: dict[str, Any] = {"out_request_no": out_refund_no}
        if reason:
            options["refund_reason"] = reason
        data = self._business(
            self._call(
                lambda: self._client.api_alipay_trade_refund(
                    refund_amount=fen_to_yuan(refund_fen), out_trade_no=out_trade_no, **options
                )
            )
        )
        return RefundResult(
            out_refund_no=out_refund_no,
            status="succeeded",
            refund_id="",
            amount_fen=(
                _answer_fen(data, "send_back_fee") if data.get("send_back_fee") else refund_fen
            ),
        )

    def query_refund(self, *, out_trade_no: str, out_refund_no: str) -> RefundResult:
        """Alipay answers an empty success for a refund it never received."""
        data = self._business(
            self._call(
                lambda: self._client.api_alipay_trade_fastpay_refund_query(
                    out_request_no=out_refund_no, out_trade_no=out_trade_no
                )
            )
        )
        if data.get("out_request_no") != out_refund_no or not data.get("refund_amount"):
            raise GatewayRejected(
                f"Alipay knows no refund {out_refund_no}", provider_code=REFUND_NOT_FOUND
            )
        refund_status = data.get("refund_status", "REFUND_SUCCESS")
        return RefundResult(
            out_refund_no=out_refund_no,
            status="succeeded" if refund_status == "REFUND_SUCCESS" else "processing",
            refund_id="",
            amount_fen=_answer_fen(data, "refund_amount"),
        )

    # --- Statements ------------------------------------------------------------------------

    def download_bill(self, *, bill_date: dt.date) -> list[BillLine]:
        """The day's business details (业务明细): a URL from the bill API, then a zip of GBK CSV
        files fetched from it. No bill for the day: no lines."""
        data = self._call(
            lambda: self._client.server_api(
                "alipay.data.dataservice.bill.downloadurl.query",
                biz_content={"bill_type": "trade", "bill_date": bill_date.isoformat()},
            )
        )
        if _sub_code(data) == "isp.bill_not_exist":
            return []
        url = _text(self._business(data), "bill_download_url")
        try:
            response = httpx.get(url, timeout=self.config.timeout_seconds)
        except httpx.HTTPError as exc:
            raise GatewayError(f"the Alipay bill could not be fetched: {exc}") from exc
        if response.status_code != 200:
            raise GatewayError(f"the Alipay bill download answered HTTP {response.status_code}")
        try:
            return parse_bill_archive(response.content)
        except (zipfile.BadZipFile, UnicodeDecodeError, KeyError, IndexError, ValueError) as exc:
            raise GatewayError(f"the Alipay bill cannot be read: {exc}") from exc

    # --- Notifications ---------------------------------------------------------------------

    def parse_notification(self, *, headers: Mapping[str, str], body: bytes) -> Notification:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise NotificationRejected("malformed_body", "not a UTF-8 form body") from None
        params = dict(pairs)
        if len(params) != len(pairs):
            raise NotificationRejected("malformed_body", "a parameter appears twice")
        signature = params.pop("sign", "")
        if not signature:
            raise NotificationRejected("missing_signature", "no sign parameter")
        sign_type = params.pop("sign_type", "")
        if sign_type != "RSA2":
            raise NotificationRejected("unsupported_signature_type", f"sign_type {sign_type!r}")
        try:
            signature_bytes = base64.b64decode(signature, validate=True)
        except binascii.Error:
            raise NotificationRejected(MALFORMED, "sign is not base64") from None
        problem = signature_problem(self._public_key, _signed_content(params), signature_bytes)
        if problem is not None:
            raise NotificationRejected(problem, "the signature does not verify")
        try:
            notified_at = _local_time(params.get("notify_time", ""))
        except ValueError:
            raise NotificationRejected("bad_timestamp", "notify_time is not a time") from None
        age = time.time() - notified_at.timestamp()
        if abs(age) > self.config.notification_max_age_seconds:
            raise NotificationRejected("stale_timestamp", f"notified {int(age)} s ago")
        try:
            return _notification(params)
        except (KeyError, ValueError) as exc:
            raise NotificationRejected("malformed_notification", f"field {exc}") from None

    def reply(self, *, accepted: bool, message: str = "") -> CallbackReply:
        """Alipay reads the body: exactly `success`, or it notifies again later."""
        return CallbackReply(
            status=200,
            content_type="text/plain; charset=utf-8",
            body=b"success" if accepted else b"failure",
        )

    # --- HTTP through the SDK --------------------------------------------------------------

    @staticmethod
    def _call(request: Callable[[], Any]) -> dict[str, Any]:
        try:
            data = request()
        except AliPayValidationError as exc:
            raise GatewayError("Alipay's answer failed signature verification") from exc
        except AliPayException as exc:
            # An unsigned answer: the gateway refused the request itself (bad app id, bad
            # signature, missing parameter); the SDK keeps the raw answer in the message.
            error = _unsigned_error(str(exc))
            code = str(error.get("code", ""))
            if code in _TRANSIENT_CODES:
                raise GatewayError(f"Alipay is unavailable: {error}") from exc
            raise GatewayRejected(
                f"Alipay refused: {error.get('sub_msg') or error.get('msg') or exc}",
                provider_code=str(error.get("sub_code") or code),
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise GatewayError(f"Alipay is unreachable: {exc}") from exc
        except ValueError as exc:
            raise GatewayError("Alipay answered something that is not JSON") from exc
        if not isinstance(data, dict):
            raise GatewayError("Alipay answered JSON that is not an object")
        return data

    @staticmethod
    def _business(data: dict[str, Any]) -> dict[str, Any]:
        if data.get("code") == SUCCESS:
            return data
        sub_code = _sub_code(data)
        message = f"Alipay refused ({data.get('code')} {sub_code}): {data.get('sub_msg', '')}"
        if data.get("code") in _TRANSIENT_CODES or sub_code in _TRANSIENT_SUB_CODES:
            raise GatewayError(message)
        raise GatewayRejected(message, provider_code=sub_code or str(data.get("code", "")))


def parse_bill_archive(content: bytes) -> list[BillLine]:
    """The business-details file (业务明细) inside the zip Alipay serves; the summary file
    (业务明细(汇总)) next to it is skipped. Alipay writes GBK."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for member in archive.infolist():
            text = archive.read(member).decode("gb18030")
            if any(line.startswith("支付宝交易号") for line in text.splitlines()):
                return parse_business_details(text)
    raise ValueError("no business-details file in the archive")


def parse_business_details(text: str) -> list[BillLine]:
    """Comment lines start with `#`; the table runs from the header to the next comment; every
    field carries trailing tabs (against spreadsheet reformatting)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("支付宝交易号"))
    table = []
    for line in lines[start:]:
        if line.startswith("#"):
            break
        table.append(line)
    rows = [[field.strip() for field in row] for row in csv.reader(table)]
    header, details = rows[0], [row for row in rows[1:] if any(row)]
    result = []
    for row in details:
        fields = dict(zip(header, row, strict=True))
        kind: Literal["payment", "refund"] = "refund" if fields["业务类型"] == "退款" else "payment"
        result.append(
            BillLine(
                kind=kind,
                out_trade_no=fields["商户订单号"],
                transaction_id=fields["支付宝交易号"],
                amount_fen=abs(yuan_to_fen(fields["订单金额（元）"])),
                occurred_at=_local_time(fields["完成时间"]),
                out_refund_no=fields["退款批次号/请求号"] if kind == "refund" else "",
            )
        )
    return result


def _notification(params: dict[str, str]) -> Notification:
    event_id = _required(params, "notify_id")
    app_id = _required(params, "app_id")
    out_trade_no = _required(params, "out_trade_no")
    transaction_id = _required(params, "trade_no")
    if params.get("out_biz_no") and params.get("refund_fee"):
        # Alipay's refund notification carries the trade's refunded total so far (refund_fee);
        # the refund itself is named by out_biz_no (the refund request's out_request_no).
        return Notification(
            provider="alipay",
            kind="refund",
            event_id=event_id,
            merchant_id=params.get("seller_id", ""),
            app_id=app_id,
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            status="succeeded",
            amount_fen=yuan_to_fen(params["refund_fee"]),
            occurred_at=_refund_time(params["gmt_refund"]) if params.get("gmt_refund") else None,
            out_refund_no=params["out_biz_no"],
            raw=dict(params),
        )
    trade_status = _required(params, "trade_status")
    if trade_status in _PAID_STATES:
        status = "paid"
    elif trade_status == "TRADE_CLOSED":
        status = "closed"
    else:
        raise NotificationRejected("unsupported_event", f"trade_status {trade_status!r}")
    return Notification(
        provider="alipay",
        kind="payment",
        event_id=event_id,
        merchant_id=params.get("seller_id", ""),
        app_id=app_id,
        out_trade_no=out_trade_no,
        transaction_id=transaction_id,
        status=status,
        amount_fen=yuan_to_fen(_required(params, "total_amount")),
        occurred_at=_local_time(params["gmt_payment"]) if params.get("gmt_payment") else None,
        raw=dict(params),
    )


def _signed_content(params: Mapping[str, str]) -> bytes:
    """What Alipay signs in a notification: every non-empty parameter but sign and sign_type,
    sorted by name, `k=v` joined by `&`, unencoded (as Alipay's own SDKs build it). Verified with
    `cryptography` rather than python-alipay-sdk's pycryptodome, which costs about 3 ms a
    notification here."""
    return "&".join(f"{key}={value}" for key, value in sorted(params.items()) if value).encode()


def _required(params: Mapping[str, str], key: str) -> str:
    value = params.get(key, "")
    if not value:
        raise KeyError(key)
    return value


def _unsigned_error(message: str) -> dict[str, Any]:
    """The `*_response` or `error_response` object of the raw answer the SDK quotes."""
    try:
        answer = json.loads(message.partition("message:")[2])
    except json.JSONDecodeError:
        return {}
    if not isinstance(answer, dict):
        return {}
    for key, value in answer.items():
        if key.endswith("_response") and isinstance(value, dict):
            return value
    return {}


def _sub_code(data: Mapping[str, Any]) -> str:
    return str(data.get("sub_code", ""))


def _local_time(value: str) -> dt.datetime:
    return timezone.make_aware(dt.datetime.strptime(value, _TIME_FORMAT))


def _refund_time(value: str) -> dt.datetime:
    """Alipay writes refund times with milliseconds ("2024-05-01 10:00:00.123")."""
    return timezone.make_aware(dt.datetime.strptime(value, _TIME_FORMAT + ".%f"))


def _answer_time(value: Any) -> dt.datetime:
    try:
        return _local_time(str(value))
    except ValueError as exc:
        raise GatewayError(f"Alipay's answer: {exc}") from exc


def _answer_fen(data: Mapping[str, Any], key: str) -> int:
    try:
        return yuan_to_fen(str(data.get(key, "")))
    except ValueError as exc:
        raise GatewayError(f"Alipay's answer: {key}: {exc}") from exc


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise GatewayError(f"Alipay's answer has no {key}")
    return value
