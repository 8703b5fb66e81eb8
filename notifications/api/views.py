from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import Role
from core.actors import actor_from_request, client_ip
from core.api import UUID_PATTERN
from core.exceptions import PermissionDeniedError
from notifications import otp, selectors, services
from notifications.api.serializers import (
    DeadNotificationSerializer,
    InAppMessageSerializer,
    OtpRequestedSerializer,
    OtpRequestSerializer,
    OtpVerifySerializer,
    PreferenceSerializer,
    TokenPairSerializer,
    UnreadCountSerializer,
)
from notifications.models import InAppMessage, Notification


class InAppMessageViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """The caller's own in-app notifications, newest first (`?unread=true`: unread only)."""

    serializer_class = InAppMessageSerializer
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self) -> QuerySet[InAppMessage]:
        messages = selectors.in_app_messages_visible_to(actor=actor_from_request(self.request))
        if self.request.query_params.get("unread", "").lower() in ("true", "1"):
            messages = messages.filter(read_at__isnull=True)
        return messages

    @extend_schema(parameters=[OpenApiParameter("unread", bool, description="Only unread ones")])
    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses=InAppMessageSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, public_id: str) -> Response:
        message = services.in_app_message_mark_read(
            actor=actor_from_request(request), public_id=public_id
        )
        return Response(InAppMessageSerializer(message).data)

    @extend_schema(responses=UnreadCountSerializer)
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request: Request) -> Response:
        count = selectors.in_app_unread_count(actor=actor_from_request(request))
        return Response({"unread": count})


class DeadNotificationViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """Operations: notifications that could not be delivered, with the last error."""

    serializer_class = DeadNotificationSerializer
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Notification.objects.none()
        actor = actor_from_request(self.request)
        if not actor.has_role(Role.OPERATIONS):
            raise PermissionDeniedError("Only operations see undelivered notifications.")
        return selectors.dead_notifications_visible_to(actor=actor).select_related(
            "recipient_user", "recipient_patient"
        )


class NotificationRetryView(APIView):
    """Operations: send a dead notification again (dead → pending)."""

    @extend_schema(request=None, responses=DeadNotificationSerializer)
    def post(self, request: Request, public_id: str) -> Response:
        row = services.notification_retry_dead(
            actor=actor_from_request(request), public_id=public_id
        )
        return Response(DeadNotificationSerializer(row).data)


class PreferenceView(APIView):
    """The caller's notification channels (defaults by role until set)."""

    @extend_schema(responses=PreferenceSerializer)
    def get(self, request: Request) -> Response:
        actor = actor_from_request(request)
        return Response({"channels": list(services.preferred_channels(user=actor.user))})

    @extend_schema(request=PreferenceSerializer, responses=PreferenceSerializer)
    def put(self, request: Request) -> Response:
        serializer = PreferenceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        preference = services.notification_preference_set(
            actor=actor_from_request(request), channels=serializer.validated_data["channels"]
        )
        return Response({"channels": preference.channels})


class OtpRequestView(APIView):
    """Send a one-time sign-in code to a patient's phone. The answer is the same whether or not
    the number belongs to a patient."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(request=OtpRequestSerializer, responses={202: OtpRequestedSerializer})
    def post(self, request: Request) -> Response:
        serializer = OtpRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        otp.login_code_request(phone=serializer.validated_data["phone"])
        return Response(
            {
                "detail": "If the number belongs to a patient, a code has been sent.",
                "expires_in": settings.LOGIN_CODE_TTL_SECONDS,
            },
            status=status.HTTP_202_ACCEPTED,
        )


class OtpVerifyView(APIView):
    """Exchange phone + code for a token pair of the patient's account."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(request=OtpVerifySerializer, responses=TokenPairSerializer)
    def post(self, request: Request) -> Response:
        serializer = OtpVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = otp.login_code_verify(
            phone=serializer.validated_data["phone"],
            code=serializer.validated_data["code"],
            ip_address=client_ip(request),
        )
        refresh = RefreshToken.for_user(user)
        return Response({"access": str(refresh.access_token), "refresh": str(refresh)})
