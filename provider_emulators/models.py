"""What the emulated providers remember: their trades, refunds, callbacks and statements.

These tables stand for the providers' own books, not the platform's: the platform's ledger lives
in `payments`. Amounts are integer fen.
"""

import uuid

from django.db import models
from django.db.models import F, Q


class Provider(models.TextChoices):
    WECHATPAY = "wechatpay", "WeChat Pay"
    ALIPAY = "alipay", "Alipay"


class Channel(models.TextChoices):
    NATIVE = "native", "WeChat Pay Native (QR code)"
    JSAPI = "jsapi", "WeChat Pay JSAPI"
    PRECREATE = "precreate", "Alipay precreate (QR code)"
    WAP = "wap", "Alipay wap pay"


class TradeState(models.TextChoices):
    """WeChat Pay's trade states; Alipay's answers are derived from them."""

    NOTPAY = "NOTPAY", "not paid"
    SUCCESS = "SUCCESS", "paid"
    REFUND = "REFUND", "paid, refunds made"
    CLOSED = "CLOSED", "closed"


class EmulatedTrade(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    # WeChat Pay: mchid; Alipay: the seller's PID.
    merchant_id = models.CharField(max_length=32)
    app_id = models.CharField(max_length=32)
    out_trade_no = models.CharField(max_length=64)
    # WeChat Pay's transaction_id / Alipay's trade_no.
    transaction_id = models.CharField(max_length=32, unique=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    description = models.CharField(max_length=256)
    amount_fen = models.PositiveBigIntegerField()
    refunded_fen = models.PositiveBigIntegerField(default=0)
    state = models.CharField(max_length=16, choices=TradeState.choices, default=TradeState.NOTPAY)
    notify_url = models.CharField(max_length=512, blank=True)
    payer_openid = models.CharField(max_length=128, blank=True)
    buyer_id = models.CharField(max_length=64, blank=True)
    prepay_id = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # An Alipay precreate trade exists for queries only once the payer has scanned the code.
    scanned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "merchant_id", "out_trade_no"],
                name="emulated_trade_unique_out_trade_no",
            ),
            models.CheckConstraint(
                condition=Q(refunded_fen__lte=F("amount_fen")),
                name="emulated_trade_refunds_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(state__in=TradeState.values), name="emulated_trade_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.out_trade_no} {self.state}"


class RefundState(models.TextChoices):
    PROCESSING = "PROCESSING", "processing"
    SUCCESS = "SUCCESS", "succeeded"
    CLOSED = "CLOSED", "closed"
    ABNORMAL = "ABNORMAL", "abnormal"


class EmulatedRefund(models.Model):
    trade = models.ForeignKey(EmulatedTrade, on_delete=models.PROTECT, related_name="refunds")
    out_refund_no = models.CharField(max_length=64)
    refund_id = models.CharField(max_length=32, unique=True)
    amount_fen = models.PositiveBigIntegerField()
    state = models.CharField(
        max_length=16, choices=RefundState.choices, default=RefundState.PROCESSING
    )
    reason = models.CharField(max_length=80, blank=True)
    notify_url = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trade", "out_refund_no"], name="emulated_refund_unique_out_refund_no"
            ),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="emulated_refund_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.out_refund_no} {self.state}"


class CallbackStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENDING = "sending", "sending"
    DELIVERED = "delivered", "delivered"
    GAVE_UP = "gave_up", "gave up"


class EmulatedCallback(models.Model):
    """One notification the provider owes the merchant, delivered on the retry schedule until
    the merchant acknowledges it."""

    provider = models.CharField(max_length=16, choices=Provider.choices)
    trade = models.ForeignKey(EmulatedTrade, on_delete=models.PROTECT, related_name="callbacks")
    refund = models.ForeignKey(
        EmulatedRefund, on_delete=models.PROTECT, null=True, blank=True, related_name="callbacks"
    )
    # WeChat Pay: the notification id; Alipay: notify_id. Every retry carries the same one.
    event_id = models.CharField(max_length=64)
    notify_url = models.CharField(max_length=512)
    # WeChat Pay: {"body": the exact JSON body (resource encrypted, sent as is on every attempt),
    # "resource": the plaintext resource, "associated_data": ...}. Alipay: {"params": the form
    # parameters without notify_time and sign, which every attempt renews}.
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=CallbackStatus.choices, default=CallbackStatus.PENDING
    )
    # Counted when an attempt is claimed (core.outbox), so a sender that died still used one.
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="emulated_callback_unique_event"
            ),
            models.CheckConstraint(
                condition=Q(status__in=CallbackStatus.values),
                name="emulated_callback_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} {self.status}"


class EmulatedCallbackAttempt(models.Model):
    callback = models.ForeignKey(
        EmulatedCallback, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    # A WeChat Pay signature probe (deliberately bad signature) sent before attempt `number`.
    probe = models.BooleanField(default=False)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=200, blank=True)
    accepted = models.BooleanField()

    class Meta:
        ordering = ["callback", "number", "-probe"]

    def __str__(self) -> str:
        return f"{self.callback_id} #{self.number}{' probe' if self.probe else ''}"


class BillAdjustmentAction(models.TextChoices):
    OMIT = "omit", "leave the line out"
    AMEND = "amend", "change the line's amount"
    ADD = "add", "add a line"


class EmulatedBillAdjustment(models.Model):
    """A deliberate difference between what happened and what the day's bill says, for
    reconciliation tests."""

    provider = models.CharField(max_length=16, choices=Provider.choices)
    merchant_id = models.CharField(max_length=32)
    bill_date = models.DateField()
    action = models.CharField(max_length=8, choices=BillAdjustmentAction.choices)
    kind = models.CharField(max_length=8, choices=[("payment", "payment"), ("refund", "refund")])
    out_trade_no = models.CharField(max_length=64)
    out_refund_no = models.CharField(max_length=64, blank=True)
    transaction_id = models.CharField(max_length=32, blank=True)
    amount_fen = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.bill_date} {self.action} {self.out_trade_no}"


class EmulatedBillFile(models.Model):
    """A statement as issued: the download serves exactly these bytes (their hash was given)."""

    token = models.CharField(max_length=64, unique=True)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    merchant_id = models.CharField(max_length=32)
    bill_date = models.DateField()
    content = models.BinaryField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.provider} {self.bill_date}"
