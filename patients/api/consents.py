"""Consent API: the published texts a terminal displays, and a patient's consent records.

`patients/{id}/consents/`: staff of the patient's facilities record and read; the patient's
doctors, operations and the patient themself read. Everyone else gets 404.
"""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from clinics.selectors import terminal_get_for_actor
from core.actors import actor_from_request
from patients import consents, selectors
from patients.models import ConsentMethod, ConsentRecord, ConsentSigner, ConsentTemplate

LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]


class ConsentTemplateSerializer(serializers.ModelSerializer):
    text_sha256 = serializers.SerializerMethodField(
        help_text="SHA-256 (hex) of the UTF-8 text; send it back with the record"
    )

    class Meta:
        model = ConsentTemplate
        fields = ["version", "language", "title", "text", "text_sha256", "published_at"]
        read_only_fields = fields

    def get_text_sha256(self, template: ConsentTemplate) -> str:
        return consents.consent_text_sha256(template.text)


class ConsentInputSerializer(serializers.Serializer):
    template_version = serializers.CharField(max_length=16)
    language = serializers.ChoiceField(choices=LANGUAGES)
    signer = serializers.ChoiceField(choices=ConsentSigner.choices)
    signer_name = serializers.CharField(max_length=100)
    method = serializers.ChoiceField(choices=ConsentMethod.choices)
    terminal = serializers.UUIDField(
        required=False, allow_null=True, help_text="The terminal the text was shown on"
    )
    text_sha256 = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$",
        required=False,
        help_text="SHA-256 the terminal computed from the text it displayed",
    )


class ConsentOutputSerializer(serializers.ModelSerializer):
    template_version = serializers.CharField(source="template.version")
    language = serializers.CharField(source="template.language")
    title = serializers.CharField(source="template.title")
    facility = serializers.UUIDField(source="facility.public_id")
    terminal = serializers.UUIDField(source="terminal.public_id", allow_null=True)
    recorded_by = serializers.UUIDField(source="recorded_by.public_id")

    class Meta:
        model = ConsentRecord
        fields = [
            "template_version",
            "language",
            "title",
            "text_sha256",
            "signer",
            "signer_name",
            "method",
            "facility",
            "terminal",
            "recorded_by",
            "signed_at",
        ]
        read_only_fields = fields


class ConsentTemplateListView(generics.ListAPIView):
    """Active consent texts (any authenticated caller, terminals included)."""

    serializer_class = ConsentTemplateSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[ConsentTemplate]:
        return consents.consent_templates_active(
            language=self.request.query_params.get("language") or None
        )

    @extend_schema(
        parameters=[OpenApiParameter("language", str, enum=[code for code, _ in LANGUAGES])]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PatientConsentListView(generics.GenericAPIView):
    serializer_class = ConsentOutputSerializer
    filter_backends: list[Any] = []

    @extend_schema(
        operation_id="patients_consents_list", responses=ConsentOutputSerializer(many=True)
    )
    def get(self, request: Request, patient_id: str) -> Response:
        actor = actor_from_request(request)
        patient = selectors.patient_get_for_actor(actor=actor, public_id=patient_id)
        page = list(self.paginate_queryset(consents.consents_for_patient(patient=patient)) or [])
        consents.consents_record_read(actor=actor, patient=patient, records=page)
        return self.get_paginated_response(ConsentOutputSerializer(page, many=True).data)

    @extend_schema(request=ConsentInputSerializer, responses={201: ConsentOutputSerializer})
    def post(self, request: Request, patient_id: str) -> Response:
        actor = actor_from_request(request)
        patient = selectors.patient_get_for_actor(actor=actor, public_id=patient_id)
        data = ConsentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        terminal_id = values.pop("terminal", None)
        terminal = (
            terminal_get_for_actor(actor=actor, public_id=str(terminal_id))
            if terminal_id is not None
            else None
        )
        record = consents.consent_record(actor=actor, patient=patient, terminal=terminal, **values)
        return Response(ConsentOutputSerializer(record).data, status=status.HTTP_201_CREATED)
