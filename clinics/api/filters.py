import django_filters
from django.db.models import Q, QuerySet

from clinics.models import Facility, FacilityType, Terminal, TerminalStatus


class FacilityFilter(django_filters.FilterSet):
    facility_type = django_filters.ChoiceFilter(choices=FacilityType.choices)
    province = django_filters.CharFilter()
    city = django_filters.CharFilter()
    district = django_filters.CharFilter()
    is_active = django_filters.BooleanFilter()
    is_licensed_medical_institution = django_filters.BooleanFilter()
    q = django_filters.CharFilter(method="filter_q", label="Name or code contains")

    class Meta:
        model = Facility
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[Facility], name: str, value: str) -> QuerySet[Facility]:
        return queryset.filter(Q(name__icontains=value) | Q(code__icontains=value))


class TerminalFilter(django_filters.FilterSet):
    facility = django_filters.UUIDFilter(field_name="facility__public_id")
    status = django_filters.ChoiceFilter(choices=TerminalStatus.choices)

    class Meta:
        model = Terminal
        fields: list[str] = []
