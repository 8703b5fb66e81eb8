"""Prior-diagnosis evidence API: upload (multipart), list, read, download, verify.

Reads: staff of the patient's facilities, the patient's doctors, operations, and the patient
themself (list and detail, not the stored document). Upload: staff. Verify: a doctor treating
the patient. No deletes: medical records are kept. Everyone else gets 404.
"""

import os
from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_from_request
from patients import evidence as evidence_services
from patients import selectors
from patients.models import PriorDiagnosisEvidence


class Icd10BriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name_zh = serializers.CharField()
    name_en = serializers.CharField()


class EvidenceInputSerializer(serializers.Serializer):
    # Empty files are refused by the service with its own code (`evidence_empty`).
    document = serializers.FileField(allow_empty_file=True, help_text="PDF, JPEG or PNG")
    issuing_institution = serializers.CharField(max_length=200)
    diagnosis_code = serializers.CharField(max_length=16, help_text="ICD-10, e.g. E11.9")
    diagnosis_date = serializers.DateField()


class EvidenceOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    diagnosis = Icd10BriefSerializer()
    uploaded_by = serializers.UUIDField(source="uploaded_by.public_id")
    verified = serializers.SerializerMethodField()
    verified_by = serializers.UUIDField(source="verified_by.public_id", allow_null=True)
    document_url = serializers.SerializerMethodField()

    class Meta:
        model = PriorDiagnosisEvidence
        fields = [
            "id",
            "document_name",
            "content_type",
            "size_bytes",
            "document_url",
            "issuing_institution",
            "diagnosis",
            "diagnosis_date",
            "uploaded_by",
            "uploaded_at",
            "verified",
            "verified_by",
            "verified_at",
        ]
        read_only_fields = fields

    def get_verified(self, evidence: PriorDiagnosisEvidence) -> bool:
        return evidence.verified_at is not None

    def get_document_url(self, evidence: PriorDiagnosisEvidence) -> str:
        return reverse(
            "patient-evidence-document",
            kwargs={"patient_id": evidence.patient.public_id, "evidence_id": evidence.public_id},
        )


class PatientEvidenceListView(generics.GenericAPIView):
    serializer_class = EvidenceOutputSerializer
    parser_classes = [MultiPartParser, FormParser]
    filter_backends: list[Any] = []

    @extend_schema(
        operation_id="patients_evidence_list", responses=EvidenceOutputSerializer(many=True)
    )
    def get(self, request: Request, patient_id: str) -> Response:
        actor = actor_from_request(request)
        patient = selectors.patient_get_for_actor(actor=actor, public_id=patient_id)
        queryset = evidence_services.evidence_for_patient(patient=patient)
        page = list(self.paginate_queryset(queryset) or [])
        for item in page:
            item.patient = patient
        evidence_services.evidence_record_read(actor=actor, patient=patient, evidence=page)
        return self.get_paginated_response(EvidenceOutputSerializer(page, many=True).data)

    @extend_schema(request=EvidenceInputSerializer, responses={201: EvidenceOutputSerializer})
    def post(self, request: Request, patient_id: str) -> Response:
        actor = actor_from_request(request)
        patient = selectors.patient_get_for_actor(actor=actor, public_id=patient_id)
        data = EvidenceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        evidence = evidence_services.evidence_upload(
            actor=actor, patient=patient, **data.validated_data
        )
        return Response(EvidenceOutputSerializer(evidence).data, status=status.HTTP_201_CREATED)


class PatientEvidenceDetailView(generics.GenericAPIView):
    serializer_class = EvidenceOutputSerializer

    def get(self, request: Request, patient_id: str, evidence_id: str) -> Response:
        actor = actor_from_request(request)
        patient = selectors.patient_get_for_actor(actor=actor, public_id=patient_id)
        evidence = evidence_services.evidence_get(patient=patient, public_id=evidence_id)
        evidence_services.evidence_record_read(
            actor=actor, patient=patient, evidence=[evidence], via="detail"
        )
        return Response(EvidenceOutputSerializer(evidence).data)


class PatientEvidenceVerifyView(generics.GenericAPIView):
    serializer_class = EvidenceOutputSerializer

    @extend_schema(request=None, responses=EvidenceOutputSerializer)
    def post(self, request: Request, patient_id: str, evidence_id: str) -> Response:
        actor = actor_from_request(request)
        patient = selectors.patient_get_for_actor(actor=actor, public_id=patient_id)
        evidence = evidence_services.evidence_verify(
            actor=actor,
            evidence=evidence_services.evidence_get(patient=patient, public_id=evidence_id),
        )
        evidence.patient = patient
        return Response(EvidenceOutputSerializer(evidence).data)


class IgnoreAcceptHeader(BaseContentNegotiation):
    """The document is what it is; errors are JSON whatever the client asked for."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: Any, format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


class PatientEvidenceDocumentView(APIView):
    content_negotiation_class = IgnoreAcceptHeader

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The stored PDF, JPEG or PNG, as an attachment"
            )
        }
    )
    def get(self, request: Request, patient_id: str, evidence_id: str) -> FileResponse:
        actor = actor_from_request(request)
        patient = selectors.patient_get_for_actor(actor=actor, public_id=patient_id)
        evidence, document = evidence_services.evidence_document_open(
            actor=actor, patient=patient, public_id=evidence_id
        )
        extension = os.path.splitext(evidence.document.name or "")[1]
        response = FileResponse(
            document,
            as_attachment=True,
            # A neutral name: the uploaded one may carry the patient's name.
            filename=f"evidence-{evidence.public_id}{extension}",
            content_type=evidence.content_type,
        )
        response["Cache-Control"] = "private, no-store"
        return response
