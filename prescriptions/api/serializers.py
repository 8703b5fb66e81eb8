from decimal import Decimal
from typing import Any

from rest_framework import serializers

from prescriptions.models import (
    Drug,
    Frequency,
    Prescription,
    PrescriptionItem,
    PrescriptionWarning,
    RejectionReason,
    Route,
)
from prescriptions.rules import DraftSpec, ItemSpec


class DrugSerializer(serializers.ModelSerializer[Drug]):
    class Meta:
        model = Drug
        fields = [
            "code",
            "name_zh",
            "name_en",
            "atc_code",
            "dosage_form",
            "strength",
            "dose_unit",
            "strength_per_unit",
            "units_per_pack",
            "pack_unit",
            "price_fen",
            "control_class",
            "online_prescribable",
            "cold_chain",
            "long_term_eligible",
            "max_daily_dose",
            "default_route",
            "allergy_classes",
        ]


class ItemInputSerializer(serializers.Serializer[Any]):
    drug = serializers.CharField(max_length=40, help_text="Formulary code")
    dose = serializers.DecimalField(max_digits=10, decimal_places=3, min_value=Decimal("0.001"))
    frequency = serializers.ChoiceField(choices=Frequency.choices)
    route = serializers.ChoiceField(choices=Route.choices)
    days_supply = serializers.IntegerField(min_value=1, max_value=365)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000, required=False)
    instructions = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True
    )


class PrescriptionInputSerializer(serializers.Serializer[Any]):
    consultation = serializers.UUIDField(required=False)
    diagnosis = serializers.CharField(max_length=16, help_text="ICD-10 code")
    items = ItemInputSerializer(many=True, allow_empty=True)
    supply_reason = serializers.CharField(
        max_length=300, required=False, default="", allow_blank=True
    )
    long_term = serializers.BooleanField(required=False, default=False)
    long_term_assessment = serializers.CharField(
        max_length=2000, required=False, default="", allow_blank=True
    )
    long_term_patient_confirmed = serializers.BooleanField(required=False, default=False)
    validity_days = serializers.IntegerField(required=False, default=1, min_value=1, max_value=30)
    validity_reason = serializers.CharField(
        max_length=300, required=False, default="", allow_blank=True
    )

    def spec(self, drugs: dict[str, Drug]) -> DraftSpec:
        data = self.validated_data
        return DraftSpec(
            items=[
                ItemSpec(
                    drug=drugs[item["drug"]],
                    dose=item["dose"],
                    frequency=item["frequency"],
                    route=item["route"],
                    days_supply=item["days_supply"],
                    quantity=item.get("quantity"),
                    instructions=item["instructions"],
                )
                for item in data["items"]
            ],
            supply_reason=data["supply_reason"],
            long_term=data["long_term"],
            long_term_assessment=data["long_term_assessment"],
            long_term_patient_confirmed=data["long_term_patient_confirmed"],
            validity_days=data["validity_days"],
            validity_reason=data["validity_reason"],
        )


class ItemSerializer(serializers.ModelSerializer[PrescriptionItem]):
    drug = DrugSerializer()

    class Meta:
        model = PrescriptionItem
        fields = [
            "position",
            "drug",
            "dose",
            "dose_unit",
            "frequency",
            "route",
            "days_supply",
            "quantity",
            "instructions",
            "unit_price_fen",
        ]


class WarningSerializer(serializers.ModelSerializer[PrescriptionWarning]):
    class Meta:
        model = PrescriptionWarning
        fields = ["id", "kind", "message", "acknowledged_reason", "acknowledged_at"]


class PrescriptionSerializer(serializers.ModelSerializer[Prescription]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    consultation = serializers.UUIDField(source="consultation.public_id", read_only=True)
    patient = serializers.UUIDField(source="patient.public_id", read_only=True)
    patient_name = serializers.CharField(source="patient.name", read_only=True)
    doctor = serializers.UUIDField(source="doctor.user.public_id", read_only=True)
    doctor_name = serializers.CharField(source="doctor.user.full_name", read_only=True)
    pharmacist_name = serializers.SerializerMethodField()
    diagnosis = serializers.CharField(source="diagnosis.code", read_only=True)
    diagnosis_name = serializers.CharField(source="diagnosis.name_zh", read_only=True)
    previous_version = serializers.SerializerMethodField()
    items = ItemSerializer(many=True, read_only=True)
    warnings = WarningSerializer(many=True, read_only=True)

    class Meta:
        model = Prescription
        fields = [
            "id",
            "number",
            "version",
            "previous_version",
            "status",
            "consultation",
            "patient",
            "patient_name",
            "doctor",
            "doctor_name",
            "diagnosis",
            "diagnosis_name",
            "items",
            "warnings",
            "supply_reason",
            "long_term",
            "long_term_assessment",
            "long_term_patient_confirmed",
            "validity_days",
            "validity_reason",
            "signed_at",
            "valid_until",
            "doctor_certificate_serial",
            "reviewed_at",
            "pharmacist_name",
            "pharmacist_certificate_serial",
            "rejection_reasons",
            "rejection_comment",
            "dispensed_at",
            "revoked_at",
            "revoke_reason",
            "created_at",
        ]

    def get_pharmacist_name(self, prescription: Prescription) -> str:
        return prescription.pharmacist.user.full_name if prescription.pharmacist else ""

    def get_previous_version(self, prescription: Prescription) -> str | None:
        previous = prescription.previous_version
        return str(previous.public_id) if previous else None


class ReviewQueueEntrySerializer(PrescriptionSerializer):
    prescreen_flags = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta(PrescriptionSerializer.Meta):
        fields = [*PrescriptionSerializer.Meta.fields, "prescreen_flags"]


class AcknowledgeSerializer(serializers.Serializer[Any]):
    warning = serializers.IntegerField()
    reason = serializers.CharField(max_length=300)


class PinSerializer(serializers.Serializer[Any]):
    pin = serializers.CharField(max_length=32, trim_whitespace=False)


class ReviewSerializer(serializers.Serializer[Any]):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    pin = serializers.CharField(max_length=32, required=False, default="", trim_whitespace=False)
    reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=RejectionReason.choices),
        required=False,
        default=list,
        max_length=len(RejectionReason.values),
    )
    comment = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class RevokeSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=300)


class VerificationSerializer(serializers.Serializer[Any]):
    valid = serializers.BooleanField()
    problems = serializers.ListField(child=serializers.CharField())
    changed = serializers.ListField(child=serializers.CharField())
    number = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    patient_name = serializers.CharField(help_text="Masked")
    doctor_name = serializers.CharField()
    doctor_signed_at = serializers.DateTimeField(allow_null=True)
    doctor_certificate_serial = serializers.CharField()
    pharmacist_name = serializers.CharField()
    pharmacist_signed_at = serializers.DateTimeField(allow_null=True)
    pharmacist_certificate_serial = serializers.CharField()
    valid_until = serializers.DateTimeField(allow_null=True)
