"""Quality API: the survey link (no sign-in), complaints, clinical quality reviews, and the
dashboard with its CSV export."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_from_request, client_ip
from core.api import UUID_PATTERN
from quality.api.serializers import (
    CloseInputSerializer,
    ComplaintDetailSerializer,
    ComplaintInputSerializer,
    ComplaintOutputSerializer,
    DashboardQuerySerializer,
    FeedbackInputSerializer,
    FeedbackResultSerializer,
    FeedbackSurveySerializer,
    ReplyInputSerializer,
    ReviewMaterialSerializer,
    ReviewOutputSerializer,
    ReviewScoreInputSerializer,
    TriageInputSerializer,
    WithdrawInputSerializer,
)
from quality.exports import csv_response
from quality.models import Complaint, ReviewAssignment
from quality.selectors import complaints as complaint_selectors
from quality.selectors import reviews as review_selectors
from quality.selectors.dashboard import QualityDashboard, period_from, quality_dashboard
from quality.selectors.feedback import feedback_invitation_from_token
from quality.services import complaints, reviews
from quality.services.feedback import FeedbackAnswers, feedback_submit
from quality.services.reviews import ReviewScores


class FeedbackView(APIView):
    """The survey behind the link in the patient's message: no sign-in, the signed token is the
    credential. GET describes the visit (nothing about the patient); POST answers, once."""

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=FeedbackSurveySerializer, auth=[])
    def get(self, request: Request, token: str) -> Response:
        invitation = feedback_invitation_from_token(token=token)
        return Response(FeedbackSurveySerializer(invitation).data)

    @extend_schema(
        request=FeedbackInputSerializer,
        responses={201: FeedbackResultSerializer},
        auth=[],
        description="Scores 1–5 and an optional comment. A second answer for the same visit "
        "(even a concurrent one) is refused with 409 `feedback_already_submitted`; an expired "
        "link with 410 `feedback_link_expired`.",
    )
    def post(self, request: Request, token: str) -> Response:
        data = FeedbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        response = feedback_submit(
            token=token,
            answers=FeedbackAnswers(**data.validated_data),
            language=getattr(request, "LANGUAGE_CODE", ""),
            ip_address=client_ip(request),
        )
        return Response(FeedbackResultSerializer(response).data, status=status.HTTP_201_CREATED)


class ComplaintViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """Patients and clinic staff file and follow their complaints; operations see them all and
    triage, answer and close them."""

    serializer_class = ComplaintOutputSerializer
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN
    filterset_fields = {
        "status": ["exact"],
        "severity": ["exact"],
        "category": ["exact"],
        "subject_kind": ["exact"],
    }
    queryset = Complaint.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self) -> QuerySet[Complaint]:
        return complaint_selectors.complaints_visible_to(
            actor=actor_from_request(self.request)
        ).order_by("-created_at", "-pk")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())) or [])
        complaint_selectors.complaints_record_list_read(
            actor=actor_from_request(request), complaints=page
        )
        return self.get_paginated_response(ComplaintOutputSerializer(page, many=True).data)

    def _complaint(self, public_id: str) -> Complaint:
        return complaint_selectors.complaint_get_for_actor(
            actor=actor_from_request(self.request), public_id=public_id
        )

    def _detail(self, complaint: Complaint, code: int = status.HTTP_200_OK) -> Response:
        detailed = complaint_selectors.complaint_get_for_actor(
            actor=actor_from_request(self.request), public_id=complaint.public_id
        )
        return Response(ComplaintDetailSerializer(detailed).data, status=code)

    @extend_schema(responses=ComplaintDetailSerializer)
    def retrieve(self, request: Request, public_id: str) -> Response:
        return Response(ComplaintDetailSerializer(self._complaint(public_id)).data)

    @extend_schema(
        request=ComplaintInputSerializer,
        responses={201: ComplaintDetailSerializer},
        description="A patient about their own consultation, prescription, payment (order) or "
        "delivery (fulfilment); clinic staff about one of their facility's.",
    )
    def create(self, request: Request) -> Response:
        data = ComplaintInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        complaint = complaints.complaint_file(
            actor=actor_from_request(request),
            subject_kind=data.validated_data["subject_kind"],
            subject_id=data.validated_data["subject"],
            description=data.validated_data["description"],
        )
        return self._detail(complaint, status.HTTP_201_CREATED)

    @extend_schema(request=TriageInputSerializer, responses=ComplaintDetailSerializer)
    @action(detail=True, methods=["post"])
    def triage(self, request: Request, public_id: str) -> Response:
        actor = actor_from_request(request)
        data = TriageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        complaint = self._complaint(public_id)
        complaints.require_operations(actor)
        assignee = complaint_selectors.complaint_assignee_get(
            public_id=data.validated_data["assignee"]
        )
        return self._detail(
            complaints.complaint_triage(
                actor=actor,
                complaint=complaint,
                category=data.validated_data["category"],
                severity=data.validated_data["severity"],
                assignee=assignee,
            )
        )

    @extend_schema(request=ReplyInputSerializer, responses=ComplaintDetailSerializer)
    @action(detail=True, methods=["post"])
    def reply(self, request: Request, public_id: str) -> Response:
        data = ReplyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._detail(
            complaints.complaint_reply(
                actor=actor_from_request(request),
                complaint=self._complaint(public_id),
                body=data.validated_data["body"],
            )
        )

    @extend_schema(request=CloseInputSerializer, responses=ComplaintDetailSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, public_id: str) -> Response:
        data = CloseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._detail(
            complaints.complaint_close(
                actor=actor_from_request(request),
                complaint=self._complaint(public_id),
                resolution=data.validated_data["resolution"],
            )
        )

    @extend_schema(request=WithdrawInputSerializer, responses=ComplaintDetailSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, public_id: str) -> Response:
        data = WithdrawInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._detail(
            complaints.complaint_withdraw(
                actor=actor_from_request(request),
                complaint=self._complaint(public_id),
                reason=data.validated_data["reason"],
            )
        )


class ReviewViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """Reviewers (doctors, pharmacists) list and score the work assigned to them; operations
    follow every assignment and its scores."""

    serializer_class = ReviewOutputSerializer
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN
    filterset_fields = {"status": ["exact"], "kind": ["exact"]}
    queryset = ReviewAssignment.objects.none()

    def get_queryset(self) -> QuerySet[ReviewAssignment]:
        return review_selectors.reviews_visible_to(actor=actor_from_request(self.request)).order_by(
            "status", "due_at", "pk"
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())) or [])
        review_selectors.reviews_record_list_read(
            actor=actor_from_request(request), assignments=page
        )
        return self.get_paginated_response(ReviewOutputSerializer(page, many=True).data)

    @extend_schema(
        responses=ReviewOutputSerializer,
        description="The assigned reviewer also gets `material`: the record and prescription "
        "under review (an audited read of them).",
    )
    def retrieve(self, request: Request, public_id: str) -> Response:
        actor = actor_from_request(request)
        assignment = review_selectors.review_get_for_actor(actor=actor, public_id=public_id)
        body = dict(ReviewOutputSerializer(assignment).data)
        if assignment.reviewer_id == actor.user_id:
            material = review_selectors.review_material(actor=actor, assignment=assignment)
            body["material"] = ReviewMaterialSerializer(material).data
        return Response(body)

    @extend_schema(request=ReviewScoreInputSerializer, responses=ReviewOutputSerializer)
    @action(detail=True, methods=["post"])
    def score(self, request: Request, public_id: str) -> Response:
        actor = actor_from_request(request)
        data = ReviewScoreInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = review_selectors.review_get_for_actor(actor=actor, public_id=public_id)
        scored = reviews.review_score(
            actor=actor, assignment=assignment, scores=ReviewScores(**data.validated_data)
        )
        return Response(
            ReviewOutputSerializer(
                review_selectors.reviews_visible_to(actor=actor).get(pk=scored.pk)
            ).data
        )


DASHBOARD_PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: 29 days ago)"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, included (default: today)"),
    OpenApiParameter("by", OpenApiTypes.STR, enum=["facility", "city", "department", "doctor"]),
    OpenApiParameter("city", OpenApiTypes.STR, description="Only facilities of this city"),
]


def _dashboard(request: Request) -> QualityDashboard:
    query = DashboardQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    values = query.validated_data
    return quality_dashboard(
        actor=actor_from_request(request),
        period=period_from(values.get("start"), values.get("end")),
        by=values["by"],
        city=values["city"].strip(),
    )


class DashboardView(APIView):
    """Operations only: service quality per facility, city, department or doctor."""

    @extend_schema(parameters=DASHBOARD_PARAMETERS, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        dashboard = _dashboard(request)
        return Response(
            {
                "period": {
                    "start": dashboard.period.start.isoformat(),
                    "end": dashboard.period.end.isoformat(),
                },
                "by": dashboard.by,
                "city": dashboard.city,
                "totals": dashboard.totals.as_dict(),
                "rows": [row.as_dict() for row in dashboard.rows],
            }
        )


class DashboardExportView(APIView):
    """The same figures as CSV."""

    @extend_schema(parameters=DASHBOARD_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request) -> HttpResponse:
        dashboard = _dashboard(request)
        return csv_response(dashboard)
