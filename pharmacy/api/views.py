"""Pharmacy API: fulfilments (list, detail with timeline, the pickup scan, operations' retry and
return of a failed delivery), the courier's tracking callback, and facility stock."""

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from clinics.models import Facility
from clinics.selectors import facility_get_for_actor
from core.actors import Actor, actor_from_request, client_ip
from core.api import UUID_PATTERN
from core.exceptions import ConflictError, DomainError, NotFoundError
from pharmacy import selectors
from pharmacy.api.serializers import (
    CourierNotifyResultSerializer,
    FulfilmentDetailSerializer,
    FulfilmentOutputSerializer,
    PickupInputSerializer,
    ReasonSerializer,
    StockAdjustInputSerializer,
    StockMovementSerializer,
    StockOutputSerializer,
)
from pharmacy.couriers.base import CourierRefused, CourierUnavailable
from pharmacy.models import FacilityStock, Fulfilment, StockMovement
from pharmacy.services import delivery, pickup, stock, tracking
from prescriptions.models import Drug


class FulfilmentViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    serializer_class = FulfilmentOutputSerializer
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN
    filterset_fields = {"status": ["exact"], "method": ["exact"]}
    queryset = Fulfilment.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self) -> QuerySet[Fulfilment]:
        return selectors.fulfilments_visible_to(actor=actor_from_request(self.request)).order_by(
            "-created_at", "-pk"
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())) or [])
        selectors.fulfilments_record_list_read(actor=actor_from_request(request), fulfilments=page)
        return self.get_paginated_response(FulfilmentOutputSerializer(page, many=True).data)

    def _detail(self, actor: Actor, fulfilment: Fulfilment, code: int = 200) -> Response:
        detailed = selectors.fulfilment_detail(fulfilment)
        # Visible to a patient means their own: only they are shown the code to present.
        context = {"show_pickup_code": actor.has_role(Role.PATIENT)}
        return Response(FulfilmentDetailSerializer(detailed, context=context).data, status=code)

    @extend_schema(responses=FulfilmentDetailSerializer)
    def retrieve(self, request: Request, public_id: str) -> Response:
        actor = actor_from_request(request)
        return self._detail(
            actor, selectors.fulfilment_get_for_actor(actor=actor, public_id=public_id)
        )

    @extend_schema(
        request=PickupInputSerializer,
        responses=FulfilmentDetailSerializer,
        description="Staff or the terminal of the pickup facility hand over the medicine: "
        "`{code}` typed or `{token}` scanned from the patient's QR code.",
    )
    @action(detail=False, methods=["post"])
    def pickup(self, request: Request) -> Response:
        actor = actor_from_request(request)
        data = PickupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fulfilment = pickup.pickup_dispense(
            actor=actor,
            code=data.validated_data.get("code", ""),
            token=data.validated_data.get("token", ""),
        )
        return self._detail(actor, fulfilment)

    @extend_schema(request=None, responses=FulfilmentDetailSerializer)
    @action(detail=True, methods=["post"], url_path="retry-delivery")
    def retry_delivery(self, request: Request, public_id: str) -> Response:
        actor = actor_from_request(request)
        fulfilment = selectors.fulfilment_get_for_actor(actor=actor, public_id=public_id)
        try:
            retried = delivery.fulfilment_retry_delivery(actor=actor, fulfilment=fulfilment)
        except CourierUnavailable as error:
            raise DomainError(
                "The courier cannot be reached; try again shortly.",
                code="courier_unavailable",
                status_code=503,
            ) from error
        except CourierRefused as error:
            raise ConflictError(
                f"The courier refused the waybill: {error.message}",
                code="courier_refused",
                extra={"courier_code": error.code},
            ) from error
        return self._detail(actor, retried)

    @extend_schema(request=ReasonSerializer, responses=FulfilmentDetailSerializer)
    @action(detail=True, methods=["post"], url_path="return")
    def return_parcel(self, request: Request, public_id: str) -> Response:
        actor = actor_from_request(request)
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fulfilment = selectors.fulfilment_get_for_actor(actor=actor, public_id=public_id)
        return self._detail(
            actor,
            delivery.fulfilment_return(
                actor=actor, fulfilment=fulfilment, reason=data.validated_data["reason"]
            ),
        )


class CourierNotifyView(APIView):
    """The courier's tracking callback: no user credentials; the body is signed with the shared
    secret (`X-Courier-Timestamp`, `X-Courier-Signature`, see docs/pharmacy.md)."""

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(request=None, responses=CourierNotifyResultSerializer, auth=[])
    def post(self, request: Request) -> Response:
        result = tracking.courier_callback_receive(
            headers=request.headers, body=request.body, remote_addr=client_ip(request)
        )
        return Response({"result": result.outcome})


class StockFilter(django_filters.FilterSet):
    facility = django_filters.UUIDFilter(field_name="facility__public_id")
    drug = django_filters.CharFilter(field_name="drug__code")

    class Meta:
        model = FacilityStock
        fields = ["facility", "drug"]


class StockMovementFilter(django_filters.FilterSet):
    facility = django_filters.UUIDFilter(field_name="facility__public_id")
    drug = django_filters.CharFilter(field_name="drug__code")
    reason = django_filters.CharFilter()

    class Meta:
        model = StockMovement
        fields = ["facility", "drug", "reason"]


class StockViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """What is on the shelves: staff and terminals see their facility's, operations all."""

    serializer_class = StockOutputSerializer
    filterset_class = StockFilter
    queryset = FacilityStock.objects.none()

    def get_queryset(self) -> QuerySet[FacilityStock]:
        return selectors.stock_visible_to(actor=actor_from_request(self.request)).order_by(
            "facility__code", "drug__code"
        )

    def _facility(self, actor: Actor, public_id: Any) -> Facility:
        """The facility to adjust: named (operations; staff may name their own), or the staff
        member's. Roles that never keep stock are refused before anything is looked up."""
        stock.require_stock_keeper_role(actor)
        if public_id is not None:
            return facility_get_for_actor(actor=actor, public_id=public_id)
        if actor.facility_id is None:
            raise DomainError(
                "Say which facility.", code="facility_required", fields={"facility": ["Required."]}
            )
        return Facility.objects.get(pk=actor.facility_id)

    @extend_schema(
        request=StockAdjustInputSerializer,
        responses={201: StockMovementSerializer},
        description="Receive, correct or write off packs (a reason is required); staff adjust "
        "their own facility, operations name the facility.",
    )
    @action(detail=False, methods=["post"], filterset_class=None)
    def adjust(self, request: Request) -> Response:
        actor = actor_from_request(request)
        data = StockAdjustInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        facility = self._facility(actor, values.get("facility"))
        drug = Drug.objects.filter(code=values["drug"]).first()
        if drug is None:
            raise NotFoundError("No such drug in the formulary.", code="drug_not_found")
        movement = stock.stock_adjust(
            actor=actor,
            facility=facility,
            drug=drug,
            change=values["change"],
            reason=values["reason"],
            note=values["note"],
        )
        return Response(StockMovementSerializer(movement).data, status=status.HTTP_201_CREATED)


class StockMovementViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """Every change of the shelves, newest first: staff their facility's, operations all."""

    serializer_class = StockMovementSerializer
    filterset_class = StockMovementFilter
    queryset = StockMovement.objects.none()

    def get_queryset(self) -> QuerySet[StockMovement]:
        return selectors.stock_movements_visible_to(
            actor=actor_from_request(self.request)
        ).order_by("-occurred_at", "-pk")
