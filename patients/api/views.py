"""Patient registry API: register, look up, read, correct, verify identity.

Lookups by document number are POSTs so the number never appears in a URL or an access log.
"""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import actor_from_request
from core.api import UUID_PATTERN
from patients import selectors, services
from patients.api.serializers import (
    IdentityVerificationInputSerializer,
    IdentityVerificationOutputSerializer,
    PatientLookupSerializer,
    PatientOutputSerializer,
    PatientRegisterSerializer,
    PatientUpdateSerializer,
)
from patients.identity import normalize_phone
from patients.models import Patient


class PatientViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    serializer_class = PatientOutputSerializer
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Patient]:
        patients = selectors.patients_visible_to(actor=actor_from_request(self.request))
        phone = self.request.query_params.get("phone")
        if phone:
            patients = patients.filter(phone=normalize_phone(phone))
        name = self.request.query_params.get("name")
        if name:
            patients = patients.filter(name=name.strip())
        return patients.order_by("-created_at", "-pk")

    def _patient(self) -> Patient:
        return selectors.patient_get_for_actor(
            actor=actor_from_request(self.request), public_id=self.kwargs["public_id"]
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("phone", str, description="Exact mobile number"),
            OpenApiParameter("name", str, description="Exact name"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        patients = list(page or [])
        selectors.patients_record_list_read(actor=actor_from_request(request), patients=patients)
        return self.get_paginated_response(PatientOutputSerializer(patients, many=True).data)

    @extend_schema(request=PatientRegisterSerializer, responses={201: PatientOutputSerializer})
    def create(self, request: Request) -> Response:
        data = PatientRegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        patient = services.patient_register(
            actor=actor_from_request(request), **data.validated_data
        )
        return Response(PatientOutputSerializer(patient).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, public_id: str) -> Response:
        return Response(PatientOutputSerializer(self._patient()).data)

    @extend_schema(request=PatientUpdateSerializer, responses=PatientOutputSerializer)
    def partial_update(self, request: Request, public_id: str) -> Response:
        data = PatientUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        patient = services.patient_update(
            actor=actor_from_request(request), patient=self._patient(), **data.validated_data
        )
        return Response(PatientOutputSerializer(patient).data)

    @extend_schema(request=PatientLookupSerializer, responses=PatientOutputSerializer)
    @action(detail=False, methods=["post"])
    def lookup(self, request: Request) -> Response:
        data = PatientLookupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        patient = services.patient_lookup_by_document(
            actor=actor_from_request(request), **data.validated_data
        )
        return Response(PatientOutputSerializer(patient).data)

    @extend_schema(
        request=IdentityVerificationInputSerializer,
        responses={201: IdentityVerificationOutputSerializer},
    )
    @action(detail=True, methods=["post"], url_path="verify-identity")
    def verify_identity(self, request: Request, public_id: str) -> Response:
        data = IdentityVerificationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        verification = services.patient_verify_identity(
            actor=actor_from_request(request), patient=self._patient(), **data.validated_data
        )
        return Response(
            IdentityVerificationOutputSerializer(verification).data, status=status.HTTP_201_CREATED
        )
