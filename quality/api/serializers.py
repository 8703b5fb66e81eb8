from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from quality.models import (
    CHECKLIST,
    SCORE_MAX,
    SCORE_MIN,
    Complaint,
    ComplaintCategory,
    ComplaintSeverity,
    ComplaintSubject,
    FeedbackInvitation,
    ReviewAssignment,
)
from quality.selectors.dashboard import DIMENSIONS


def _score() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=SCORE_MIN, max_value=SCORE_MAX)


# --- Feedback --------------------------------------------------------------------------------


class FeedbackSurveySerializer(serializers.Serializer):
    """What the survey page shows about the visit: nothing about the patient."""

    consultation_date = serializers.SerializerMethodField()
    doctor_name = serializers.SerializerMethodField()
    department_name = serializers.CharField(source="consultation.department.name")
    facility_name = serializers.CharField(source="consultation.facility.name")
    expires_at = serializers.DateTimeField()
    answered = serializers.SerializerMethodField()
    questions = serializers.SerializerMethodField()

    def get_consultation_date(self, invitation: FeedbackInvitation) -> str:
        consultation = invitation.consultation
        return (consultation.started_at or consultation.scheduled_start).date().isoformat()

    def get_doctor_name(self, invitation: FeedbackInvitation) -> str:
        doctor = invitation.consultation.doctor
        return doctor.user.full_name if doctor else ""

    def get_answered(self, invitation: FeedbackInvitation) -> bool:
        return invitation.responded_at is not None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_questions(self, invitation: FeedbackInvitation) -> list[str]:
        return ["overall", "waiting_time", "audio_video", "explanation", "comment"]


class FeedbackInputSerializer(serializers.Serializer):
    overall = _score()
    waiting_time = _score()
    audio_video = _score()
    explanation = _score()
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class FeedbackResultSerializer(serializers.Serializer):
    overall = serializers.IntegerField()
    waiting_time = serializers.IntegerField()
    audio_video = serializers.IntegerField()
    explanation = serializers.IntegerField()
    comment = serializers.CharField()
    submitted_at = serializers.DateTimeField()


# --- Complaints ------------------------------------------------------------------------------


class PersonSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.SerializerMethodField()

    def get_name(self, user: Any) -> str:
        return str(user.full_name or user.username)


class FacilityBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    code = serializers.CharField()
    name = serializers.CharField()


class ComplaintInputSerializer(serializers.Serializer):
    subject_kind = serializers.ChoiceField(choices=ComplaintSubject.choices)
    subject = serializers.UUIDField(help_text="The consultation, prescription, order or fulfilment")
    description = serializers.CharField(max_length=4000)


class ComplaintOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    reference = serializers.CharField(read_only=True)
    subject = serializers.SerializerMethodField()
    consultation = serializers.UUIDField(source="consultation.public_id", read_only=True)
    facility = FacilityBriefSerializer(read_only=True)
    assignee = PersonSerializer(read_only=True, allow_null=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = Complaint
        fields = [
            "id",
            "reference",
            "subject_kind",
            "subject",
            "consultation",
            "facility",
            "complainant_role",
            "description",
            "status",
            "category",
            "severity",
            "assignee",
            "due_at",
            "overdue",
            "created_at",
            "triaged_at",
            "responded_at",
            "closed_at",
            "withdrawn_at",
            "resolution",
        ]
        read_only_fields = fields

    def get_subject(self, complaint: Complaint) -> str:
        subject = {
            ComplaintSubject.CONSULTATION: complaint.consultation,
            ComplaintSubject.PRESCRIPTION: complaint.prescription,
            ComplaintSubject.PAYMENT: complaint.order,
            ComplaintSubject.DELIVERY: complaint.fulfilment,
        }[ComplaintSubject(complaint.subject_kind)]
        return str(subject.public_id) if subject is not None else ""

    def get_overdue(self, complaint: Complaint) -> bool:
        return complaint.escalated_at is not None


class ComplaintReplySerializer(serializers.Serializer):
    body = serializers.CharField()
    author = PersonSerializer()
    created_at = serializers.DateTimeField()


class ComplaintEventSerializer(serializers.Serializer):
    action = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    actor_role = serializers.CharField()
    occurred_at = serializers.DateTimeField()


class ComplaintDetailSerializer(ComplaintOutputSerializer):
    replies = ComplaintReplySerializer(many=True, read_only=True)
    events = ComplaintEventSerializer(many=True, read_only=True)

    class Meta(ComplaintOutputSerializer.Meta):
        fields = [*ComplaintOutputSerializer.Meta.fields, "replies", "events"]
        read_only_fields = fields


class TriageInputSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=ComplaintCategory.choices)
    severity = serializers.ChoiceField(choices=ComplaintSeverity.choices)
    assignee = serializers.UUIDField(help_text="An active operations colleague")


class ReplyInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=4000)


class CloseInputSerializer(serializers.Serializer):
    resolution = serializers.CharField(max_length=4000)


class WithdrawInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


# --- Reviews ---------------------------------------------------------------------------------


class ReviewScoresSerializer(serializers.Serializer):
    record_completeness = serializers.IntegerField(allow_null=True)
    diagnosis_consistency = serializers.IntegerField(allow_null=True)
    rule_compliance = serializers.IntegerField(allow_null=True)
    communication = serializers.IntegerField(allow_null=True)


class ReviewOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    kind = serializers.CharField()
    week_start = serializers.DateField(source="sample.week_start")
    consultation = serializers.UUIDField(source="consultation.public_id")
    prescription = serializers.SerializerMethodField()
    doctor = PersonSerializer(source="doctor.user")
    facility_name = serializers.CharField(source="consultation.facility.name")
    department_name = serializers.CharField(source="consultation.department.name")
    reviewer = PersonSerializer()
    status = serializers.CharField()
    assigned_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    scores = serializers.SerializerMethodField()
    score = serializers.FloatField(allow_null=True)
    comment = serializers.CharField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_prescription(self, assignment: ReviewAssignment) -> str | None:
        prescription = assignment.prescription
        return f"{prescription.number}-{prescription.version}" if prescription else None

    @extend_schema_field(ReviewScoresSerializer)
    def get_scores(self, assignment: ReviewAssignment) -> dict[str, int | None]:
        return {item: getattr(assignment, item) for item in CHECKLIST}


class ReviewScoreInputSerializer(serializers.Serializer):
    record_completeness = _score()
    diagnosis_consistency = _score()
    rule_compliance = _score()
    communication = _score()
    comment = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")


class ReviewMaterialSerializer(serializers.Serializer):
    """The record and prescription under review, for the assigned reviewer only."""

    def to_representation(self, material: dict[str, Any]) -> dict[str, Any]:
        consultation = material["consultation"]
        note = getattr(consultation, "note", None)
        prescription = material["prescription"]
        return {
            "patient": {
                "name": consultation.patient.name,
                "sex": consultation.patient.sex,
                "birth_date": consultation.patient.birth_date.isoformat(),
            },
            "started_at": consultation.started_at,
            "ended_at": consultation.ended_at,
            "note": {
                "subjective": note.subjective if note else "",
                "objective": note.objective if note else "",
                "assessment": note.assessment if note else "",
                "plan": note.plan if note else "",
            },
            "diagnoses": [
                {"code": d.code.code, "name": d.code.name_zh, "is_primary": d.is_primary}
                for d in consultation.diagnoses.all()
            ],
            "prescription": None
            if prescription is None
            else {
                "number": f"{prescription.number}-{prescription.version}",
                "status": prescription.status,
                "diagnosis": prescription.diagnosis.code,
                "items": [
                    {
                        "drug": item.drug.name_zh,
                        "dose": str(item.dose),
                        "dose_unit": item.dose_unit,
                        "frequency": item.frequency,
                        "route": item.route,
                        "days_supply": item.days_supply,
                        "quantity": item.quantity,
                    }
                    for item in prescription.items.all()
                ],
            },
        }


# --- Dashboard -------------------------------------------------------------------------------


class DashboardQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    by = serializers.ChoiceField(choices=DIMENSIONS, default="facility")
    city = serializers.CharField(required=False, allow_blank=True, max_length=32, default="")
