"""The CapabilityStatement and SMART configuration; system clients' credentials: the token
endpoint (RFC 6749 client credentials), scopes, revocation, rotation, expiry; the command."""

import base64
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from core.actors import SYSTEM_ACTOR
from core.exceptions import DomainError
from core.models import AuditEvent
from interop.fhir.clients import (
    TOKEN_PREFIX,
    IssuedClient,
    system_client_create,
    system_client_revoke,
    system_client_rotate_secret,
)
from interop.fhir.resources import REGISTRY
from interop.fhir.validation import validate_resource
from interop.models import SystemClient

pytestmark = pytest.mark.django_db


def test_capability_statement_lists_every_type_with_its_searches() -> None:
    response = APIClient().get("/fhir/metadata")
    statement = response.json()

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    validate_resource(statement)
    assert (statement["fhirVersion"], statement["kind"], statement["format"]) == (
        "4.0.1",
        "instance",
        ["application/fhir+json", "json"],
    )
    resources = {entry["type"]: entry for entry in statement["rest"][0]["resource"]}
    assert sorted(resources) == sorted(REGISTRY)
    encounter = resources["Encounter"]
    assert [i["code"] for i in encounter["interaction"]] == ["read", "search-type"]
    assert {p["name"] for p in encounter["searchParam"]} >= {
        "_id",
        "_lastUpdated",
        "patient",
        "date",
        "status",
    }
    assert "Encounter:patient" in encounter["searchInclude"]
    assert "MedicationRequest:patient" in resources["MedicationRequest"]["searchInclude"]
    assert "Appointment:patient" in resources["Appointment"]["searchInclude"]
    security = statement["rest"][0]["security"]
    assert security["extension"][0]["extension"] == [
        {"url": "token", "valueUri": "http://testserver/fhir/auth/token"}
    ]


def test_smart_configuration_names_the_token_endpoint_and_scopes() -> None:
    config = APIClient().get("/fhir/.well-known/smart-configuration").json()

    assert config["token_endpoint"] == "http://testserver/fhir/auth/token"
    assert config["grant_types_supported"] == ["client_credentials"]
    assert "system/*.read" in config["scopes_supported"]
    assert "system/MedicationRequest.read" in config["scopes_supported"]


def _client(*scopes: str, client_id: str = "regional-hie") -> IssuedClient:
    return system_client_create(
        actor=SYSTEM_ACTOR,
        client_id=client_id,
        name="广州市全民健康信息平台",
        scopes=scopes,
        known_types=REGISTRY,
    )


def _post_form(form: dict[str, str], authorization: str = "") -> Any:
    """Token requests are form-encoded (RFC 6749 §4.4.2)."""
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client.post(
        "/fhir/auth/token", urlencode(form), content_type="application/x-www-form-urlencoded"
    )


def _token(issued: IssuedClient, secret: str | None = None, **form: str) -> Any:
    return _post_form(
        {
            "grant_type": "client_credentials",
            "client_id": issued.client.client_id,
            "client_secret": secret or issued.secret,
            **form,
        }
    )


def _bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_client_credentials_give_a_short_lived_token_with_the_requested_scopes() -> None:
    issued = _client("system/Patient.read", "system/Encounter.read")
    response = _token(issued, scope="system/Patient.read")
    body = response.json()

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "bearer",
        300,
        "system/Patient.read",
    )
    assert body["access_token"].startswith(TOKEN_PREFIX)
    client = _bearer(body["access_token"])
    assert client.get("/fhir/Patient").status_code == 200
    assert client.get("/fhir/Encounter").status_code == 403
    everything = _bearer(_token(issued).json()["access_token"])
    assert everything.get("/fhir/Encounter").status_code == 200


def test_http_basic_client_authentication_works_too() -> None:
    issued = _client("system/*.read")
    basic = base64.b64encode(f"{issued.client.client_id}:{issued.secret}".encode()).decode()
    response = _post_form({"grant_type": "client_credentials"}, authorization=f"Basic {basic}")

    assert response.status_code == 200
    assert response.json()["scope"] == "system/*.read"


def test_token_requests_are_refused_in_the_oauth_shape() -> None:
    issued = _client("system/Patient.read")
    cases = {
        "wrong secret": (_token(issued, secret="x" * 43), 401, "invalid_client"),
        "unknown client": (
            _post_form(
                {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}
            ),
            401,
            "invalid_client",
        ),
        "scope not held": (_token(issued, scope="system/*.read"), 400, "invalid_scope"),
        "grant type": (_token(issued, grant_type="password"), 400, "unsupported_grant_type"),
        "no secret": (_post_form({"grant_type": "client_credentials"}), 401, "invalid_client"),
        "json body": (
            APIClient().post("/fhir/auth/token", {"grant_type": "x"}, format="json"),
            415,
            "invalid_request",
        ),
    }

    assert {
        name: (response.status_code, response.json()["error"])
        for name, (response, _status, _code) in cases.items()
    } == {name: (status, code) for name, (_response, status, code) in cases.items()}
    assert cases["wrong secret"][0]["WWW-Authenticate"] == 'Basic realm="fhir"'
    assert SystemClient.objects.get().last_token_at is None


def test_revoking_a_client_stops_its_live_tokens_at_once() -> None:
    issued = _client("system/*.read")
    client = _bearer(_token(issued).json()["access_token"])
    assert client.get("/fhir/Patient").status_code == 200

    system_client_revoke(actor=SYSTEM_ACTOR, client_id=issued.client.client_id)
    refused = client.get("/fhir/Patient")

    assert refused.status_code == 401
    assert refused.json()["issue"][0]["diagnostics"] == "The client has been revoked."
    assert _token(issued).status_code == 401


def test_withdrawing_a_scope_applies_to_tokens_already_issued() -> None:
    issued = _client("system/Patient.read", "system/Encounter.read")
    client = _bearer(_token(issued).json()["access_token"])
    SystemClient.objects.filter(pk=issued.client.pk).update(scopes=["system/Patient.read"])

    assert client.get("/fhir/Encounter").status_code == 403
    assert client.get("/fhir/Patient").status_code == 200


def test_rotating_the_secret_retires_the_old_one() -> None:
    issued = _client("system/*.read")
    rotated = system_client_rotate_secret(actor=SYSTEM_ACTOR, client_id=issued.client.client_id)

    assert _token(issued).status_code == 401
    assert _token(rotated).status_code == 200


def test_expired_and_forged_tokens_are_refused(settings: Any) -> None:
    issued = _client("system/*.read")
    token = _token(issued).json()["access_token"]
    forged = _bearer(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))

    assert forged.get("/fhir/Patient").json()["issue"][0]["diagnostics"] == (
        "The token is not valid."
    )
    settings.FHIR_SYSTEM_TOKEN_SECONDS = -1
    expired = _bearer(token).get("/fhir/Patient")
    assert expired.status_code == 401
    assert expired.json()["issue"][0]["diagnostics"] == "The token has expired."


def test_clients_are_created_only_with_known_read_scopes() -> None:
    with pytest.raises(DomainError) as refused:
        _client("system/Patient.write", "system/Spaceship.read")

    assert refused.value.code == "scope_invalid"
    assert SystemClient.objects.count() == 0
    with pytest.raises(DomainError) as bad_id:
        _client("system/*.read", client_id="Not An Id")
    assert bad_id.value.code == "client_id_invalid"


def test_the_command_issues_rotates_and_revokes() -> None:
    out = StringIO()
    call_command(
        "fhir_client",
        "create",
        "insurer",
        "广州市医疗保障局",
        "--scope",
        "system/Invoice.read",
        "--scope",
        "system/ChargeItem.read",
        stdout=out,
    )
    lines = dict(line.split("=", 1) for line in out.getvalue().splitlines())
    client = SystemClient.objects.get()

    assert lines["client_id"] == "insurer"
    assert lines["scopes"] == "system/ChargeItem.read system/Invoice.read"
    assert (client.scopes, client.is_active) == (
        ["system/ChargeItem.read", "system/Invoice.read"],
        True,
    )
    assert lines["client_secret"] not in client.secret_hash
    call_command("fhir_client", "revoke", "insurer", stdout=StringIO())
    client.refresh_from_db()
    assert (client.is_active, client.revoked_at is not None) == (False, True)
    assert list(
        AuditEvent.objects.filter(object_type="system_client").values_list("action", flat=True)
    ) == ["create", "update"]
