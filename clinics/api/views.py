"""Clinic network API: departments, facilities, terminals and their credentials, heartbeats."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinics import selectors, services
from clinics.api.filters import FacilityFilter, TerminalFilter
from clinics.api.serializers import (
    DepartmentSerializer,
    FacilityInputSerializer,
    FacilityOutputSerializer,
    FacilityUpdateSerializer,
    TerminalCredentialSerializer,
    TerminalOutputSerializer,
    TerminalRegisterSerializer,
)
from clinics.authentication import TerminalCredentialAuthentication, TerminalPrincipal
from clinics.models import Department, Facility, Terminal
from core.actors import actor_from_request
from core.api import UUID_PATTERN


class DepartmentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = DepartmentSerializer
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN
    pagination_class = None

    def get_queryset(self) -> QuerySet[Department]:
        return selectors.departments_active()


class FacilityViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    serializer_class = FacilityOutputSerializer
    filterset_class = FacilityFilter
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self) -> QuerySet[Facility]:
        return selectors.facilities_visible_to(actor=actor_from_request(self.request))

    def retrieve(self, request: Request, public_id: str) -> Response:
        facility = selectors.facility_get_for_actor(
            actor=actor_from_request(request), public_id=public_id
        )
        return Response(FacilityOutputSerializer(facility).data)

    @extend_schema(request=FacilityInputSerializer, responses={201: FacilityOutputSerializer})
    def create(self, request: Request) -> Response:
        data = FacilityInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        facility = services.facility_create(
            actor=actor_from_request(request), **data.validated_data
        )
        return Response(FacilityOutputSerializer(facility).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=FacilityUpdateSerializer, responses=FacilityOutputSerializer)
    def partial_update(self, request: Request, public_id: str) -> Response:
        actor = actor_from_request(request)
        data = FacilityUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        facility = services.facility_update(
            actor=actor,
            facility=selectors.facility_get_for_actor(actor=actor, public_id=public_id),
            **data.validated_data,
        )
        return Response(FacilityOutputSerializer(facility).data)


class TerminalViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    serializer_class = TerminalOutputSerializer
    filterset_class = TerminalFilter
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self) -> QuerySet[Terminal]:
        return selectors.terminals_visible_to(actor=actor_from_request(self.request))

    def _terminal(self, public_id: str) -> Terminal:
        return selectors.terminal_get_for_actor(
            actor=actor_from_request(self.request), public_id=public_id
        )

    def retrieve(self, request: Request, public_id: str) -> Response:
        return Response(TerminalOutputSerializer(self._terminal(public_id)).data)

    @extend_schema(
        request=TerminalRegisterSerializer, responses={201: TerminalCredentialSerializer}
    )
    def create(self, request: Request) -> Response:
        actor = actor_from_request(request)
        data = TerminalRegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        facility = selectors.facility_get_for_actor(
            actor=actor, public_id=data.validated_data["facility"]
        )
        issued = services.terminal_register(
            actor=actor, facility=facility, serial=data.validated_data["serial"]
        )
        return Response(TerminalCredentialSerializer(issued).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TerminalCredentialSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-credential")
    def rotate_credential(self, request: Request, public_id: str) -> Response:
        issued = services.terminal_rotate_credential(
            actor=actor_from_request(request), terminal=self._terminal(public_id)
        )
        return Response(TerminalCredentialSerializer(issued).data)

    @extend_schema(request=None, responses=TerminalOutputSerializer)
    @action(detail=True, methods=["post"], url_path="revoke-credential")
    def revoke_credential(self, request: Request, public_id: str) -> Response:
        terminal = services.terminal_revoke_credential(
            actor=actor_from_request(request), terminal=self._terminal(public_id)
        )
        return Response(TerminalOutputSerializer(terminal).data)


class IsTerminal(permissions.BasePermission):
    message = "Only a terminal with its device credential can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, TerminalPrincipal)


class TerminalHeartbeatView(APIView):
    """A terminal reports it is alive (every minute); it goes offline after a few missed beats."""

    authentication_classes = [TerminalCredentialAuthentication]
    permission_classes = [IsTerminal]

    @extend_schema(request=None, responses=TerminalOutputSerializer)
    def post(self, request: Request) -> Response:
        assert isinstance(request.user, TerminalPrincipal)
        terminal = services.terminal_record_heartbeat(terminal=request.user.terminal)
        return Response(TerminalOutputSerializer(terminal).data)
