"""Payments API: orders (list, detail, fulfilment choice, pay, refund, ledger), provider callbacks
and the operations reconciliation reports."""

import logging
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Role
from core.actors import actor_from_request, client_ip
from core.api import UUID_PATTERN
from core.exceptions import PermissionDeniedError
from payments import selectors
from payments.api.idempotency import idempotent
from payments.api.serializers import (
    FulfilmentInputSerializer,
    LedgerEntrySerializer,
    OrderDetailSerializer,
    OrderOutputSerializer,
    PayInputSerializer,
    PayOutputSerializer,
    ReconciliationDetailSerializer,
    ReconciliationRunSerializer,
    ReconciliationSerializer,
    RefundInputSerializer,
    RefundSerializer,
)
from payments.models import PaymentOrder, ReconciliationReport
from payments.services import orders, refunds
from payments.services.callbacks import callback_handle
from payments.services.gateways import gateway_for
from payments.services.reconciliation import reconciliation_run

logger = logging.getLogger(__name__)

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Same key + same body → the first response again; a different body → 422.",
)


class OrderViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    serializer_class = OrderOutputSerializer
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN
    filterset_fields = {"status": ["exact"], "needs_attention": ["exact"]}
    queryset = PaymentOrder.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self) -> QuerySet[PaymentOrder]:
        return selectors.orders_visible_to(actor=actor_from_request(self.request)).order_by(
            "-created_at", "-pk"
        )

    def _order(self, public_id: str) -> PaymentOrder:
        return selectors.order_get_for_actor(
            actor=actor_from_request(self.request), public_id=public_id
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())) or [])
        selectors.orders_record_list_read(actor=actor_from_request(request), orders=page)
        return self.get_paginated_response(OrderOutputSerializer(page, many=True).data)

    @extend_schema(responses=OrderDetailSerializer)
    def retrieve(self, request: Request, public_id: str) -> Response:
        return Response(OrderDetailSerializer(self._order(public_id)).data)

    @extend_schema(request=FulfilmentInputSerializer, responses=OrderDetailSerializer)
    @action(detail=True, methods=["post"])
    def fulfilment(self, request: Request, public_id: str) -> Response:
        data = FulfilmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        address = data.validated_data.get("delivery_address")
        orders.order_choose_fulfilment(
            actor=actor_from_request(request),
            order=self._order(public_id),
            method=data.validated_data["method"],
            delivery_address=orders.DeliveryAddress(**address) if address else None,
            use_insurance=data.validated_data["use_insurance"],
        )
        return Response(OrderDetailSerializer(self._order(public_id)).data)

    @extend_schema(
        request=PayInputSerializer,
        responses=PayOutputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    def pay(self, request: Request, public_id: str) -> Response:
        """Issue (or reuse) the provider order and return what the payer opens."""

        def respond() -> Response:
            data = PayInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            started = orders.order_pay(
                actor=actor_from_request(request),
                order=self._order(public_id),
                **data.validated_data,
            )
            attempt = started.attempt
            payment = (
                None
                if attempt is None
                else {
                    "provider": attempt.provider,
                    "channel": attempt.channel,
                    "out_trade_no": attempt.out_trade_no,
                    "amount_fen": attempt.amount_fen,
                    "pay_url": attempt.pay_url,
                    "expires_at": attempt.expires_at,
                }
            )
            body = PayOutputSerializer({"order": started.order, "payment": payment}).data
            return Response(body)

        return idempotent(request, respond)

    @extend_schema(
        request=RefundInputSerializer,
        responses={202: RefundSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    def refund(self, request: Request, public_id: str) -> Response:
        """Operations refund part or all of what was paid; the provider confirms later."""

        def respond() -> Response:
            data = RefundInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            refund = refunds.order_refund(
                actor=actor_from_request(request),
                order=self._order(public_id),
                **data.validated_data,
            )
            refund.refresh_from_db()
            return Response(RefundSerializer(refund).data, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, respond)

    @extend_schema(responses=LedgerEntrySerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def ledger(self, request: Request, public_id: str) -> Response:
        """The order's payment ledger (operations)."""
        actor = actor_from_request(request)
        order = self._order(public_id)
        if not actor.has_role(Role.OPERATIONS):
            raise PermissionDeniedError("The ledger is for operations.")
        return Response(LedgerEntrySerializer(order.ledger.order_by("pk"), many=True).data)


class ReconciliationViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    serializer_class = ReconciliationSerializer
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN
    filterset_fields = {"provider": ["exact"], "bill_date": ["exact", "gte", "lte"]}
    queryset = ReconciliationReport.objects.none()

    def get_queryset(self) -> QuerySet[ReconciliationReport]:
        return selectors.reconciliation_reports_for(actor=actor_from_request(self.request))

    @extend_schema(responses=ReconciliationDetailSerializer)
    def retrieve(self, request: Request, public_id: str) -> Response:
        report = selectors.reconciliation_report_get(
            actor=actor_from_request(request), public_id=public_id
        )
        return Response(ReconciliationDetailSerializer(report).data)

    @extend_schema(request=ReconciliationRunSerializer, responses=ReconciliationDetailSerializer)
    def create(self, request: Request) -> Response:
        """Run (or re-run) one provider's day now."""
        data = ReconciliationRunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = reconciliation_run(
            actor=actor_from_request(request),
            provider=data.validated_data["provider"],
            bill_date=data.validated_data["date"],
        )
        report = selectors.reconciliation_report_get(
            actor=actor_from_request(request), public_id=report.public_id
        )
        return Response(ReconciliationDetailSerializer(report).data, status=status.HTTP_201_CREATED)


@csrf_exempt
@require_POST
def provider_notify(request: HttpRequest, provider: str) -> HttpResponse:
    """A provider's asynchronous notification: no authentication (the signature is the proof),
    the raw body, and exactly the reply the provider expects — never a 500."""
    try:
        reply = callback_handle(
            provider=provider,
            headers=dict(request.headers),
            body=request.body,
            remote_addr=client_ip(request),
        )
    except Exception:
        logger.exception("%s callback: not handled", provider)
        try:
            reply = gateway_for(provider).reply(accepted=False)
        except Exception:
            logger.exception("%s gateway unavailable", provider)
            return HttpResponse(b"unavailable", status=503, content_type="text/plain")
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
