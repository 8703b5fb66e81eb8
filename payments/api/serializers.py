from typing import Any

from rest_framework import serializers

from payments.models import (
    FulfilmentMethod,
    OrderLine,
    PayChannel,
    PaymentAttempt,
    PaymentEvent,
    PaymentOrder,
    Provider,
    ReconciliationDiscrepancy,
    ReconciliationReport,
    Refund,
)
from payments.selectors import order_payment_url


class OrderLineSerializer(serializers.ModelSerializer[OrderLine]):
    class Meta:
        model = OrderLine
        fields = ["kind", "description", "quantity", "unit_price_fen", "amount_fen"]


class DeliveryAddressSerializer(serializers.Serializer[Any]):
    recipient = serializers.CharField(max_length=100)
    phone = serializers.CharField(max_length=32)
    province = serializers.CharField(max_length=32)
    city = serializers.CharField(max_length=32)
    district = serializers.CharField(max_length=32)
    detail = serializers.CharField(max_length=200)


class PickupFacilitySerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField()
    province = serializers.CharField()
    city = serializers.CharField()
    district = serializers.CharField()
    address_detail = serializers.CharField()


class FulfilmentSerializer(serializers.Serializer[Any]):
    method = serializers.CharField(source="fulfilment_method")
    pickup_only = serializers.BooleanField()
    pickup_facility = PickupFacilitySerializer(allow_null=True)
    delivery_address = serializers.SerializerMethodField()
    chosen_at = serializers.DateTimeField(source="fulfilment_chosen_at", allow_null=True)

    def get_delivery_address(self, order: PaymentOrder) -> dict[str, str] | None:
        if order.fulfilment_method != FulfilmentMethod.DELIVERY:
            return None
        return {
            "recipient": order.delivery_recipient,
            "phone": order.delivery_phone,
            "province": order.delivery_province,
            "city": order.delivery_city,
            "district": order.delivery_district,
            "detail": order.delivery_detail,
        }


class OrderOutputSerializer(serializers.ModelSerializer[PaymentOrder]):
    id = serializers.UUIDField(source="public_id")
    patient = serializers.UUIDField(source="patient.public_id")
    patient_name = serializers.CharField(source="patient.name")
    consultation = serializers.UUIDField(source="consultation.public_id")
    facility_name = serializers.CharField(source="consultation.facility.name")
    prescription = serializers.UUIDField(source="prescription.public_id", allow_null=True)
    prescription_number = serializers.CharField(source="prescription.number", allow_null=True)
    fulfilment = FulfilmentSerializer(source="*")
    payment_url = serializers.SerializerMethodField()

    class Meta:
        model = PaymentOrder
        fields = [
            "id",
            "number",
            "status",
            "patient",
            "patient_name",
            "consultation",
            "facility_name",
            "prescription",
            "prescription_number",
            "carries_consultation_fee",
            "total_fen",
            "insurance_fund_fen",
            "insurance_personal_fen",
            "payable_fen",
            "paid_fen",
            "refunded_fen",
            "refund_pending_fen",
            "fulfilment",
            "payment_url",
            "expires_at",
            "paid_at",
            "closed_at",
            "close_reason",
            "needs_attention",
            "attention_reason",
            "created_at",
        ]

    def get_payment_url(self, order: PaymentOrder) -> str:
        return order_payment_url(order)


class AttemptSerializer(serializers.ModelSerializer[PaymentAttempt]):
    class Meta:
        model = PaymentAttempt
        fields = [
            "provider",
            "channel",
            "out_trade_no",
            "status",
            "amount_fen",
            "transaction_id",
            "expires_at",
            "created_at",
            "paid_at",
            "closed_at",
        ]


class RefundSerializer(serializers.ModelSerializer[Refund]):
    order = serializers.UUIDField(source="order.public_id")
    out_trade_no = serializers.CharField(source="attempt.out_trade_no")

    class Meta:
        model = Refund
        fields = [
            "out_refund_no",
            "order",
            "out_trade_no",
            "amount_fen",
            "status",
            "trigger",
            "reason",
            "created_at",
            "settled_at",
        ]


class LedgerEntrySerializer(serializers.ModelSerializer[PaymentEvent]):
    class Meta:
        model = PaymentEvent
        fields = [
            "kind",
            "provider",
            "out_trade_no",
            "transaction_id",
            "out_refund_no",
            "amount_fen",
            "source",
            "occurred_at",
            "recorded_at",
        ]


class OrderDetailSerializer(OrderOutputSerializer):
    lines = OrderLineSerializer(many=True)
    attempts = AttemptSerializer(many=True)
    refunds = RefundSerializer(many=True)

    class Meta(OrderOutputSerializer.Meta):
        fields = [*OrderOutputSerializer.Meta.fields, "lines", "attempts", "refunds"]


class FulfilmentInputSerializer(serializers.Serializer[Any]):
    method = serializers.ChoiceField(choices=FulfilmentMethod.choices)
    delivery_address = DeliveryAddressSerializer(required=False)
    use_insurance = serializers.BooleanField(default=True)


class PayInputSerializer(serializers.Serializer[Any]):
    provider = serializers.ChoiceField(choices=Provider.choices)
    channel = serializers.ChoiceField(choices=PayChannel.choices)
    payer_openid = serializers.CharField(
        max_length=128, required=False, default="", allow_blank=True
    )


class PaymentSerializer(serializers.Serializer[Any]):
    provider = serializers.CharField()
    channel = serializers.CharField()
    out_trade_no = serializers.CharField()
    amount_fen = serializers.IntegerField()
    pay_url = serializers.CharField(
        help_text="QR content (native/precreate), URL (wap) or JSAPI JSON"
    )
    expires_at = serializers.DateTimeField()


class PayOutputSerializer(serializers.Serializer[Any]):
    order = OrderOutputSerializer()
    payment = PaymentSerializer(allow_null=True, help_text="null: insurance covered the order")


class RefundInputSerializer(serializers.Serializer[Any]):
    amount_fen = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=200)


class DiscrepancySerializer(serializers.ModelSerializer[ReconciliationDiscrepancy]):
    order = serializers.UUIDField(source="order.public_id", allow_null=True)

    class Meta:
        model = ReconciliationDiscrepancy
        fields = [
            "kind",
            "line_kind",
            "out_trade_no",
            "out_refund_no",
            "transaction_id",
            "provider_amount_fen",
            "ledger_amount_fen",
            "order",
        ]


class ReconciliationSerializer(serializers.ModelSerializer[ReconciliationReport]):
    id = serializers.UUIDField(source="public_id")

    class Meta:
        model = ReconciliationReport
        fields = [
            "id",
            "provider",
            "bill_date",
            "status",
            "provider_lines",
            "ledger_lines",
            "matched",
            "missing_locally",
            "missing_at_provider",
            "amount_mismatch",
            "error",
            "runs",
            "ran_at",
        ]


class ReconciliationDetailSerializer(ReconciliationSerializer):
    discrepancies = DiscrepancySerializer(many=True)

    class Meta(ReconciliationSerializer.Meta):
        fields = [*ReconciliationSerializer.Meta.fields, "discrepancies"]


class ReconciliationRunSerializer(serializers.Serializer[Any]):
    provider = serializers.ChoiceField(choices=Provider.choices)
    date = serializers.DateField()
