"""Slots API (what can be booked) and schedule management (operations).

- `GET slots/` (`?department= &doctor= &date= &available=`), `GET slots/{id}/`
- `GET|PUT doctors/{id}/schedule/`: a doctor's weekly windows (PUT replaces them)
- `GET|POST schedule-exceptions/`, `DELETE schedule-exceptions/{id}/`: leave, holidays, extra hours

Every schedule change regenerates the slots at once and reports what changed.
"""

import datetime
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import DoctorProfile, Role
from consultations.models import ScheduleException, ScheduleExceptionKind, Slot, Weekday
from consultations.selectors import slots as selectors
from consultations.services import schedules
from core.actors import actor_from_request
from core.api import UUID_PATTERN

# --- Slots ------------------------------------------------------------------------------------


class SlotSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    doctor = serializers.UUIDField(source="doctor.user.public_id", read_only=True)
    doctor_name = serializers.CharField(source="doctor.user.full_name", read_only=True)
    doctor_title = serializers.CharField(source="doctor.title", read_only=True)
    department = serializers.UUIDField(source="department.public_id", read_only=True)
    department_name = serializers.CharField(source="department.name", read_only=True)
    fee_fen = serializers.IntegerField(source="department.consultation_fee_fen", read_only=True)
    available = serializers.SerializerMethodField()

    class Meta:
        model = Slot
        fields = [
            "id",
            "starts_at",
            "ends_at",
            "doctor",
            "doctor_name",
            "doctor_title",
            "department",
            "department_name",
            "fee_fen",
            "available",
        ]
        read_only_fields = fields

    def get_available(self, slot: Any) -> bool:
        """Bookable now: in the future, not withdrawn, no booking that is not cancelled."""
        return not (slot.is_booked or slot.is_withdrawn or slot.starts_at <= timezone.now())


class SlotFilter(django_filters.FilterSet):
    department = django_filters.UUIDFilter(field_name="department__public_id")
    doctor = django_filters.UUIDFilter(field_name="doctor__user__public_id")
    date = django_filters.DateFilter(method="filter_date", label="Local date (YYYY-MM-DD)")
    available = django_filters.BooleanFilter(method="filter_available")

    class Meta:
        model = Slot
        fields: list[str] = []

    def filter_date(self, slots: QuerySet[Slot], name: str, value: datetime.date) -> QuerySet[Slot]:
        return selectors.slots_on_day(slots, value)

    def filter_available(self, slots: QuerySet[Slot], name: str, value: bool) -> QuerySet[Slot]:
        return selectors.slots_by_availability(slots, available=value)


class SlotViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """Future, non-withdrawn slots for clinic staff, doctors and operations (others see none)."""

    serializer_class = SlotSerializer
    filterset_class = SlotFilter
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN
    queryset = Slot.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self) -> QuerySet[Slot]:
        return selectors.slots_upcoming(actor=actor_from_request(self.request))

    def retrieve(self, request: Request, public_id: str) -> Response:
        slot = selectors.slot_get_for_actor(actor=actor_from_request(request), public_id=public_id)
        return Response(SlotSerializer(slot).data)


# --- Schedules --------------------------------------------------------------------------------


class IsOperations(permissions.BasePermission):
    message = "Only operations manage doctors' schedules."

    def has_permission(self, request: Request, view: Any) -> bool:
        return actor_from_request(request).has_role(Role.OPERATIONS)


class SlotGenerationSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    withdrawn = serializers.IntegerField()
    restored = serializers.IntegerField()
    resized = serializers.IntegerField()
    kept_booked = serializers.IntegerField(
        help_text="Booked slots the schedule no longer covers: kept, to be rebooked by people"
    )


class WindowSerializer(serializers.Serializer):
    weekday = serializers.ChoiceField(choices=Weekday.choices, help_text="0 Monday … 6 Sunday")
    starts_at = serializers.TimeField(format="%H:%M")
    ends_at = serializers.TimeField(format="%H:%M")


class ScheduleInputSerializer(serializers.Serializer):
    windows = WindowSerializer(many=True, allow_empty=True)


class ScheduleExceptionOutputSerializer(serializers.ModelSerializer):
    doctor = serializers.UUIDField(source="doctor.user.public_id", read_only=True, default=None)
    doctor_name = serializers.CharField(source="doctor.user.full_name", read_only=True, default="")
    starts_at = serializers.TimeField(format="%H:%M", read_only=True)
    ends_at = serializers.TimeField(format="%H:%M", read_only=True)

    class Meta:
        model = ScheduleException
        fields = ["id", "doctor", "doctor_name", "kind", "date", "starts_at", "ends_at", "reason"]
        read_only_fields = fields


class ScheduleSerializer(serializers.Serializer):
    doctor = serializers.UUIDField()
    doctor_name = serializers.CharField()
    department = serializers.UUIDField()
    slot_minutes = serializers.IntegerField()
    can_be_scheduled = serializers.BooleanField()
    windows = WindowSerializer(many=True)
    exceptions = ScheduleExceptionOutputSerializer(
        many=True, help_text="Exceptions from today on, holidays for everyone included"
    )
    slots = SlotGenerationSerializer(required=False, help_text="After a change: what it did")


def _schedule(doctor: DoctorProfile, exceptions: QuerySet[ScheduleException]) -> dict[str, Any]:
    today = timezone.localdate()
    return {
        "doctor": doctor.user.public_id,
        "doctor_name": doctor.user.full_name,
        "department": doctor.department.public_id,
        "slot_minutes": doctor.department.slot_minutes,
        "can_be_scheduled": doctor.can_be_scheduled(today),
        "windows": list(selectors.doctor_weekly_windows(doctor=doctor)),
        "exceptions": list(
            selectors.schedule_exceptions_applying_to(
                exceptions, doctor_public_id=doctor.user.public_id
            ).filter(date__gte=today)
        ),
    }


class DoctorScheduleView(APIView):
    """A doctor's weekly pattern. PUT replaces every window and regenerates the slots."""

    permission_classes = [permissions.IsAuthenticated, IsOperations]

    def _doctor(self, request: Request, public_id: str) -> DoctorProfile:
        return selectors.doctor_get_for_actor(
            actor=actor_from_request(request), public_id=public_id
        )

    def _exceptions(self, request: Request) -> QuerySet[ScheduleException]:
        return selectors.schedule_exceptions_visible_to(actor=actor_from_request(request))

    @extend_schema(responses=ScheduleSerializer)
    def get(self, request: Request, public_id: str) -> Response:
        doctor = self._doctor(request, public_id)
        return Response(ScheduleSerializer(_schedule(doctor, self._exceptions(request))).data)

    @extend_schema(request=ScheduleInputSerializer, responses=ScheduleSerializer)
    def put(self, request: Request, public_id: str) -> Response:
        doctor = self._doctor(request, public_id)
        data = ScheduleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = schedules.doctor_schedule_set(
            actor=actor_from_request(request),
            doctor=doctor,
            windows=[schedules.WindowInput(**w) for w in data.validated_data["windows"]],
        )
        body = _schedule(doctor, self._exceptions(request)) | {"slots": result.as_dict()}
        return Response(ScheduleSerializer(body).data)


class ScheduleExceptionInputSerializer(serializers.Serializer):
    doctor = serializers.UUIDField(
        required=False, allow_null=True, help_text="Omit for a holiday that applies to everyone"
    )
    kind = serializers.ChoiceField(choices=ScheduleExceptionKind.choices)
    date = serializers.DateField()
    starts_at = serializers.TimeField(required=False, allow_null=True)
    ends_at = serializers.TimeField(required=False, allow_null=True)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class ScheduleExceptionCreatedSerializer(ScheduleExceptionOutputSerializer):
    """The created exception and what regenerating the slots did (schema only)."""

    slots = SlotGenerationSerializer(read_only=True)

    class Meta(ScheduleExceptionOutputSerializer.Meta):
        fields = [*ScheduleExceptionOutputSerializer.Meta.fields, "slots"]
        read_only_fields = fields


class ScheduleExceptionFilter(django_filters.FilterSet):
    doctor = django_filters.UUIDFilter(
        method="filter_doctor", label="The doctor's, and holidays for everyone"
    )
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = ScheduleException
        fields = ["kind"]

    def filter_doctor(
        self, exceptions: QuerySet[ScheduleException], name: str, value: Any
    ) -> QuerySet[ScheduleException]:
        return selectors.schedule_exceptions_applying_to(exceptions, doctor_public_id=value)


class ScheduleExceptionViewSet(
    viewsets.GenericViewSet, mixins.ListModelMixin, mixins.DestroyModelMixin
):
    """Leave, holidays and extra hours. Ids are integers: the model has no public UUID."""

    serializer_class = ScheduleExceptionOutputSerializer
    filterset_class = ScheduleExceptionFilter
    permission_classes = [permissions.IsAuthenticated, IsOperations]
    lookup_value_regex = r"[0-9]+"
    queryset = ScheduleException.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self) -> QuerySet[ScheduleException]:
        return selectors.schedule_exceptions_visible_to(actor=actor_from_request(self.request))

    @extend_schema(
        request=ScheduleExceptionInputSerializer,
        responses={201: ScheduleExceptionCreatedSerializer},
    )
    def create(self, request: Request) -> Response:
        actor = actor_from_request(request)
        data = ScheduleExceptionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        doctor_id = fields.pop("doctor", None)
        doctor = (
            selectors.doctor_get_for_actor(actor=actor, public_id=doctor_id) if doctor_id else None
        )
        exception, result = schedules.schedule_exception_add(actor=actor, doctor=doctor, **fields)
        body = {**ScheduleExceptionOutputSerializer(exception).data, "slots": result.as_dict()}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: SlotGenerationSerializer})
    def destroy(self, request: Request, pk: str) -> Response:
        actor = actor_from_request(request)
        exception = selectors.schedule_exception_get_for_actor(actor=actor, pk=int(pk))
        result = schedules.schedule_exception_remove(actor=actor, exception=exception)
        return Response(SlotGenerationSerializer(result.as_dict()).data)
