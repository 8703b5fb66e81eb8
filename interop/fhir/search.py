"""Read and search over the registered resource types: scope checks, filters, paging Bundles,
`_include`, and the audit rows of what was shown.

Queries per request do not grow with the page: per source one count and one page query (plus
its fixed prefetches), one query per `_include`d type source, one audit INSERT per object type.
"""

import operator
import uuid
from collections.abc import Sequence
from functools import reduce
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.models import AuditAction
from core.services import audit_record
from interop.fhir import datatypes as dt
from interop.fhir.caller import FhirCaller
from interop.fhir.outcome import FhirError, issue, operation_outcome
from interop.fhir.params import NOTHING, date_filter, invalid
from interop.fhir.registry import MapContext, ResourceType, Source
from interop.fhir.resources import REGISTRY

# Parameters every search understands besides the type's own.
RESULT_PARAMS = ("_count", "_offset", "_include")
# Accepted and ignored: JSON is the only format, and it is always compact.
IGNORED_PARAMS = ("_format", "_pretty")
JSON_FORMATS = ("json", "application/json", "application/fhir+json")


def resource_type_get(name: str) -> ResourceType:
    resource_type = REGISTRY.get(name)
    if resource_type is None:
        raise FhirError(
            404,
            f"This server has no resource type {name!r}.",
            code="not-supported",
            detail_code="resource_type_unknown",
        )
    return resource_type


def _require_scope(caller: FhirCaller, name: str) -> None:
    if not caller.may_read(name):
        raise FhirError(
            403,
            f"The token's scopes do not cover reading {name} (system/{name}.read).",
            detail_code="insufficient_scope",
        )


def _audit(caller: FhirCaller, shown: Sequence[tuple[str, Source, Any]]) -> None:
    """One audit row per patient-data object shown (deduplicated), one INSERT per kind."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, source, row in shown:
        target = source.audit(row) if source.audit is not None else None
        if target is None:
            continue
        ids = groups.setdefault((target.object_type, name), [])
        if target.object_id not in ids:
            ids.append(target.object_id)
    for (object_type, name), ids in groups.items():
        audit_record(
            actor=caller.audit_actor,
            action=AuditAction.READ,
            object_type=object_type,
            object_ids=ids,
            detail=caller.audit_detail | {"resource": name},
        )


def read(*, caller: FhirCaller, name: str, resource_id: str) -> dict[str, Any]:
    resource_type = resource_type_get(name)
    _require_scope(caller, name)
    for source in resource_type.sources:
        condition = source.id_filter(resource_id)
        if condition is None:
            continue
        row = source.rows(caller.actor).filter(condition).first()
        if row is not None:
            resource = source.to_resource(row, MapContext(caller))
            _audit(caller, [(name, source, row)])
            return resource
    raise FhirError(404, f"{name}/{resource_id} is not known.", detail_code="not_found")


def any_of(conditions: list[Q]) -> Q:
    """The alternatives ORed; none matches nothing, and an empty Q (no restriction) wins (Q's
    own `|` would drop an empty operand instead)."""
    if not conditions:
        return NOTHING
    if any(not condition for condition in conditions):
        return Q()
    return reduce(operator.or_, conditions)


def _id_filter(source: Source, values: list[str]) -> Q:
    found = [source.id_filter(value) for value in values]
    return any_of([condition for condition in found if condition is not None])


def _source_queryset(
    source: Source,
    caller: FhirCaller,
    criteria: list[tuple[str, list[str]]],
) -> QuerySet[Any]:
    rows = source.rows(caller.actor)
    for param, values in criteria:
        if param == "_id":
            condition = _id_filter(source, values)
        elif param == "_lastUpdated":
            if source.last_updated is None:
                return rows.none()
            build = date_filter(source.last_updated)
            condition = any_of([build(value) for value in values])
        elif param in source.filters:
            build = source.filters[param]
            condition = any_of([build(value) for value in values])
        else:
            # The type knows the parameter, this table cannot hold a match (Condition?encounter=
            # names no prior-diagnosis evidence).
            return rows.none()
        rows = rows.filter(condition)
    return rows.order_by(*source.order_by)


def _criteria(
    resource_type: ResourceType, params: Sequence[tuple[str, str]]
) -> tuple[list[tuple[str, list[str]]], int, int, list[str]]:
    criteria: list[tuple[str, list[str]]] = []
    count = settings.FHIR_PAGE_SIZE
    offset = 0
    includes: list[str] = []
    for key, value in params:
        if key in IGNORED_PARAMS:
            if key == "_format" and value not in JSON_FORMATS:
                raise FhirError(406, "Only JSON is served.", detail_code="format_unsupported")
            continue
        if key == "_count":
            if not value.isdigit():
                raise invalid("_count must be a non-negative integer.")
            count = min(int(value), settings.FHIR_MAX_PAGE_SIZE)
        elif key == "_offset":
            if not value.isdigit():
                raise invalid("_offset must be a non-negative integer.")
            offset = int(value)
        elif key == "_include":
            if value not in resource_type.includes:
                raise FhirError(
                    400,
                    f"Unsupported _include {value!r}; supported: "
                    f"{', '.join(sorted(resource_type.includes)) or 'none'}.",
                    code="not-supported",
                    detail_code="include_unsupported",
                )
            includes.append(value)
        elif (
            key == "_id"
            or key in resource_type.params
            or (key == "_lastUpdated" and resource_type.supports_last_updated)
        ):
            values = [part.strip() for part in value.split(",") if part.strip()]
            if not values:
                raise invalid(f"{key} needs a value.")
            criteria.append((key, values))
        else:
            raise FhirError(
                400,
                f"Unsupported search parameter {key!r} for {resource_type.name}.",
                code="not-supported",
                detail_code="search_parameter_unsupported",
            )
    return criteria, count, offset, includes


def _page(
    querysets: list[tuple[Source, QuerySet[Any]]], *, offset: int, count: int
) -> tuple[list[tuple[Source, Any]], int]:
    """The page's rows across the sources in order, and the total."""
    totals = [queryset.count() for _source, queryset in querysets]
    rows: list[tuple[Source, Any]] = []
    skip = offset
    for (source, queryset), total in zip(querysets, totals, strict=True):
        if len(rows) >= count:
            break
        if skip >= total:
            skip -= total
            continue
        take = count - len(rows)
        rows.extend((source, row) for row in queryset[skip : skip + take])
        skip = 0
    return rows, sum(totals)


def _included(
    caller: FhirCaller,
    context: MapContext,
    matches: list[dict[str, Any]],
    include: str,
    resource_type: ResourceType,
) -> tuple[list[tuple[str, Source, Any, dict[str, Any]]], str | None]:
    """The resources an `_include` names that the caller may see (others are left out, as a
    read of them would answer not found)."""
    spec = resource_type.includes[include]
    if not caller.may_read(spec.target):
        return [], f"{include}: the token's scopes do not cover {spec.target}; not included."
    wanted: list[str] = []
    for resource in matches:
        for ref in spec.references(resource):
            kind, _, resource_id = ref.partition("/")
            if kind == spec.target and resource_id not in wanted:
                wanted.append(resource_id)
    if not wanted:
        return [], None
    target = REGISTRY[spec.target]
    found: list[tuple[str, Source, Any, dict[str, Any]]] = []
    for source in target.sources:
        if all(source.id_filter(resource_id) is None for resource_id in wanted):
            continue
        condition = _id_filter(source, wanted)
        for row in source.rows(caller.actor).filter(condition).order_by(*source.order_by):
            found.append((spec.target, source, row, source.to_resource(row, context)))
    return found, None


def _link(base_url: str, name: str, params: list[tuple[str, str]], **paging: int) -> str:
    query = [(key, value) for key, value in params if key not in ("_count", "_offset")]
    query += [(key, str(value)) for key, value in paging.items()]
    return f"{base_url}/{name}?{urlencode(query)}"


def search(
    *, caller: FhirCaller, name: str, params: Sequence[tuple[str, str]], base_url: str
) -> dict[str, Any]:
    resource_type = resource_type_get(name)
    _require_scope(caller, name)
    criteria, count, offset, includes = _criteria(resource_type, params)
    querysets = [
        (source, _source_queryset(source, caller, criteria)) for source in resource_type.sources
    ]
    rows, total = _page(querysets, offset=offset, count=count)
    context = MapContext(caller)
    matches = [source.to_resource(row, context) for source, row in rows]
    shown: list[tuple[str, Source, Any]] = [(name, source, row) for source, row in rows]

    entries = [
        {
            "fullUrl": f"{base_url}/{name}/{resource['id']}",
            "resource": resource,
            "search": {"mode": "match"},
        }
        for resource in matches
    ]
    seen = {(name, resource["id"]) for resource in matches}
    warnings = []
    for include in includes:
        found, warning = _included(caller, context, matches, include, resource_type)
        if warning:
            warnings.append(issue(severity="warning", code="suppressed", diagnostics=warning))
        for target_name, source, row, resource in found:
            if (target_name, resource["id"]) in seen:
                continue
            seen.add((target_name, resource["id"]))
            shown.append((target_name, source, row))
            entries.append(
                {
                    "fullUrl": f"{base_url}/{target_name}/{resource['id']}",
                    "resource": resource,
                    "search": {"mode": "include"},
                }
            )
    if warnings:
        entries.append({"resource": operation_outcome(*warnings), "search": {"mode": "outcome"}})
    _audit(caller, shown)

    echoed = [(key, value) for key, value in params if key not in IGNORED_PARAMS]
    links = [
        {"relation": "self", "url": _link(base_url, name, echoed, _count=count, _offset=offset)}
    ]
    if count and offset + count < total:
        links.append(
            {
                "relation": "next",
                "url": _link(base_url, name, echoed, _count=count, _offset=offset + count),
            }
        )
    if offset > 0 and count:
        links.append(
            {
                "relation": "previous",
                "url": _link(base_url, name, echoed, _count=count, _offset=max(offset - count, 0)),
            }
        )
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": dt.instant(timezone.now())},
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": entries,
    }
