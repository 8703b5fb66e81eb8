"""What the facade tells clients about itself: the CapabilityStatement (`/fhir/metadata`) and
the SMART configuration (`/fhir/.well-known/smart-configuration`), both built from the
registry so they never drift from what is served."""

from typing import Any

from django.conf import settings
from django.utils import timezone

from interop.fhir import datatypes as dt
from interop.fhir.resources import REGISTRY

FHIR_VERSION = "4.0.1"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
RESTFUL_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"


def _resource(name: str) -> dict[str, Any]:
    resource_type = REGISTRY[name]
    params = [
        {"name": "_id", "type": "token", "documentation": "The resource id"},
    ]
    if resource_type.supports_last_updated:
        params.append({"name": "_lastUpdated", "type": "date", "documentation": "meta.lastUpdated"})
    params += [
        {"name": param, "type": spec.type, "documentation": spec.documentation}
        for param, spec in sorted(resource_type.params.items())
    ]
    entry: dict[str, Any] = {
        "type": name,
        "documentation": resource_type.documentation,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": params,
    }
    if resource_type.includes:
        entry["searchInclude"] = sorted(resource_type.includes)
    return entry


def capability_statement(*, base_url: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "url": f"{base_url}/metadata",
        "name": "TelehealthFhirFacade",
        "title": "Telehealth platform: read-only FHIR R4 facade",
        "status": "active",
        "experimental": False,
        "date": dt.date(timezone.localdate()),
        "publisher": settings.NOTIFICATION_HOSPITAL_NAME,
        "kind": "instance",
        "software": {"name": "Telehealth platform FHIR facade"},
        "implementation": {
            "description": "Read-only view of the remote-care network's records",
            "url": base_url,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Search results are paged Bundles (_count, at most "
                f"{settings.FHIR_MAX_PAGE_SIZE}; follow the next link). Unknown search "
                "parameters are refused with 400.",
                "security": {
                    "extension": [
                        {
                            "url": OAUTH_URIS,
                            "extension": [{"url": "token", "valueUri": f"{base_url}/auth/token"}],
                        }
                    ],
                    "cors": False,
                    "service": [
                        dt.concept(dt.coding(RESTFUL_SECURITY_SERVICE, "SMART-on-FHIR")),
                        dt.concept(dt.coding(RESTFUL_SECURITY_SERVICE, "OAuth")),
                    ],
                    "description": "Users: the platform's bearer tokens (POST "
                    "/api/v1/auth/token/), under the same access rules as the REST API. System "
                    "clients: client credentials at auth/token for a bearer token with SMART "
                    "system scopes (system/<Type>.read, system/*.read).",
                },
                "resource": [_resource(name) for name in REGISTRY],
            }
        ],
    }


def smart_configuration(*, base_url: str) -> dict[str, Any]:
    return {
        "token_endpoint": f"{base_url}/auth/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "scopes_supported": ["system/*.read", *(f"system/{name}.read" for name in REGISTRY)],
        "capabilities": ["client-confidential-symmetric"],
    }
