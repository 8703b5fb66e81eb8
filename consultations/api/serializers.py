from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from consultations.models import (
    ClinicalNote,
    Consultation,
    ConsultationDiagnosis,
    ConsultationEvent,
    TerminationReason,
    VitalKind,
    VitalSign,
)
from core.dates import age_on
from patients.models import Patient


class PatientBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField()
    sex = serializers.CharField()
    age = serializers.SerializerMethodField()

    def get_age(self, patient: Patient) -> int:
        return age_on(patient.birth_date, timezone.localdate())


class DoctorBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="user.public_id")
    full_name = serializers.CharField(source="user.full_name")
    title = serializers.CharField()


class PlaceBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField()


class ConsultationOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    patient = PatientBriefSerializer(read_only=True)
    doctor = DoctorBriefSerializer(read_only=True, allow_null=True)
    department = PlaceBriefSerializer(read_only=True)
    facility = PlaceBriefSerializer(read_only=True)
    waiting_minutes = serializers.SerializerMethodField()

    class Meta:
        model = Consultation
        fields = [
            "id",
            "kind",
            "status",
            "patient",
            "doctor",
            "department",
            "facility",
            "scheduled_start",
            "scheduled_end",
            "walk_in_date",
            "walk_in_token",
            "fee_fen",
            "checked_in_at",
            "waiting_minutes",
            "started_at",
            "ended_at",
            "cancel_reason",
            "termination_reason",
            "referral_note",
            "retention_until",
            "recording_retention_until",
        ]
        read_only_fields = fields

    def get_waiting_minutes(self, consultation: Consultation) -> int | None:
        """Minutes since check-in while the patient waits for the doctor."""
        if consultation.status != "checked_in" or consultation.checked_in_at is None:
            return None
        return int((timezone.now() - consultation.checked_in_at).total_seconds() // 60)


class ConsultationEventSerializer(serializers.ModelSerializer):
    actor = serializers.UUIDField(source="actor.public_id", allow_null=True, default=None)

    class Meta:
        model = ConsultationEvent
        fields = ["from_status", "to_status", "actor", "actor_role", "reason", "occurred_at"]
        read_only_fields = fields


class ClinicalNoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClinicalNote
        fields = ["subjective", "objective", "assessment", "plan", "updated_at"]
        read_only_fields = ["updated_at"]
        extra_kwargs = {name: {"required": False, "allow_blank": True} for name in fields[:4]}


class DiagnosisSerializer(serializers.ModelSerializer):
    code = serializers.CharField(source="code.code")
    name_zh = serializers.CharField(source="code.name_zh")
    name_en = serializers.CharField(source="code.name_en")

    class Meta:
        model = ConsultationDiagnosis
        fields = ["code", "name_zh", "name_en", "is_primary"]
        read_only_fields = fields


class VitalSignSerializer(serializers.ModelSerializer):
    class Meta:
        model = VitalSign
        fields = ["kind", "value", "value_secondary", "unit", "is_abnormal", "measured_at"]
        read_only_fields = fields


class ConsultationDetailSerializer(ConsultationOutputSerializer):
    events = ConsultationEventSerializer(many=True, read_only=True)
    note = serializers.SerializerMethodField()
    diagnoses = DiagnosisSerializer(many=True, read_only=True)
    vitals = VitalSignSerializer(many=True, read_only=True)

    class Meta(ConsultationOutputSerializer.Meta):
        fields = [
            *ConsultationOutputSerializer.Meta.fields,
            "events",
            "note",
            "diagnoses",
            "vitals",
        ]
        read_only_fields = fields

    @extend_schema_field(ClinicalNoteSerializer(allow_null=True))
    def get_note(self, consultation: Consultation) -> dict[str, object] | None:
        note = getattr(consultation, "note", None)
        return ClinicalNoteSerializer(note).data if note is not None else None


class CheckInSerializer(serializers.Serializer):
    terminal = serializers.UUIDField(required=False, help_text="The terminal the patient sits at")


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class TerminateSerializer(serializers.Serializer):
    reason_code = serializers.ChoiceField(choices=TerminationReason.choices)
    referral_note = serializers.CharField(max_length=2000)


class DiagnosesInputSerializer(serializers.Serializer):
    primary = serializers.CharField(max_length=16)
    secondary = serializers.ListField(
        child=serializers.CharField(max_length=16), required=False, default=list
    )


class VitalInputSerializer(serializers.Serializer):
    consultation = serializers.UUIDField(
        required=False, help_text="Defaults to the one checked in here"
    )
    kind = serializers.ChoiceField(choices=VitalKind.choices)
    value = serializers.DecimalField(max_digits=6, decimal_places=2)
    value_secondary = serializers.DecimalField(
        max_digits=6, decimal_places=2, required=False, allow_null=True
    )
    measured_at = serializers.DateTimeField(required=False)


class DaySerializer(serializers.Serializer):
    date = serializers.DateField(required=False)
