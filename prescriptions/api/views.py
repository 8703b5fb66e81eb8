"""Prescriptions API: the formulary, prescribing, signing, the pharmacist's review, verification,
the PDF and the signed export."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Role
from consultations.selectors.consultations import consultation_get_for_actor
from core.actors import actor_from_request
from core.api import UUID_PATTERN
from core.exceptions import DomainError, PermissionDeniedError
from prescriptions import selectors
from prescriptions.api.serializers import (
    AcknowledgeSerializer,
    DrugSerializer,
    PinSerializer,
    PrescriptionInputSerializer,
    PrescriptionSerializer,
    ReviewQueueEntrySerializer,
    ReviewSerializer,
    RevokeSerializer,
    VerificationSerializer,
)
from prescriptions.models import Drug, Prescription
from prescriptions.pdf import render_prescription_pdf
from prescriptions.services import lifecycle, prescribing
from prescriptions.verification import export_document, verification_summary


class DrugViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """The formulary, for the prescription editor (`?q=` name, ATC or code)."""

    serializer_class = DrugSerializer
    lookup_field = "code"
    queryset = Drug.objects.none()

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str),
            OpenApiParameter("prescribable", bool, description="Only drugs prescribable online"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Drug]:
        params = self.request.query_params
        return selectors.drugs_search(
            query=params.get("q", "")[:60],
            prescribable_only=params.get("prescribable") in ("1", "true"),
        )


def _drugs_for(data: PrescriptionInputSerializer) -> dict[str, Drug]:
    codes = {item["drug"] for item in data.validated_data["items"]}
    drugs = {drug.code: drug for drug in Drug.objects.filter(code__in=codes)}
    unknown = sorted(codes - set(drugs))
    if unknown:
        raise DomainError(
            f"Unknown drug code: {', '.join(unknown)}.",
            code="drug_unknown",
            fields={"items": [f"Unknown drug code: {', '.join(unknown)}."]},
        )
    return drugs


class PrescriptionViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    serializer_class = PrescriptionSerializer
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN
    filterset_fields = {"status": ["exact"]}
    queryset = Prescription.objects.none()

    def get_queryset(self) -> QuerySet[Prescription]:
        return selectors.prescriptions_visible_to(actor=actor_from_request(self.request)).order_by(
            "-created_at", "-pk"
        )

    def _prescription(self, public_id: str) -> Prescription:
        return selectors.prescription_get_for_actor(
            actor=actor_from_request(self.request), public_id=public_id
        )

    def _respond(self, prescription: Prescription, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.prescriptions_visible_to(actor=actor_from_request(self.request)).get(
            pk=prescription.pk
        )
        return Response(PrescriptionSerializer(fresh).data, status=code)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())) or [])
        selectors.prescriptions_record_list_read(
            actor=actor_from_request(request), prescriptions=page
        )
        return self.get_paginated_response(PrescriptionSerializer(page, many=True).data)

    def retrieve(self, request: Request, public_id: str) -> Response:
        return Response(PrescriptionSerializer(self._prescription(public_id)).data)

    @extend_schema(request=PrescriptionInputSerializer, responses={201: PrescriptionSerializer})
    def create(self, request: Request) -> Response:
        """The treating doctor writes a draft from the consultation (every rule is checked)."""
        actor = actor_from_request(request)
        data = PrescriptionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "consultation" not in data.validated_data:
            raise DomainError(
                "Say which consultation.",
                code="validation_error",
                fields={"consultation": ["Required."]},
            )
        consultation = consultation_get_for_actor(
            actor=actor, public_id=data.validated_data["consultation"]
        )
        prescription = prescribing.prescription_create(
            actor=actor,
            consultation=consultation,
            diagnosis_code=data.validated_data["diagnosis"],
            spec=data.spec(_drugs_for(data)),
        )
        return self._respond(prescription, status.HTTP_201_CREATED)

    @extend_schema(request=PrescriptionInputSerializer, responses=PrescriptionSerializer)
    def update(self, request: Request, public_id: str) -> Response:
        """Rewrite a draft (a signed version never changes)."""
        data = PrescriptionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prescription = prescribing.prescription_update(
            actor=actor_from_request(request),
            prescription=self._prescription(public_id),
            diagnosis_code=data.validated_data["diagnosis"],
            spec=data.spec(_drugs_for(data)),
        )
        return self._respond(prescription)

    @extend_schema(request=AcknowledgeSerializer, responses=PrescriptionSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, public_id: str) -> Response:
        data = AcknowledgeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prescription = self._prescription(public_id)
        prescribing.warning_acknowledge(
            actor=actor_from_request(request),
            prescription=prescription,
            warning_id=data.validated_data["warning"],
            reason=data.validated_data["reason"],
        )
        return self._respond(prescription)

    @extend_schema(request=PinSerializer, responses=PrescriptionSerializer)
    @action(detail=True, methods=["post"])
    def sign(self, request: Request, public_id: str) -> Response:
        """The treating doctor signs with their signing PIN; the prescription goes to review."""
        data = PinSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prescription = lifecycle.prescription_sign(
            actor=actor_from_request(request),
            prescription=self._prescription(public_id),
            pin=data.validated_data["pin"],
        )
        return self._respond(prescription)

    @extend_schema(responses=ReviewQueueEntrySerializer(many=True))
    @action(detail=False, methods=["get"], url_path="review-queue", filter_backends=[])
    def review_queue(self, request: Request) -> Response:
        """Signed prescriptions awaiting a pharmacist, oldest first, with pre-screen flags."""
        actor = actor_from_request(request)
        if not actor.has_role(Role.PHARMACIST):
            raise PermissionDeniedError("The review queue is the pharmacists'.")
        page = list(self.paginate_queryset(selectors.review_queue(actor=actor)) or [])
        selectors.prescriptions_record_list_read(actor=actor, prescriptions=page)
        for prescription in page:
            prescription.prescreen_flags = selectors.prescreen_flags(prescription)  # type: ignore[attr-defined]
        return self.get_paginated_response(ReviewQueueEntrySerializer(page, many=True).data)

    @extend_schema(request=ReviewSerializer, responses=PrescriptionSerializer)
    @action(detail=True, methods=["post"])
    def review(self, request: Request, public_id: str) -> Response:
        """Approve (countersign with the pharmacist's PIN) or reject with reasons and a comment."""
        data = ReviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = actor_from_request(request)
        prescription = self._prescription(public_id)
        if data.validated_data["decision"] == "approve":
            prescription = lifecycle.prescription_approve(
                actor=actor, prescription=prescription, pin=data.validated_data["pin"]
            )
        else:
            prescription = lifecycle.prescription_reject(
                actor=actor,
                prescription=prescription,
                reasons=data.validated_data["reasons"],
                comment=data.validated_data["comment"],
            )
        return self._respond(prescription)

    @extend_schema(request=None, responses={201: PrescriptionSerializer})
    @action(detail=True, methods=["post"])
    def revise(self, request: Request, public_id: str) -> Response:
        """A rejected version becomes a new draft version with the same content to edit."""
        prescription = prescribing.prescription_revise(
            actor=actor_from_request(request), prescription=self._prescription(public_id)
        )
        return self._respond(prescription, status.HTTP_201_CREATED)

    @extend_schema(request=RevokeSerializer, responses=PrescriptionSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, public_id: str) -> Response:
        data = RevokeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prescription = lifecycle.prescription_revoke(
            actor=actor_from_request(request),
            prescription=self._prescription(public_id),
            reason=data.validated_data["reason"],
        )
        return self._respond(prescription)

    @extend_schema(responses=VerificationSerializer)
    @action(detail=True, methods=["get"])
    def verify(self, request: Request, public_id: str) -> Response:
        """Both signatures, the certificates, the content against the signature, the status."""
        summary = verification_summary(self._prescription(public_id))
        return Response(VerificationSerializer(summary).data)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def pdf(self, request: Request, public_id: str) -> HttpResponse:
        prescription = self._prescription(public_id)
        if not prescription.signed_content:
            raise DomainError("A draft has no printable form.", code="prescription_not_signed")
        response = HttpResponse(
            render_prescription_pdf(prescription), content_type="application/pdf"
        )
        response["Content-Disposition"] = (
            f'inline; filename="{prescription.number}-v{prescription.version}.pdf"'
        )
        return response

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def export(self, request: Request, public_id: str) -> Response:
        """The signed prescription with signatures and certificates, verifiable offline
        (`manage.py verify_prescription FILE`)."""
        prescription = self._prescription(public_id)
        if not prescription.signed_content:
            raise DomainError("A draft has no signature to export.", code="prescription_not_signed")
        return Response(export_document(prescription))
