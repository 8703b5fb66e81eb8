"""The one interface the payment services use to talk to a provider (WeChat Pay, Alipay).

Each gateway wraps the provider's own Python SDK; the settings choose the base URL, so the same code
talks to the real provider or to the in-repo emulator (`provider_emulators`). Gateways do network
I/O only: callers never hold a database transaction while calling them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal, Protocol

ProviderName = Literal["wechatpay", "alipay"]
# wechatpay: "native" (QR code URL) or "jsapi" (prepay id for the WeChat in-app cashier);
# alipay: "precreate" (QR code URL) or "wap" (a URL the phone browser opens).
PayChannel = Literal["native", "jsapi", "precreate", "wap"]


class GatewayError(Exception):
    """The provider could not be reached or answered with a server error: retry later."""


class GatewayRejected(Exception):
    """The provider refused the request (bad parameters, order closed, ...): do not retry."""

    def __init__(self, message: str, *, provider_code: str = "") -> None:
        super().__init__(message)
        self.provider_code = provider_code


# `GatewayRejected.provider_code` when the provider does not know the refund asked about (both
# gateways use it, whatever the provider's own way of saying so).
REFUND_NOT_FOUND = "REFUND_NOT_FOUND"


class NotificationRejected(Exception):
    """An inbound callback failed verification; `code` is stored with the rejected event."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


@dataclass(frozen=True)
class CreatedPayment:
    out_trade_no: str
    channel: PayChannel
    # What the payer opens: a QR code's content (native/precreate), a URL (wap) or the JSAPI
    # parameters serialised as JSON (jsapi).
    pay_url: str


@dataclass(frozen=True)
class PaymentQuery:
    out_trade_no: str
    status: Literal["pending", "paid", "closed", "refunded", "not_found"]
    amount_fen: int = 0
    transaction_id: str = ""
    paid_at: dt.datetime | None = None


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    status: Literal["processing", "succeeded", "failed"]
    refund_id: str = ""
    amount_fen: int = 0


@dataclass(frozen=True)
class BillLine:
    kind: Literal["payment", "refund"]
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    occurred_at: dt.datetime
    out_refund_no: str = ""


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted provider callback, reduced to what the ledger needs."""

    provider: ProviderName
    kind: Literal["payment", "refund"]
    # Unique per provider event (WeChat: the notification id; Alipay: notify_id). Duplicates of the
    # same delivery carry the same id and are stored once.
    event_id: str
    merchant_id: str
    app_id: str
    out_trade_no: str
    transaction_id: str
    # payment: "paid" or "closed"; refund: "succeeded" or "failed"
    status: str
    amount_fen: int
    occurred_at: dt.datetime | None = None
    out_refund_no: str = ""
    raw: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class CallbackReply:
    """What the provider expects back (WeChat reads the HTTP status; Alipay `success`)."""

    status: int
    content_type: str
    body: bytes


class PaymentGateway(Protocol):
    name: ProviderName

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
    ) -> CreatedPayment: ...

    def query_payment(self, *, out_trade_no: str) -> PaymentQuery: ...

    def close_payment(self, *, out_trade_no: str) -> None: ...

    def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str,
        notify_url: str,
    ) -> RefundResult: ...

    def query_refund(self, *, out_trade_no: str, out_refund_no: str) -> RefundResult: ...

    def download_bill(self, *, bill_date: dt.date) -> list[BillLine]: ...

    def parse_notification(self, *, headers: dict[str, str], body: bytes) -> Notification:
        """Verify signature and timestamp on the raw body, then decrypt/parse; else raise
        NotificationRejected. Does not check the order or the amount: the ledger does."""
        ...

    def reply(self, *, accepted: bool) -> CallbackReply: ...
