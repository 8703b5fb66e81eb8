"""ICD-10 search for diagnosis pickers (evidence upload, consultation diagnosis, prescriptions)."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets

from core.exceptions import NotFoundError
from terminology import selectors
from terminology.api.serializers import Icd10CodeSerializer
from terminology.models import Icd10Code

# "I10", "E11.9": the resolver turns anything else in the code position into a 404.
CODE_PATTERN = r"[A-Za-z][0-9]{2}(?:\.[0-9A-Za-z]{1,4})?"


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "q", str, description="Code prefix (E11) or part of the Chinese or English name"
            ),
            OpenApiParameter("chronic", bool, description="Only chronic diseases"),
        ]
    )
)
class Icd10CodeViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = Icd10CodeSerializer
    lookup_field = "code"
    lookup_value_regex = CODE_PATTERN
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Icd10Code]:
        params = self.request.query_params
        return selectors.icd10_search(
            query=params.get("q", ""),
            chronic_only=params.get("chronic", "").lower() in ("1", "true", "yes"),
        )

    def get_object(self) -> Icd10Code:
        code = selectors.icd10_get(code=self.kwargs["code"])
        if code is None:
            raise NotFoundError("No such ICD-10 code.")
        return code
