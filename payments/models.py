"""Payment orders, provider payment attempts, the append-only payment ledger, refunds, inbound
provider callbacks, idempotency records, reconciliation reports and the insurance split.

Money is integer fen everywhere. The order's paid, refunded and refund-pending amounts are
derived from the ledger (`PaymentEvent`) and cached on the order under its row lock; check
constraints keep the cached amounts and the status consistent with each other.
"""

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.models import PublicIdModel


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove a ledger row."""


class Provider(models.TextChoices):
    WECHATPAY = "wechatpay", "微信支付 WeChat Pay"
    ALIPAY = "alipay", "支付宝 Alipay"


class PayChannel(models.TextChoices):
    NATIVE = "native", "微信扫码 WeChat Native QR"
    JSAPI = "jsapi", "微信内支付 WeChat JSAPI"
    PRECREATE = "precreate", "支付宝扫码 Alipay QR"
    WAP = "wap", "支付宝手机网站 Alipay wap"


# Which channels each provider offers.
PROVIDER_CHANNELS: dict[str, frozenset[str]] = {
    Provider.WECHATPAY: frozenset({PayChannel.NATIVE, PayChannel.JSAPI}),
    Provider.ALIPAY: frozenset({PayChannel.PRECREATE, PayChannel.WAP}),
}


# --- Orders --------------------------------------------------------------------------------------


class OrderStatus(models.TextChoices):
    CREATED = "created", "待支付 created"
    PENDING = "pending", "支付中 pending"
    PAID = "paid", "已支付 paid"
    CLOSED = "closed", "已关闭 closed"
    FAILED = "failed", "支付失败 failed"
    REFUNDING = "refunding", "退款中 refunding"
    REFUNDED = "refunded", "已退款 refunded"


# The allowed transitions; every order transition goes through one gate that checks this table.
# refunding → paid: every refund in flight settled and part of the money stays paid (a partial
# refund, or a failed one).
TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.CREATED: frozenset({OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.CLOSED}),
    OrderStatus.PENDING: frozenset({OrderStatus.PAID, OrderStatus.CLOSED, OrderStatus.FAILED}),
    OrderStatus.PAID: frozenset({OrderStatus.REFUNDING}),
    OrderStatus.REFUNDING: frozenset({OrderStatus.PAID, OrderStatus.REFUNDED}),
    OrderStatus.CLOSED: frozenset(),
    OrderStatus.FAILED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
}
# Orders that still hold their prescription (and the consultation fee): only one at a time.
UNPAYABLE_FINAL_STATUSES = (OrderStatus.CLOSED, OrderStatus.FAILED)
PAYABLE_STATUSES = (OrderStatus.CREATED, OrderStatus.PENDING)


class FulfilmentMethod(models.TextChoices):
    PICKUP = "pickup", "到店自取 pickup"
    DELIVERY = "delivery", "配送到家 delivery"


class AttentionReason(models.TextChoices):
    LATE_PAYMENT = "late_payment", "关单后到账 payment after the order closed"
    DUPLICATE_PAYMENT = "duplicate_payment", "重复支付 paid twice"
    REFUND_FAILED = "refund_failed", "退款失败 refund failed"
    AMOUNT_MISMATCH = "amount_mismatch", "金额不符 amount differs at the provider"


class PaymentOrder(PublicIdModel):
    """What the patient owes for one prescription version (plus, once per consultation, the
    consultation fee), how they receive it, and what the providers paid and refunded."""

    number = models.CharField(max_length=24, unique=True, help_text="e.g. PO20261126000123")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="payment_orders"
    )
    consultation = models.ForeignKey(
        "consultations.Consultation", on_delete=models.PROTECT, related_name="payment_orders"
    )
    prescription = models.ForeignKey(
        "prescriptions.Prescription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment_orders",
    )
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.CREATED
    )
    carries_consultation_fee = models.BooleanField(default=False)
    pickup_only = models.BooleanField(default=False, help_text="A cold-chain drug is in it")

    # What is owed: lines sum to total; total = fund + personal account + self-pay (payable).
    total_fen = models.PositiveIntegerField(default=0)
    insurance_fund_fen = models.PositiveIntegerField(default=0)
    insurance_personal_fen = models.PositiveIntegerField(default=0)
    payable_fen = models.PositiveIntegerField(
        default=0, help_text="Self-pay: what the provider takes"
    )

    # Cached from the ledger under the order's row lock.
    paid_fen = models.PositiveIntegerField(default=0, help_text="Every payment received")
    refunded_fen = models.PositiveIntegerField(default=0)
    refund_pending_fen = models.PositiveIntegerField(default=0, help_text="Requested, unsettled")

    fulfilment_method = models.CharField(
        max_length=16, choices=FulfilmentMethod.choices, blank=True
    )
    pickup_facility = models.ForeignKey(
        "clinics.Facility", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The delivery address as the patient gave it (a snapshot, not a link to an address book).
    delivery_recipient = models.CharField(max_length=100, blank=True)
    delivery_phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    delivery_province = models.CharField(max_length=32, blank=True)
    delivery_city = models.CharField(max_length=32, blank=True)
    delivery_district = models.CharField(max_length=32, blank=True)
    delivery_detail = models.CharField(max_length=200, blank=True)
    fulfilment_chosen_at = models.DateTimeField(null=True, blank=True)

    expires_at = models.DateTimeField(help_text="Unpaid, it closes then (at the provider too)")
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=64, blank=True)
    # Money that needs a person: a payment after close, a second payment, a failed refund.
    needs_attention = models.BooleanField(default=False)
    attention_reason = models.CharField(max_length=32, choices=AttentionReason.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="payment_order_expiry_idx"),
            models.Index(fields=["patient", "-created_at"], name="payment_order_patient_idx"),
            models.Index(fields=["consultation"], name="payment_order_consult_idx"),
            models.Index(
                fields=["needs_attention"],
                condition=Q(needs_attention=True),
                name="payment_order_attention_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=OrderStatus.values), name="payment_order_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(
                    total_fen=F("payable_fen")
                    + F("insurance_fund_fen")
                    + F("insurance_personal_fen")
                ),
                name="payment_order_split_sums_to_total",
            ),
            # Never more refunded (or on its way back) than was received.
            models.CheckConstraint(
                condition=Q(paid_fen__gte=F("refunded_fen") + F("refund_pending_fen")),
                name="payment_order_refunds_within_paid",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=PAYABLE_STATUSES)
                | Q(paid_fen=0, refunded_fen=0, refund_pending_fen=0),
                name="payment_order_unpaid_has_no_money",
            ),
            models.CheckConstraint(
                condition=~Q(status=OrderStatus.PAID)
                | Q(
                    paid_at__isnull=False,
                    paid_fen__gte=F("payable_fen"),
                    refund_pending_fen=0,
                )
                & (Q(paid_fen__gt=F("refunded_fen")) | Q(paid_fen=0)),
                name="payment_order_paid_consistent",
            ),
            models.CheckConstraint(
                condition=~Q(status=OrderStatus.REFUNDING) | Q(refund_pending_fen__gt=0),
                name="payment_order_refunding_has_pending",
            ),
            models.CheckConstraint(
                condition=~Q(status=OrderStatus.REFUNDED)
                | Q(refunded_fen=F("paid_fen"), refund_pending_fen=0, paid_at__isnull=False),
                name="payment_order_refunded_consistent",
            ),
            models.CheckConstraint(
                condition=Q(fulfilment_method="")
                | Q(fulfilment_method=FulfilmentMethod.PICKUP, pickup_facility__isnull=False)
                | (
                    Q(fulfilment_method=FulfilmentMethod.DELIVERY, pickup_only=False)
                    & ~Q(delivery_recipient="")
                    & ~Q(delivery_phone="")
                    & ~Q(delivery_province="")
                    & ~Q(delivery_city="")
                    & ~Q(delivery_district="")
                    & ~Q(delivery_detail="")
                ),
                name="payment_order_fulfilment_complete",
            ),
            # One live order per prescription version; closed or failed ones make way.
            models.UniqueConstraint(
                fields=["prescription"],
                condition=Q(prescription__isnull=False) & ~Q(status__in=UNPAYABLE_FINAL_STATUSES),
                name="payment_order_one_live_per_prescription",
            ),
            # The consultation fee is charged once per consultation.
            models.UniqueConstraint(
                fields=["consultation"],
                condition=Q(carries_consultation_fee=True)
                & ~Q(status__in=UNPAYABLE_FINAL_STATUSES),
                name="payment_order_consultation_fee_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.status})"


class OrderNumberCounter(models.Model):
    """Per-day sequence for order numbers, bumped with F() under the row lock."""

    date = models.DateField(unique=True)
    last_value = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.date}: {self.last_value}"


class OrderLineKind(models.TextChoices):
    CONSULTATION_FEE = "consultation_fee", "诊查费 consultation fee"
    DRUG = "drug", "药品 drug"
    DELIVERY_FEE = "delivery_fee", "配送费 delivery fee"


# What medical insurance may cover (never the delivery fee).
INSURABLE_LINE_KINDS = (OrderLineKind.CONSULTATION_FEE, OrderLineKind.DRUG)


class OrderLine(models.Model):
    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="lines")
    kind = models.CharField(max_length=24, choices=OrderLineKind.choices)
    prescription_item = models.ForeignKey(
        "prescriptions.PrescriptionItem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    unit_price_fen = models.PositiveIntegerField()
    amount_fen = models.PositiveIntegerField()

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=OrderLineKind.values), name="order_line_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(amount_fen=F("quantity") * F("unit_price_fen")),
                name="order_line_amount_is_quantity_times_price",
            ),
            models.CheckConstraint(
                condition=Q(kind=OrderLineKind.DRUG, prescription_item__isnull=False)
                | (~Q(kind=OrderLineKind.DRUG) & Q(prescription_item__isnull=True)),
                name="order_line_drug_has_item",
            ),
            models.UniqueConstraint(
                fields=["order", "prescription_item"],
                condition=Q(prescription_item__isnull=False),
                name="order_line_item_once",
            ),
            models.UniqueConstraint(
                fields=["order", "kind"],
                condition=~Q(kind=OrderLineKind.DRUG),
                name="order_line_fee_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {self.amount_fen}"


class OrderEvent(models.Model):
    """One status transition of an order: from, to, who, why, when."""

    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_role = models.CharField(max_length=32)
    reason = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status or '∅'} → {self.to_status}"


# --- Provider payment attempts -------------------------------------------------------------------


class AttemptStatus(models.TextChoices):
    CREATING = "creating", "下单中 creating"  # the provider has not confirmed the order yet
    OPEN = "open", "待支付 open"
    PAID = "paid", "已支付 paid"
    CLOSED = "closed", "已关闭 closed"
    FAILED = "failed", "下单失败 failed"


LIVE_ATTEMPT_STATUSES = (AttemptStatus.CREATING, AttemptStatus.OPEN)


class PaymentAttempt(models.Model):
    """One provider order (out_trade_no) issued for a payment order."""

    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="attempts")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    channel = models.CharField(max_length=16, choices=PayChannel.choices)
    out_trade_no = models.CharField(max_length=32, unique=True)
    amount_fen = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.CREATING
    )
    pay_url = models.TextField(blank=True)
    transaction_id = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField()
    provider_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_queried_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"], name="payment_attempt_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=AttemptStatus.values), name="payment_attempt_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(provider__in=Provider.values), name="payment_attempt_provider_valid"
            ),
            models.CheckConstraint(
                condition=Q(amount_fen__gt=0), name="payment_attempt_amount_positive"
            ),
            # One live provider order per order, provider and channel: a repeated "pay" reuses it.
            models.UniqueConstraint(
                fields=["order", "provider", "channel"],
                condition=Q(status__in=LIVE_ATTEMPT_STATUSES),
                name="payment_attempt_one_live_per_channel",
            ),
            models.CheckConstraint(
                condition=~Q(status=AttemptStatus.PAID) | ~Q(transaction_id=""),
                name="payment_attempt_paid_has_transaction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.out_trade_no} {self.provider} ({self.status})"


# --- Refunds -------------------------------------------------------------------------------------


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "待提交 requested"
    PROCESSING = "processing", "处理中 processing"
    SUCCEEDED = "succeeded", "已退款 succeeded"
    FAILED = "failed", "退款失败 failed"


REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    RefundStatus.REQUESTED: frozenset(
        {RefundStatus.PROCESSING, RefundStatus.SUCCEEDED, RefundStatus.FAILED}
    ),
    RefundStatus.PROCESSING: frozenset({RefundStatus.SUCCEEDED, RefundStatus.FAILED}),
    RefundStatus.SUCCEEDED: frozenset(),
    RefundStatus.FAILED: frozenset(),
}
UNSETTLED_REFUND_STATUSES = (RefundStatus.REQUESTED, RefundStatus.PROCESSING)


class RefundTrigger(models.TextChoices):
    OPERATIONS = "operations", "运营退款 operations"
    CONSULTATION_TERMINATED = "consultation_terminated", "问诊终止 consultation terminated"
    PRESCRIPTION_WITHDRAWN = "prescription_withdrawn", "处方驳回或撤销 prescription withdrawn"
    DELIVERY_FAILED = "delivery_failed", "配送失败 delivery failed"
    LATE_PAYMENT = "late_payment", "关单后到账 payment after close"
    DUPLICATE_PAYMENT = "duplicate_payment", "重复支付 duplicate payment"


class Refund(models.Model):
    """Money sent back against one provider payment; idempotent per out_refund_no."""

    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="refunds")
    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="refunds")
    out_refund_no = models.CharField(max_length=64, unique=True)
    amount_fen = models.PositiveIntegerField()
    reason = models.CharField(max_length=200)
    trigger = models.CharField(max_length=32, choices=RefundTrigger.choices)
    # Names the cause, so the same cause refunds once ("consultation_terminated",
    # "late_payment:<out_trade_no>", "operations:<idempotency key>", ...).
    trigger_key = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.REQUESTED
    )
    provider_refund_id = models.CharField(max_length=64, blank=True)
    provider_error = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submissions = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    last_queried_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"], name="refund_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RefundStatus.values), name="refund_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(trigger__in=RefundTrigger.values), name="refund_trigger_valid"
            ),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_amount_positive"),
            models.UniqueConstraint(fields=["order", "trigger_key"], name="refund_cause_once"),
        ]

    def __str__(self) -> str:
        return f"{self.out_refund_no} {self.amount_fen} ({self.status})"


# --- The ledger ----------------------------------------------------------------------------------


class LedgerKind(models.TextChoices):
    PAYMENT_REQUESTED = "payment_requested", "发起支付 payment requested"
    PAID = "paid", "支付成功 paid"
    LATE_PAYMENT_DETECTED = "late_payment_detected", "关单后或重复到账 late payment"
    CLOSED = "closed", "关闭 closed"
    REFUND_REQUESTED = "refund_requested", "申请退款 refund requested"
    REFUND_SUCCEEDED = "refund_succeeded", "退款成功 refund succeeded"
    REFUND_FAILED = "refund_failed", "退款失败 refund failed"


# Kinds that bring money in (both count towards what was received and may be refunded).
RECEIPT_KINDS = (LedgerKind.PAID, LedgerKind.LATE_PAYMENT_DETECTED)


class LedgerSource(models.TextChoices):
    CALLBACK = "callback", "provider callback"
    QUERY = "query", "provider query"
    PROVIDER_REPLY = "provider_reply", "provider's reply to a request"
    SERVICE = "service", "platform"


class PaymentEventQuerySet(models.QuerySet["PaymentEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("The payment ledger is append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("The payment ledger is append-only.")


class PaymentEvent(models.Model):
    """The append-only payment ledger: one row per money effect, each at most once.

    `dedupe_key` names the effect ("receipt:wechatpay:<out_trade_no>", "refund_settled:<no>", ...)
    and is UNIQUE, as is (provider, transaction_id, kind): a duplicate, concurrent or replayed
    callback cannot record an effect twice. Database triggers refuse UPDATE and DELETE.
    """

    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="ledger")
    attempt = models.ForeignKey(
        PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    refund = models.ForeignKey(
        Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    callback = models.ForeignKey(
        "InboundCallback", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    kind = models.CharField(max_length=24, choices=LedgerKind.choices)
    provider = models.CharField(max_length=16, blank=True)
    out_trade_no = models.CharField(max_length=32, blank=True)
    transaction_id = models.CharField(max_length=64, blank=True)
    out_refund_no = models.CharField(max_length=64, blank=True)
    amount_fen = models.PositiveIntegerField()
    source = models.CharField(max_length=16, choices=LedgerSource.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dedupe_key = models.CharField(max_length=160, unique=True)
    occurred_at = models.DateTimeField(help_text="When it happened at the provider, if known")
    recorded_at = models.DateTimeField(auto_now_add=True)
    detail = models.JSONField(default=dict, blank=True)

    objects: ClassVar[PaymentEventQuerySet] = PaymentEventQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["recorded_at", "id"]
        indexes = [
            models.Index(fields=["order", "kind"], name="payment_event_order_idx"),
            models.Index(fields=["provider", "occurred_at"], name="payment_event_day_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=LedgerKind.values), name="payment_event_kind_valid"
            ),
            models.UniqueConstraint(
                fields=["provider", "transaction_id", "kind"],
                condition=~Q(transaction_id=""),
                name="payment_event_transaction_effect_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_fen} ({self.dedupe_key})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("The payment ledger is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("The payment ledger is append-only.")


# --- Inbound callbacks ---------------------------------------------------------------------------


class CallbackOutcome(models.TextChoices):
    RECEIVED = "received", "已接收 received"
    ACCEPTED = "accepted", "已受理 accepted"
    REJECTED = "rejected", "已拒绝 rejected"


class InboundCallback(models.Model):
    """A provider callback exactly as it arrived, stored before it is applied.

    Verified callbacks carry the provider's event id (unique per provider: a redelivery finds the
    first row and its outcome). Callbacks that fail verification are stored without an id — an
    unverified id proves nothing and must not shadow the genuine event.
    """

    provider = models.CharField(max_length=16, choices=Provider.choices)
    event_id = models.CharField(max_length=128, blank=True)
    kind = models.CharField(max_length=16, blank=True, help_text="payment or refund, once verified")
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(
        max_length=16, choices=CallbackOutcome.choices, default=CallbackOutcome.RECEIVED
    )
    reject_code = models.CharField(max_length=64, blank=True)
    out_trade_no = models.CharField(max_length=32, blank=True)
    out_refund_no = models.CharField(max_length=64, blank=True)
    order = models.ForeignKey(
        PaymentOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="callbacks"
    )
    deliveries = models.PositiveIntegerField(default=1, help_text="Copies of this event received")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["outcome", "received_at"], name="callback_outcome_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=CallbackOutcome.values), name="callback_outcome_valid"
            ),
            models.UniqueConstraint(
                fields=["provider", "event_id"],
                condition=~Q(event_id=""),
                name="callback_event_once",
            ),
            models.CheckConstraint(
                condition=~Q(outcome=CallbackOutcome.REJECTED) | ~Q(reject_code=""),
                name="callback_rejected_has_code",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id or '(unverified)'} ({self.outcome})"


# --- Idempotency-Key -----------------------------------------------------------------------------


class IdempotencyRecord(models.Model):
    """The first response to a money-moving POST under one (user, Idempotency-Key)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


# --- Medical insurance (mocked e-voucher) --------------------------------------------------------


class InsuranceVoucher(models.Model):
    """A patient's medical-insurance e-voucher (医保电子凭证), mocked: insurer, member id and the
    personal account (个人账户) balance."""

    patient = models.OneToOneField(
        "patients.Patient", on_delete=models.PROTECT, related_name="insurance_voucher"
    )
    insurer = models.CharField(max_length=100, help_text="e.g. 广州市医疗保障局")
    member_id_encrypted = models.TextField(editable=False)
    member_id_masked = models.CharField(max_length=32, editable=False)
    personal_account_balance_fen = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.insurer} {self.member_id_masked}"


class SettlementStatus(models.TextChoices):
    RESERVED = "reserved", "已预留 reserved"  # the personal account is debited, awaiting payment
    SETTLED = "settled", "已结算 settled"
    RELEASED = "released", "已释放 released"  # the order closed unpaid
    REVERSED = "reversed", "已冲正 reversed"  # the order was refunded in full


class InsuranceSettlement(models.Model):
    """The insured parts of an order: what the fund and the personal account pay."""

    order = models.OneToOneField(
        PaymentOrder, on_delete=models.PROTECT, related_name="insurance_settlement"
    )
    voucher = models.ForeignKey(
        InsuranceVoucher, on_delete=models.PROTECT, related_name="settlements"
    )
    fund_fen = models.PositiveIntegerField()
    personal_account_fen = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=SettlementStatus.choices, default=SettlementStatus.RESERVED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SettlementStatus.values), name="settlement_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} fund {self.fund_fen} personal {self.personal_account_fen}"


# --- Reconciliation ------------------------------------------------------------------------------


class ReconciliationStatus(models.TextChoices):
    COMPLETED = "completed", "完成 completed"
    FAILED = "failed", "失败 failed"


class ReconciliationReport(PublicIdModel):
    """One provider's statement for one day compared with the ledger (the latest run)."""

    provider = models.CharField(max_length=16, choices=Provider.choices)
    bill_date = models.DateField()
    status = models.CharField(max_length=16, choices=ReconciliationStatus.choices)
    provider_lines = models.PositiveIntegerField(default=0)
    ledger_lines = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    missing_locally = models.PositiveIntegerField(default=0)
    missing_at_provider = models.PositiveIntegerField(default=0)
    amount_mismatch = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    runs = models.PositiveIntegerField(default=1)
    ran_at = models.DateTimeField()

    class Meta:
        ordering = ["-bill_date", "provider"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "bill_date"], name="reconciliation_one_per_day"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReconciliationStatus.values),
                name="reconciliation_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.bill_date} ({self.status})"


class DiscrepancyKind(models.TextChoices):
    MISSING_LOCALLY = "missing_locally", "本地缺失 missing locally"
    MISSING_AT_PROVIDER = "missing_at_provider", "渠道缺失 missing at the provider"
    AMOUNT_MISMATCH = "amount_mismatch", "金额不符 amount mismatch"


class ReconciliationDiscrepancy(models.Model):
    report = models.ForeignKey(
        ReconciliationReport, on_delete=models.CASCADE, related_name="discrepancies"
    )
    kind = models.CharField(max_length=24, choices=DiscrepancyKind.choices)
    line_kind = models.CharField(max_length=16, help_text="payment or refund")
    out_trade_no = models.CharField(max_length=64, blank=True)
    out_refund_no = models.CharField(max_length=64, blank=True)
    transaction_id = models.CharField(max_length=64, blank=True)
    provider_amount_fen = models.PositiveIntegerField(null=True, blank=True)
    ledger_amount_fen = models.PositiveIntegerField(null=True, blank=True)
    order = models.ForeignKey(
        PaymentOrder, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["report", "kind", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=DiscrepancyKind.values), name="discrepancy_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.out_refund_no or self.out_trade_no}"
