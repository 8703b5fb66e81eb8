"""Patient data rights and access review: a patient's copy of their data; operations' review of
access from outside the care team and of records past retention."""

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from core.actors import actor_from_request
from core.exceptions import NotFoundError, PermissionDeniedError
from core.retention import retention_report
from patients.access_review import access_review_resolve, open_access_reviews
from patients.data_export import patient_data_export, render_export_pdf
from patients.models import AccessReviewFlag, Patient


class MyDataExportView(APIView):
    """`GET /api/v1/me/data-export/` — everything held about the signed-in patient (JSON), or
    the same as a PDF with `?as=pdf`."""

    @extend_schema(
        parameters=[OpenApiParameter("as", str, enum=["json", "pdf"])],
        responses={200: OpenApiTypes.OBJECT, (200, "application/pdf"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        actor = actor_from_request(request)
        if not actor.has_role(Role.PATIENT) or actor.user is None:
            raise PermissionDeniedError("The data export is the patient's own.")
        patient = Patient.objects.filter(user=actor.user).first()
        if patient is None:
            raise NotFoundError("No patient record is linked to this account.")
        document = patient_data_export(actor=actor, patient=patient)
        if request.query_params.get("as") == "pdf":
            response = HttpResponse(render_export_pdf(document), content_type="application/pdf")
            response["Content-Disposition"] = 'attachment; filename="my-health-data.pdf"'
            return response
        return Response(document)


class AccessReviewSerializer(serializers.ModelSerializer[AccessReviewFlag]):
    patient = serializers.UUIDField(source="patient.public_id", read_only=True)
    actor = serializers.CharField(source="actor.username", default=None, read_only=True)
    occurred_at = serializers.SerializerMethodField()

    class Meta:
        model = AccessReviewFlag
        fields = [
            "id",
            "patient",
            "actor",
            "actor_role",
            "reason",
            "flagged_at",
            "occurred_at",
            "reviewed_at",
            "review_note",
        ]

    def get_occurred_at(self, flag: AccessReviewFlag) -> Any:
        return flag.flagged_at


class ResolveSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(max_length=500)


class AccessReviewListView(APIView):
    """`GET /api/v1/access-reviews/` — open flags of access from outside a patient's care team."""

    @extend_schema(responses=AccessReviewSerializer(many=True))
    def get(self, request: Request) -> Response:
        flags = list(
            open_access_reviews(actor=actor_from_request(request)).select_related("patient")[:200]
        )
        return Response(AccessReviewSerializer(flags, many=True).data)


class AccessReviewResolveView(APIView):
    """`POST /api/v1/access-reviews/{id}/resolve/` `{note}` — operations close a flag."""

    @extend_schema(request=ResolveSerializer, responses=AccessReviewSerializer)
    def post(self, request: Request, flag_id: int) -> Response:
        data = ResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        flag = access_review_resolve(
            actor=actor_from_request(request), flag_id=flag_id, note=data.validated_data["note"]
        )
        return Response(AccessReviewSerializer(flag).data, status=status.HTTP_200_OK)


class RetentionReportView(APIView):
    """`GET /api/v1/retention-report/` — records past retention by type (never deleted)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        if not actor_from_request(request).has_role(Role.OPERATIONS):
            raise PermissionDeniedError("The retention report is for operations.")
        return Response({"types": retention_report()})
