"""WeChat Pay API v3 through the `wechatpayv3` SDK, in WeChat Pay public-key mode (微信支付公钥).

The SDK signs every request with the merchant's API key and verifies every response against the
WeChat Pay public key; `WECHATPAY_API_BASE_URL` decides whether that is the real WeChat Pay or the
emulator in `provider_emulators`. Callbacks are verified here, on the raw body, before anything
is parsed.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.utils import timezone
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt

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
from payments.providers.config import WeChatPayConfig
from payments.providers.money import yuan_to_fen
from payments.providers.signatures import signature_problem

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
# WeChat Pay sends callbacks with a deliberately invalid signature carrying this prefix to check
# that merchants verify signatures; they must be refused.
PROBE_SIGNATURE_PREFIX = "WECHATPAY/SIGNTEST/"
# What the SDK raises (a bare Exception) when a response's signature does not verify.
_SDK_UNVERIFIED_ANSWER = "failed to verify the signature"

_TRADE_STATES: dict[str, Literal["pending", "paid", "closed", "refunded"]] = {
    "SUCCESS": "paid",
    "REFUND": "refunded",
    "NOTPAY": "pending",
    "USERPAYING": "pending",
    "PAYERROR": "pending",
    "CLOSED": "closed",
    "REVOKED": "closed",
}
_REFUND_STATES: dict[str, Literal["processing", "succeeded", "failed"]] = {
    "PROCESSING": "processing",
    "SUCCESS": "succeeded",
    "CLOSED": "failed",
    "ABNORMAL": "failed",
}
_REFUND_EVENTS = {
    "REFUND.SUCCESS": "succeeded",
    "REFUND.ABNORMAL": "failed",
    "REFUND.CLOSED": "failed",
}


class _WeChatPayClient(WeChatPay):
    """The SDK's client, with its base URL from the settings (the SDK fixes the real host)."""

    def __init__(self, *, gateway_url: str, **options: Any) -> None:
        super().__init__(**options)
        self._core._gate_way = gateway_url


class WeChatPayGateway:
    name: ProviderName = "wechatpay"

    def __init__(self, config: WeChatPayConfig) -> None:
        self.config = config
        self._client = _WeChatPayClient(
            gateway_url=config.api_base_url,
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=config.mchid,
            private_key=config.merchant_private_key_pem,
            cert_serial_no=config.merchant_serial_no,
            appid=config.appid,
            apiv3_key=config.apiv3_key,
            public_key=config.public_key_pem,
            public_key_id=config.public_key_id,
            timeout=(config.timeout_seconds, config.timeout_seconds),
        )
        public_key = load_pem_public_key(config.public_key_pem.encode())
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ValueError("the WeChat Pay public key must be an RSA key")
        self._public_key = public_key

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
        if channel not in ("native", "jsapi"):
            raise ValueError(f"WeChat Pay has no {channel!r} channel")
        if channel == "jsapi" and not payer_openid:
            raise ValueError("a JSAPI payment needs the payer's openid")
        status, body = self._call(
            lambda: self._client.pay(
                description=description,
                out_trade_no=out_trade_no,
                amount={"total": amount_fen, "currency": "CNY"},
                payer={"openid": payer_openid} if channel == "jsapi" else None,
                time_expire=_rfc3339(expires_at),
                notify_url=notify_url,
                pay_type=WeChatPayType.NATIVE if channel == "native" else WeChatPayType.JSAPI,
            )
        )
        data = self._expect(status, body, ok=(200,))
        if channel == "native":
            return CreatedPayment(
                out_trade_no=out_trade_no, channel=channel, pay_url=_text(data, "code_url")
            )
        parameters = self.jsapi_parameters(prepay_id=_text(data, "prepay_id"))
        return CreatedPayment(
            out_trade_no=out_trade_no,
            channel=channel,
            pay_url=json.dumps(parameters, separators=(",", ":")),
        )

    def jsapi_parameters(self, *, prepay_id: str) -> dict[str, str]:
        """What the page hands to `WeixinJSBridge.invoke('getBrandWCPayRequest', ...)`, signed
        with the merchant key over appId, timeStamp, nonceStr and package."""
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        return {
            "appId": self.config.appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": self._client.sign([self.config.appid, timestamp, nonce, package]),
        }

    def query_payment(self, *, out_trade_no: str) -> PaymentQuery:
        status, body = self._call(lambda: self._client.query(out_trade_no=out_trade_no))
        if status == 404 and _error_code(body) == "ORDER_NOT_EXIST":
            return PaymentQuery(out_trade_no=out_trade_no, status="not_found")
        data = self._expect(status, body, ok=(200,))
        trade_state = _text(data, "trade_state")
        if trade_state not in _TRADE_STATES:
            raise GatewayError(f"WeChat Pay answered an unknown trade state {trade_state!r}")
        amount = data.get("amount")
        success_time = data.get("success_time")
        return PaymentQuery(
            out_trade_no=out_trade_no,
            status=_TRADE_STATES[trade_state],
            amount_fen=_answer_int(amount, "total") if isinstance(amount, dict) else 0,
            transaction_id=str(data.get("transaction_id", "")),
            paid_at=_answer_time(success_time) if isinstance(success_time, str) else None,
        )

    def close_payment(self, *, out_trade_no: str) -> None:
        """WeChat Pay answers 204 for an order it never saw as well (closing is idempotent)."""
        status, body = self._call(lambda: self._client.close(out_trade_no=out_trade_no))
        self._expect(status, body, ok=(204, 200))

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
        status, body = self._call(
            lambda: self._client.refund(
                out_refund_no=out_refund_no,
                amount={"refund": refund_fen, "total": total_fen, "currency": "CNY"},
                out_trade_no=out_trade_no,
                reason=reason or None,
                notify_url=notify_url or None,
            )
        )
        return _refund_result(self._expect(status, body, ok=(200,)))

    def query_refund(self, *, out_trade_no: str, out_refund_no: str) -> RefundResult:
        status, body = self._call(lambda: self._client.query_refund(out_refund_no=out_refund_no))
        if status == 404:
            raise GatewayRejected(
                f"WeChat Pay knows no refund {out_refund_no}: {_error_message(body)}",
                provider_code=REFUND_NOT_FOUND,
            )
        data = self._expect(status, body, ok=(200,))
        if data.get("out_trade_no") != out_trade_no:
            raise GatewayRejected(
                f"refund {out_refund_no} belongs to another order",
                provider_code=REFUND_NOT_FOUND,
            )
        return _refund_result(data)

    # --- Statements ------------------------------------------------------------------------

    def download_bill(self, *, bill_date: dt.date) -> list[BillLine]:
        """The day's trade bill (ALL: payments and refunds), gzip-compressed in transit and
        checked against the SHA1 WeChat Pay announces. No statement for the day: no lines."""
        status, body = self._call(
            lambda: self._client.trade_bill(
                bill_date=bill_date.isoformat(), bill_type="ALL", tar_type="GZIP"
            )
        )
        if status == 400 and _error_code(body) == "NO_STATEMENT_EXIST":
            return []
        data = self._expect(status, body, ok=(200,))
        status, content = self._call(
            lambda: self._client.download_bill(url=_text(data, "download_url"))
        )
        if status != 200 or not isinstance(content, bytes):
            raise GatewayError(f"WeChat Pay bill download answered HTTP {status}")
        try:
            raw = gzip.decompress(content)
        except (OSError, EOFError) as exc:
            raise GatewayError("the WeChat Pay bill is not valid gzip") from exc
        if hashlib.sha1(raw).hexdigest() != str(data.get("hash_value", "")).lower():  # noqa: S324 - WeChat Pay's own integrity check
            raise GatewayError("the WeChat Pay bill does not match its announced SHA1")
        try:
            return parse_trade_bill(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, KeyError, IndexError, ValueError) as exc:
            raise GatewayError(f"the WeChat Pay bill cannot be read: {exc}") from exc

    # --- Callbacks -------------------------------------------------------------------------

    def parse_notification(self, *, headers: Mapping[str, str], body: bytes) -> Notification:
        found = _callback_headers(headers)
        signature = found.get("wechatpay-signature", "")
        timestamp = found.get("wechatpay-timestamp", "")
        nonce = found.get("wechatpay-nonce", "")
        serial = found.get("wechatpay-serial", "")
        if not (signature and timestamp and nonce and serial):
            raise NotificationRejected("missing_signature_headers", "Wechatpay-* headers missing")
        signature_type = found.get("wechatpay-signature-type", SIGNATURE_TYPE)
        if signature_type != SIGNATURE_TYPE:
            raise NotificationRejected(
                "unsupported_signature_type", f"signature type {signature_type!r}"
            )
        if signature.startswith(PROBE_SIGNATURE_PREFIX):
            raise NotificationRejected("signature_probe", "a signature probe, refused as asked")
        if serial != self.config.public_key_id:
            raise NotificationRejected("unknown_serial", f"signed with unknown key {serial!r}")
        if not timestamp.isdigit():
            raise NotificationRejected("bad_timestamp", "Wechatpay-Timestamp is not a number")
        age = time.time() - int(timestamp)
        if abs(age) > self.config.notification_max_age_seconds:
            raise NotificationRejected("stale_timestamp", f"signed {int(age)} s ago")
        try:
            signature_bytes = base64.b64decode(signature, validate=True)
        except binascii.Error:
            signature_bytes = b""
        message = b"%s\n%s\n%s\n" % (timestamp.encode(), nonce.encode(), body)
        problem = signature_problem(self._public_key, message, signature_bytes)
        if problem is not None:
            raise NotificationRejected(problem, "the signature does not verify")
        return self._decrypt_notification(body)

    def _decrypt_notification(self, body: bytes) -> Notification:
        try:
            envelope = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise NotificationRejected("malformed_body", "the body is not JSON") from None
        resource = envelope.get("resource") if isinstance(envelope, dict) else None
        if (
            not isinstance(resource, dict)
            or envelope.get("resource_type") != "encrypt-resource"
            or resource.get("algorithm") != "AEAD_AES_256_GCM"
            or not all(isinstance(resource.get(key), str) for key in ("ciphertext", "nonce"))
        ):
            raise NotificationRejected("unsupported_resource", "no AEAD_AES_256_GCM resource")
        try:
            plaintext = aes_decrypt(
                nonce=resource["nonce"],
                ciphertext=resource["ciphertext"],
                associated_data=str(resource.get("associated_data") or ""),
                apiv3_key=self.config.apiv3_key,
            )
        except (binascii.Error, ValueError):
            plaintext = None
        if plaintext is None:
            raise NotificationRejected("decryption_failed", "the resource does not decrypt")
        try:
            content = json.loads(plaintext)
            return _notification(envelope, content)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise NotificationRejected("malformed_resource", f"resource: {exc}") from None

    def reply(self, *, accepted: bool, message: str = "") -> CallbackReply:
        """WeChat Pay reads the status: 204 accepted; 4xx with `{"code": "FAIL"}` to have the
        notification sent again later."""
        if accepted:
            return CallbackReply(status=204, content_type="application/json", body=b"")
        body = json.dumps({"code": "FAIL", "message": message or "失败"}, ensure_ascii=False)
        return CallbackReply(status=400, content_type="application/json", body=body.encode())

    # --- HTTP through the SDK --------------------------------------------------------------

    def _call(self, request: Callable[[], tuple[int, Any]]) -> tuple[int, Any]:
        try:
            return request()
        except requests.RequestException as exc:
            raise GatewayError(f"WeChat Pay is unreachable: {exc}") from exc
        except Exception as exc:
            if str(exc) == _SDK_UNVERIFIED_ANSWER:
                raise GatewayError("WeChat Pay's answer failed signature verification") from exc
            raise

    @staticmethod
    def _expect(status: int, body: Any, *, ok: tuple[int, ...]) -> dict[str, Any]:
        if status in ok:
            if not body:
                return {}
            try:
                data = json.loads(body)
            except (TypeError, json.JSONDecodeError) as exc:
                raise GatewayError("WeChat Pay answered something that is not JSON") from exc
            if not isinstance(data, dict):
                raise GatewayError("WeChat Pay answered JSON that is not an object")
            return data
        if status == 429 or status >= 500:
            raise GatewayError(f"WeChat Pay answered HTTP {status}: {_error_message(body)}")
        raise GatewayRejected(
            f"WeChat Pay refused (HTTP {status}): {_error_message(body)}",
            provider_code=_error_code(body),
        )


def parse_trade_bill(text: str) -> list[BillLine]:
    """Lines of a WeChat Pay trade bill (type ALL): a header, one row per payment or refund with
    every field prefixed by a backquote, then the summary header and the summary row."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = rows[0]
    try:
        summary_at = next(i for i, row in enumerate(rows) if row and row[0] == "总交易单数")
    except StopIteration:
        raise GatewayError("the WeChat Pay bill has no summary") from None
    details = [row for row in rows[1:summary_at] if row]
    summary = [value.removeprefix("`") for value in rows[summary_at + 1]]
    if int(summary[0]) != len(details):
        raise GatewayError("the WeChat Pay bill's row count does not match its summary")
    lines = []
    for row in details:
        fields = dict(zip(header, (value.removeprefix("`") for value in row), strict=True))
        occurred_at = _local_time(fields["交易时间"])
        if fields["交易状态"] == "REFUND":
            lines.append(
                BillLine(
                    kind="refund",
                    out_trade_no=fields["商户订单号"],
                    transaction_id=fields["微信订单号"],
                    amount_fen=yuan_to_fen(fields["退款金额"]),
                    occurred_at=occurred_at,
                    out_refund_no=fields["商户退款单号"],
                )
            )
        else:
            lines.append(
                BillLine(
                    kind="payment",
                    out_trade_no=fields["商户订单号"],
                    transaction_id=fields["微信订单号"],
                    amount_fen=yuan_to_fen(fields["应结订单金额"]),
                    occurred_at=occurred_at,
                )
            )
    return lines


def _notification(envelope: dict[str, Any], content: dict[str, Any]) -> Notification:
    event_type = str(envelope.get("event_type", ""))
    event_id = envelope["id"]
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("no notification id")
    raw: dict[str, object] = {
        "id": event_id,
        "create_time": envelope.get("create_time"),
        "event_type": event_type,
        "summary": envelope.get("summary"),
        "resource": content,
    }
    success_time = content.get("success_time")
    occurred_at = _parse_time(success_time) if isinstance(success_time, str) else None
    if event_type == "TRANSACTION.SUCCESS":
        return Notification(
            provider="wechatpay",
            kind="payment",
            event_id=event_id,
            merchant_id=str(content["mchid"]),
            app_id=str(content["appid"]),
            out_trade_no=str(content["out_trade_no"]),
            transaction_id=str(content["transaction_id"]),
            status="paid" if content["trade_state"] == "SUCCESS" else "closed",
            amount_fen=_int(content["amount"], "total"),
            occurred_at=occurred_at,
            raw=raw,
        )
    if event_type in _REFUND_EVENTS:
        return Notification(
            provider="wechatpay",
            kind="refund",
            event_id=event_id,
            merchant_id=str(content["mchid"]),
            app_id="",
            out_trade_no=str(content["out_trade_no"]),
            transaction_id=str(content["transaction_id"]),
            status=_REFUND_EVENTS[event_type],
            amount_fen=_int(content["amount"], "refund"),
            occurred_at=occurred_at,
            out_refund_no=str(content["out_refund_no"]),
            raw=raw,
        )
    raise NotificationRejected("unsupported_event", f"event type {event_type!r}")


def _refund_result(data: dict[str, Any]) -> RefundResult:
    state = _text(data, "status")
    if state not in _REFUND_STATES:
        raise GatewayError(f"WeChat Pay answered an unknown refund status {state!r}")
    amount = data.get("amount")
    return RefundResult(
        out_refund_no=_text(data, "out_refund_no"),
        status=_REFUND_STATES[state],
        refund_id=str(data.get("refund_id", "")),
        amount_fen=_answer_int(amount, "refund") if isinstance(amount, dict) else 0,
    )


def _callback_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names folded to `wechatpay-signature` whether given as HTTP headers
    (`request.headers`) or as WSGI environ keys (`request.META`)."""
    folded = {}
    for name, value in headers.items():
        key = name.lower().replace("_", "-").removeprefix("http-")
        folded[key] = value
    return folded


def _rfc3339(moment: dt.datetime) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds")


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if timezone.is_naive(parsed):
        raise ValueError(f"time without offset: {value!r}")
    return parsed


def _answer_time(value: str) -> dt.datetime:
    try:
        return _parse_time(value)
    except ValueError as exc:
        raise GatewayError(f"WeChat Pay's answer: {exc}") from exc


def _local_time(value: str) -> dt.datetime:
    return timezone.make_aware(dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S"))


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise GatewayError(f"WeChat Pay's answer has no {key}")
    return value


def _int(data: Any, key: str) -> int:
    value = data[key] if isinstance(data, dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} is not an integer")
    return value


def _answer_int(data: Any, key: str) -> int:
    try:
        return _int(data, key)
    except ValueError as exc:
        raise GatewayError(f"WeChat Pay's answer: {exc}") from exc


def _error(body: Any) -> dict[str, Any]:
    try:
        data = json.loads(body) if body else {}
    except (TypeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _error_code(body: Any) -> str:
    return str(_error(body).get("code", ""))


def _error_message(body: Any) -> str:
    return str(_error(body).get("message", "")) or str(body)[:200]
