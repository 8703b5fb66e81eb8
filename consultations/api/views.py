"""Consultations API: booking, the lifecycle actions, the doctor's queue, the facility's day,
the clinical record, and the terminal's vital-sign readings."""

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from clinics.api.views import IsTerminal
from clinics.authentication import TerminalCredentialAuthentication, TerminalPrincipal
from clinics.selectors import terminal_get_for_actor
from consultations.api.booking import BookingInputSerializer, book_from_request
from consultations.api.serializers import (
    CancelSerializer,
    CheckInSerializer,
    ClinicalNoteSerializer,
    ConsultationDetailSerializer,
    ConsultationOutputSerializer,
    DaySerializer,
    DiagnosesInputSerializer,
    DiagnosisSerializer,
    TerminateSerializer,
    VitalInputSerializer,
    VitalSignSerializer,
)
from consultations.models import Consultation, ConsultationDiagnosis
from consultations.selectors import consultations as selectors
from consultations.services import lifecycle, records
from core.actors import actor_from_request
from core.api import UUID_PATTERN
from core.exceptions import NotFoundError, PermissionDeniedError


class ConsultationViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    serializer_class = ConsultationOutputSerializer
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN
    filterset_fields = {"status": ["exact"], "kind": ["exact"]}
    queryset = Consultation.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self) -> QuerySet[Consultation]:
        return selectors.consultations_visible_to(actor=actor_from_request(self.request)).order_by(
            "-scheduled_start", "-pk"
        )

    def _consultation(self, public_id: str) -> Consultation:
        return selectors.consultation_get_for_actor(
            actor=actor_from_request(self.request), public_id=public_id
        )

    def _listed(self, rows: list[Consultation]) -> list[Any]:
        """Serialize a page of consultations, recording that their patients were shown."""
        selectors.consultations_record_list_read(
            actor=actor_from_request(self.request), consultations=rows
        )
        return ConsultationOutputSerializer(rows, many=True).data  # type: ignore[return-value]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self._listed(list(page or [])))

    def _respond(self, consultation: Consultation, code: int = status.HTTP_200_OK) -> Response:
        return Response(ConsultationOutputSerializer(consultation).data, status=code)

    def retrieve(self, request: Request, public_id: str) -> Response:
        consultation = self._consultation(public_id)
        detailed = (
            Consultation.objects.select_related(
                "patient", "doctor__user", "department", "facility", "note"
            )
            .prefetch_related(
                "events__actor",
                "vitals",
                Prefetch("diagnoses", ConsultationDiagnosis.objects.select_related("code")),
            )
            .get(pk=consultation.pk)
        )
        return Response(ConsultationDetailSerializer(detailed).data)

    @extend_schema(
        request=BookingInputSerializer,
        responses={201: ConsultationOutputSerializer},
        description="Book for a patient: `{patient, slot}`, `{patient, doctor}` (first available), "
        "`{patient, department}` (first available) or `{patient, department, walk_in: true}`.",
    )
    def create(self, request: Request) -> Response:
        return self._respond(book_from_request(request), status.HTTP_201_CREATED)

    @extend_schema(request=CheckInSerializer, responses=ConsultationOutputSerializer)
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request: Request, public_id: str) -> Response:
        actor = actor_from_request(request)
        data = CheckInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consultation = self._consultation(public_id)
        terminal_id = data.validated_data.get("terminal")
        terminal = (
            terminal_get_for_actor(actor=actor, public_id=terminal_id) if terminal_id else None
        )
        return self._respond(
            lifecycle.consultation_check_in(
                actor=actor, consultation=consultation, terminal=terminal
            )
        )

    @extend_schema(request=None, responses=ConsultationOutputSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, public_id: str) -> Response:
        return self._respond(
            lifecycle.consultation_start(
                actor=actor_from_request(request), consultation=self._consultation(public_id)
            )
        )

    @extend_schema(request=None, responses=ConsultationOutputSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, public_id: str) -> Response:
        return self._respond(
            lifecycle.consultation_complete(
                actor=actor_from_request(request), consultation=self._consultation(public_id)
            )
        )

    @extend_schema(request=CancelSerializer, responses=ConsultationOutputSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, public_id: str) -> Response:
        data = CancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(
            lifecycle.consultation_cancel(
                actor=actor_from_request(request),
                consultation=self._consultation(public_id),
                reason=data.validated_data["reason"],
            )
        )

    @extend_schema(request=TerminateSerializer, responses=ConsultationOutputSerializer)
    @action(detail=True, methods=["post"])
    def terminate(self, request: Request, public_id: str) -> Response:
        data = TerminateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(
            lifecycle.consultation_terminate(
                actor=actor_from_request(request),
                consultation=self._consultation(public_id),
                reason_code=data.validated_data["reason_code"],
                referral_note=data.validated_data["referral_note"],
            )
        )

    @extend_schema(request=ClinicalNoteSerializer, responses=ClinicalNoteSerializer)
    @action(detail=True, methods=["put"])
    def note(self, request: Request, public_id: str) -> Response:
        data = ClinicalNoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = records.clinical_note_save(
            actor=actor_from_request(request),
            consultation=self._consultation(public_id),
            **data.validated_data,
        )
        return Response(ClinicalNoteSerializer(note).data)

    @extend_schema(request=DiagnosesInputSerializer, responses=DiagnosisSerializer(many=True))
    @action(detail=True, methods=["put"])
    def diagnoses(self, request: Request, public_id: str) -> Response:
        data = DiagnosesInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rows = records.consultation_set_diagnoses(
            actor=actor_from_request(request),
            consultation=self._consultation(public_id),
            **data.validated_data,
        )
        return Response(DiagnosisSerializer(rows, many=True).data)

    @extend_schema(responses=ConsultationOutputSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def queue(self, request: Request) -> Response:
        """The signed-in doctor's waiting patients for today."""
        actor = actor_from_request(request)
        if not actor.has_role(Role.DOCTOR):
            raise PermissionDeniedError("The queue is a doctor's.")
        return Response(self._listed(selectors.doctor_queue(actor=actor)))

    @extend_schema(
        parameters=[OpenApiParameter("date", str, description="YYYY-MM-DD, default today")],
        responses=ConsultationOutputSerializer(many=True),
    )
    @action(detail=False, methods=["get"], filter_backends=[])
    def day(self, request: Request) -> Response:
        """The staff member's facility's consultations for a day (paginated)."""
        actor = actor_from_request(request)
        if not actor.has_role(Role.CLINIC_STAFF) or actor.facility_id is None:
            raise PermissionDeniedError("The day list is a facility's.")
        data = DaySerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        day = data.validated_data.get("date") or timezone.localdate()
        page = self.paginate_queryset(
            selectors.facility_day_list(facility_id=actor.facility_id, day=day)
        )
        return self.get_paginated_response(self._listed(list(page or [])))


class TerminalVitalsView(APIView):
    """A terminal reports a peripheral reading (BP, heart rate, temperature, SpO2, glucose,
    weight) for the consultation checked in at it."""

    authentication_classes = [TerminalCredentialAuthentication]
    permission_classes = [IsTerminal]

    @extend_schema(request=VitalInputSerializer, responses={201: VitalSignSerializer})
    def post(self, request: Request) -> Response:
        assert isinstance(request.user, TerminalPrincipal)
        actor = actor_from_request(request)
        data = VitalInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = dict(data.validated_data)
        consultation = None
        if "consultation" in values:
            consultation = (
                Consultation.objects.filter(
                    public_id=values.pop("consultation"), facility_id=actor.facility_id
                )
                .only("pk")
                .first()
            )
            if consultation is None:
                raise NotFoundError("Consultation not found.")
        reading = records.vital_sign_record(
            actor=actor, terminal=request.user.terminal, consultation=consultation, **values
        )
        return Response(VitalSignSerializer(reading).data, status=status.HTTP_201_CREATED)
