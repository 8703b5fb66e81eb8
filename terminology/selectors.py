"""Reads of the code tables. Reference data: any authenticated caller may search it."""

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from terminology.models import Icd10Code


def icd10_search(*, query: str = "", chronic_only: bool = False) -> QuerySet[Icd10Code]:
    """Active codes whose code starts with, or whose Chinese or English name contains, `query`.

    An exact code comes first, then codes starting with the query, then name matches.
    """
    codes = Icd10Code.objects.filter(is_active=True)
    if chronic_only:
        codes = codes.filter(is_chronic=True)
    query = query.strip()
    if not query:
        return codes.order_by("code")
    return (
        codes.filter(
            Q(code__istartswith=query) | Q(name_zh__icontains=query) | Q(name_en__icontains=query)
        )
        .annotate(
            rank=Case(
                When(code__iexact=query, then=Value(0)),
                When(code__istartswith=query, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("rank", "code")
    )


def icd10_get(*, code: str) -> Icd10Code | None:
    """The active code, or None."""
    return Icd10Code.objects.filter(code=code.strip().upper(), is_active=True).first()
