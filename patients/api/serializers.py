from datetime import date

from rest_framework import serializers

from core.dates import age_on
from patients.models import GUARDIAN_REQUIRED_UNDER_YEARS, IdType, Patient, Sex, VerificationMethod


class GuardianSerializer(serializers.Serializer):
    name = serializers.CharField(source="guardian_name")
    relationship = serializers.CharField(source="guardian_relationship")
    phone = serializers.CharField(source="guardian_phone")


class PatientOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    age = serializers.SerializerMethodField()
    guardian = serializers.SerializerMethodField()
    guardian_required = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "id",
            "name",
            "id_type",
            "id_number_masked",
            "birth_date",
            "age",
            "sex",
            "phone",
            "allergies",
            "chronic_conditions",
            "guardian",
            "guardian_required",
            "identity_verified_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _today(self) -> date:
        from django.utils import timezone

        return timezone.localdate()

    def get_age(self, patient: Patient) -> int:
        return age_on(patient.birth_date, self._today())

    def get_guardian_required(self, patient: Patient) -> bool:
        return self.get_age(patient) < GUARDIAN_REQUIRED_UNDER_YEARS

    def get_guardian(self, patient: Patient) -> dict[str, str] | None:
        if not patient.guardian_name:
            return None
        return {
            "name": patient.guardian_name,
            "relationship": patient.guardian_relationship,
            "phone": patient.guardian_phone,
        }


class PatientUpdateSerializer(serializers.Serializer):
    """The details staff may correct; registration adds the identity document to them."""

    name = serializers.CharField(max_length=100, required=False)
    phone = serializers.CharField(max_length=32, required=False)
    allergies = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=50
    )
    chronic_conditions = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=50
    )
    guardian_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    guardian_relationship = serializers.CharField(max_length=32, required=False, allow_blank=True)
    guardian_phone = serializers.CharField(max_length=32, required=False, allow_blank=True)


class PatientRegisterSerializer(PatientUpdateSerializer):
    name = serializers.CharField(max_length=100)
    phone = serializers.CharField(max_length=32)
    id_type = serializers.ChoiceField(choices=IdType.choices)
    id_number = serializers.CharField(max_length=32)
    birth_date = serializers.DateField(required=False, help_text="Derived from a resident ID")
    sex = serializers.ChoiceField(choices=Sex.choices, required=False)


class PatientLookupSerializer(serializers.Serializer):
    id_type = serializers.ChoiceField(choices=IdType.choices)
    id_number = serializers.CharField(max_length=32)


class IdentityVerificationInputSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=VerificationMethod.choices)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


class IdentityVerificationOutputSerializer(serializers.Serializer):
    method = serializers.CharField()
    note = serializers.CharField()
    verified_at = serializers.DateTimeField()
    verified_by = serializers.UUIDField(source="verified_by.public_id")
