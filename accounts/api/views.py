from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import DoctorSerializer, MeSerializer
from accounts.models import DoctorProfile
from accounts.selectors import doctors_visible_to
from clinics.models import Facility
from core.actors import actor_from_request


class MeView(APIView):
    """Who the bearer of this token (or device credential) is, and where they act from."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        actor = actor_from_request(request)
        facility = (
            Facility.objects.filter(pk=actor.facility_id)
            .values_list("public_id", flat=True)
            .first()
            if actor.facility_id
            else None
        )
        return Response(
            MeSerializer({"user": actor.user, "role": actor.role, "facility": facility}).data
        )


class DoctorViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    serializer_class = DoctorSerializer
    filterset_fields = {"department__public_id": ["exact"], "title": ["exact"]}

    def get_queryset(self) -> QuerySet[DoctorProfile]:
        return doctors_visible_to(actor=actor_from_request(self.request))
