"""Checking emitted resources against the `fhir.resources` models.

fhir.resources 8 ships FHIR R5 as its default models and R4B (4.3.0) as a subpackage; it has no
R4 (4.0.1) models any more. The facade emits R4 JSON and validates it with the R4B models,
which for every type served here have the same elements and cardinalities as R4.
"""

from typing import Any

from fhir.resources.R4B import get_fhir_model_class

FHIR_MODELS_VERSION = "4.3.0"


def validate_resource(resource: dict[str, Any]) -> None:
    """Raise pydantic's ValidationError when the resource does not fit its model (unknown or
    misspelt elements, wrong cardinality, malformed primitives, missing required elements)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def validate_response(body: dict[str, Any]) -> None:
    """A resource, or a Bundle and every resource in it."""
    validate_resource(body)
    if body.get("resourceType") == "Bundle":
        for entry in body.get("entry", []):
            validate_resource(entry["resource"])
