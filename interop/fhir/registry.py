"""How a FHIR resource type is served: where its rows come from (always an app's
`*_visible_to` selector, so the facade sees exactly what the REST API shows the same caller), how
a row becomes a resource, and which search parameters and includes it understands.

A type may draw on several tables (`Source`s): Condition comes from consultation diagnoses and
from prior-diagnosis evidence, Organization from the hospital and the facilities. Every row
becomes exactly one resource.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db.models import Q, QuerySet

from clinics.models import Hospital
from core.actors import Actor
from interop.fhir.caller import FhirCaller
from interop.fhir.datatypes import JSON


class MapContext:
    """What mappers share while one response is built: the caller (masking) and the hub
    hospital (every Practitioner and Encounter names it; fetched once, when first needed)."""

    def __init__(self, caller: FhirCaller) -> None:
        self.caller = caller

    @cached_property
    def hospital(self) -> Hospital | None:
        return Hospital.objects.order_by("pk").first()


@dataclass(frozen=True)
class AuditTarget:
    """What showing a row records in the audit log (the REST API's object types and ids)."""

    object_type: str
    object_id: str


@dataclass(frozen=True)
class Source:
    rows: Callable[[Actor], QuerySet[Any]]
    to_resource: Callable[[Any, MapContext], JSON]
    # The filter that finds a row by its resource id; None: no row of this source has that id.
    id_filter: Callable[[str], Q | None]
    order_by: tuple[str, ...]
    filters: dict[str, Callable[[str], Q]] = field(default_factory=dict)
    last_updated: str | None = None
    audit: Callable[[Any], AuditTarget | None] | None = None


@dataclass(frozen=True)
class SearchParam:
    type: str  # token, reference, date, string
    documentation: str


@dataclass(frozen=True)
class Include:
    target: str
    references: Callable[[JSON], list[str]]


@dataclass(frozen=True)
class ResourceType:
    name: str
    sources: tuple[Source, ...]
    params: dict[str, SearchParam] = field(default_factory=dict)
    includes: dict[str, Include] = field(default_factory=dict)
    documentation: str = ""

    @property
    def supports_last_updated(self) -> bool:
        return any(source.last_updated for source in self.sources)


def references_at(path: str) -> Callable[[JSON], list[str]]:
    """The `reference` values found at a dotted path of a resource, lists walked through
    (`"participant.actor"` → every participant's actor)."""
    steps = path.split(".")

    def collect(resource: JSON) -> list[str]:
        nodes: list[Any] = [resource]
        for step in steps:
            found: list[Any] = []
            for node in nodes:
                value = node.get(step) if isinstance(node, dict) else None
                if isinstance(value, list):
                    found.extend(value)
                elif value is not None:
                    found.append(value)
            nodes = found
        return [
            node["reference"] for node in nodes if isinstance(node, dict) and "reference" in node
        ]

    return collect


def uuid_id(field_name: str = "public_id") -> Callable[[str], Q | None]:
    """Rows whose resource id is their public UUID."""
    from interop.fhir.params import uuid_or_none

    def build(resource_id: str) -> Q | None:
        value = uuid_or_none(resource_id)
        if value is None or str(value) != resource_id.lower():
            return None
        return Q(**{field_name: value})

    return build


def composite_id(parent: Any, part: Any) -> str:
    """Rows without a UUID of their own: their parent's UUID and a part unique under it
    (`<consultation>-I10`, `<prescription>-2`)."""
    return f"{parent}-{part}"


def split_composite_id(resource_id: str) -> tuple[str, str] | None:
    from interop.fhir.params import uuid_or_none

    head, sep, part = resource_id[:36], resource_id[36:37], resource_id[37:]
    if sep != "-" or not part or uuid_or_none(head) is None:
        return None
    return head.lower(), part


def composite_filter(
    parent_field: str, part_filter: Callable[[str], Q | None]
) -> Callable[[str], Q | None]:
    def build(resource_id: str) -> Q | None:
        split = split_composite_id(resource_id)
        if split is None:
            return None
        part = part_filter(split[1])
        return None if part is None else Q(**{parent_field: split[0]}) & part

    return build


def integer_part(field_name: str) -> Callable[[str], Q | None]:
    def build(part: str) -> Q | None:
        return Q(**{field_name: int(part)}) if part.isdigit() and len(part) < 19 else None

    return build


def names(types: Iterable[ResourceType]) -> list[str]:
    return sorted(resource_type.name for resource_type in types)
