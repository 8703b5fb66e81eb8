from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pharmacy.models import (
    ADJUSTMENT_REASONS,
    Dispense,
    FacilityStock,
    Fulfilment,
    FulfilmentEvent,
    StockMovement,
    TrackingEvent,
    Waybill,
)
from pharmacy.pickup_codes import CODE_DIGITS, pickup_token, qr_payload


class PlaceSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    code = serializers.CharField()
    name = serializers.CharField()


class PrescriptionBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    number = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()


class PickupSerializer(serializers.Serializer):
    """The patient's own view: the code to read out and the QR payload to show."""

    code = serializers.CharField(source="pickup_code")
    expires_at = serializers.DateTimeField(source="pickup_code_expires_at")
    qr_payload = serializers.SerializerMethodField()

    def get_qr_payload(self, fulfilment: Fulfilment) -> str:
        assert fulfilment.pickup_code_expires_at is not None
        return qr_payload(
            pickup_token(
                fulfilment_public_id=fulfilment.public_id,
                code=fulfilment.pickup_code,
                expires_at=fulfilment.pickup_code_expires_at,
            )
        )


class DeliveryAddressSerializer(serializers.Serializer):
    recipient_name = serializers.CharField()
    recipient_phone = serializers.CharField()
    province = serializers.CharField()
    city = serializers.CharField()
    district = serializers.CharField()
    detail = serializers.CharField(source="address_detail")


class TrackingEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrackingEvent
        fields = ["status", "occurred_at", "location", "description", "applied"]
        read_only_fields = fields


class WaybillSerializer(serializers.ModelSerializer):
    tracking = serializers.SerializerMethodField()

    class Meta:
        model = Waybill
        fields = [
            "courier",
            "attempt",
            "waybill_number",
            "status",
            "signer_name",
            "proof_photo",
            "failure_reason",
            "created_at",
            "delivered_at",
            "failed_at",
            "tracking",
        ]
        read_only_fields = fields

    @extend_schema_field(TrackingEventSerializer(many=True))
    def get_tracking(self, waybill: Waybill) -> Any:
        reports = getattr(waybill, "reports", None)
        if reports is None:
            reports = list(waybill.events.order_by("occurred_at", "pk"))
        return TrackingEventSerializer(reports, many=True).data


class TimelineEntrySerializer(serializers.ModelSerializer):
    location = serializers.CharField(source="tracking_event.location", default="")

    class Meta:
        model = FulfilmentEvent
        fields = ["from_status", "to_status", "occurred_at", "actor_role", "reason", "location"]
        read_only_fields = fields


class DispenseItemSerializer(serializers.Serializer):
    drug_code = serializers.CharField(source="drug.code")
    drug_name = serializers.CharField(source="drug.name_zh")
    strength = serializers.CharField(source="drug.strength")
    quantity = serializers.IntegerField()


class DispenseSerializer(serializers.ModelSerializer):
    facility = PlaceSerializer(allow_null=True)
    items = DispenseItemSerializer(many=True)

    class Meta:
        model = Dispense
        fields = ["dispensed_at", "actor_role", "facility", "items"]
        read_only_fields = fields


class FulfilmentOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    order = serializers.UUIDField(source="order.public_id", read_only=True)
    prescription = PrescriptionBriefSerializer(read_only=True)
    facility = PlaceSerializer(read_only=True)

    class Meta:
        model = Fulfilment
        fields = [
            "id",
            "method",
            "status",
            "order",
            "prescription",
            "facility",
            "paid_at",
            "ready_at",
            "picked_up_at",
            "dispatched_at",
            "delivered_at",
            "failed_at",
            "failure_reason",
            "returned_at",
            "delivery_attempts",
        ]
        read_only_fields = fields


class FulfilmentDetailSerializer(FulfilmentOutputSerializer):
    """One fulfilment with its timeline. The pickup code and QR payload are shown to the
    patient only (context `show_pickup_code`), while the medicine waits: staff scan what the
    patient shows them."""

    pickup = serializers.SerializerMethodField()
    delivery_address = serializers.SerializerMethodField()
    waybills = WaybillSerializer(many=True, read_only=True)
    timeline = TimelineEntrySerializer(many=True, read_only=True, source="events")
    dispense = serializers.SerializerMethodField()

    class Meta(FulfilmentOutputSerializer.Meta):
        fields = [
            *FulfilmentOutputSerializer.Meta.fields,
            "pickup",
            "delivery_address",
            "waybills",
            "timeline",
            "dispense",
        ]
        read_only_fields = fields

    @extend_schema_field(PickupSerializer(allow_null=True))
    def get_pickup(self, fulfilment: Fulfilment) -> Any:
        if not self.context.get("show_pickup_code") or fulfilment.status != "ready_for_pickup":
            return None
        return PickupSerializer(fulfilment).data

    @extend_schema_field(DeliveryAddressSerializer(allow_null=True))
    def get_delivery_address(self, fulfilment: Fulfilment) -> Any:
        if fulfilment.method != "delivery":
            return None
        return DeliveryAddressSerializer(fulfilment).data

    @extend_schema_field(DispenseSerializer(allow_null=True))
    def get_dispense(self, fulfilment: Fulfilment) -> Any:
        dispense = getattr(fulfilment, "dispense", None)
        return DispenseSerializer(dispense).data if dispense is not None else None


class PickupInputSerializer(serializers.Serializer):
    code = serializers.RegexField(
        rf"^\d{{{CODE_DIGITS}}}$", required=False, help_text="The 8-digit pickup code"
    )
    token = serializers.CharField(
        required=False, max_length=500, help_text="What the patient's QR code encodes"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("code")) == bool(attrs.get("token")):
            raise serializers.ValidationError("Give either the code or the QR token.")
        return attrs


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class StockOutputSerializer(serializers.ModelSerializer):
    facility = PlaceSerializer(read_only=True)
    drug_code = serializers.CharField(source="drug.code", read_only=True)
    drug_name = serializers.CharField(source="drug.name_zh", read_only=True)
    strength = serializers.CharField(source="drug.strength", read_only=True)
    pack_unit = serializers.CharField(source="drug.pack_unit", read_only=True)

    class Meta:
        model = FacilityStock
        fields = [
            "facility",
            "drug_code",
            "drug_name",
            "strength",
            "pack_unit",
            "quantity",
            "updated_at",
        ]
        read_only_fields = fields


class StockAdjustInputSerializer(serializers.Serializer):
    facility = serializers.UUIDField(required=False, help_text="Operations: which facility")
    drug = serializers.CharField(max_length=40, help_text="Formulary code")
    change = serializers.IntegerField(min_value=-100000, max_value=100000)
    reason = serializers.ChoiceField(choices=sorted(ADJUSTMENT_REASONS))
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class StockMovementSerializer(serializers.ModelSerializer):
    facility = PlaceSerializer(read_only=True)
    drug_code = serializers.CharField(source="drug.code", read_only=True)
    actor = serializers.CharField(source="actor.username", default="", read_only=True)

    class Meta:
        model = StockMovement
        fields = [
            "facility",
            "drug_code",
            "change",
            "quantity_after",
            "reason",
            "note",
            "actor",
            "actor_role",
            "occurred_at",
        ]
        read_only_fields = fields


class CourierNotifyResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=["applied", "recorded", "duplicate"])
