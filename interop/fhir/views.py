"""The facade's HTTP face: `application/fhir+json` in, OperationOutcome for every refusal.

Authentication is the REST API's (JWT, terminal credential, session) plus system clients'
bearer tokens; authorization is the selectors', through `interop.fhir.search`.
"""

import base64
import binascii
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, FormParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from clinics.authentication import TerminalCredentialAuthentication
from core.exceptions import DomainError
from interop.fhir import search as fhir_search
from interop.fhir.caller import SystemClientAuthentication, caller_from_request
from interop.fhir.capability import capability_statement, smart_configuration
from interop.fhir.clients import TokenRequestError, system_token_issue
from interop.fhir.outcome import FhirError, error_outcome
from interop.fhir.validation import validate_response

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"


class FhirJsonRenderer(BaseRenderer):
    media_type = FHIR_JSON
    format = "json"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class FhirOnlyNegotiation(BaseContentNegotiation):
    """JSON is the one format: answer it whatever the Accept header says (FHIR clients send
    `application/fhir+json`, `application/json` or `*/*`)."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def base_url(request: Request) -> str:
    return request.build_absolute_uri(reverse("fhir-metadata")).removesuffix("/metadata")


def fhir_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, FhirError):
        error = exc
    elif isinstance(exc, DomainError):
        error = FhirError(exc.status_code, exc.message, detail_code=exc.code)
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        codes = exc.get_codes()
        error = FhirError(
            exc.status_code, str(exc.detail), detail_code=codes if isinstance(codes, str) else ""
        )
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        error = FhirError(
            exc.status_code, str(exc.detail), detail_code=codes if isinstance(codes, str) else ""
        )
    elif isinstance(exc, Http404):
        error = FhirError(404, "Not found.", detail_code="not_found")
    else:
        logger.exception("fhir: unexpected error", exc_info=exc)
        error = FhirError(500, "Internal error; it has been logged.", code="exception")
    return Response(error_outcome(error), status=error.status, headers=headers)


class FhirView(APIView):
    authentication_classes = [
        SystemClientAuthentication,
        JWTAuthentication,
        TerminalCredentialAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [IsAuthenticated]
    renderer_classes = [FhirJsonRenderer]
    content_negotiation_class = FhirOnlyNegotiation
    schema = None  # not part of the REST API's OpenAPI document

    def get_exception_handler(self) -> Any:
        return fhir_exception_handler

    def respond(self, body: dict[str, Any]) -> Response:
        if settings.FHIR_VALIDATE_RESPONSES:
            validate_response(body)
        return Response(body)


class CapabilityStatementView(FhirView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return self.respond(capability_statement(base_url=base_url(request)))


class SmartConfigurationView(FhirView):
    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    def get(self, request: Request) -> Response:
        return Response(smart_configuration(base_url=base_url(request)))


class SearchView(FhirView):
    def get(self, request: Request, resource_type: str) -> Response:
        params = [(key, value) for key, values in request.query_params.lists() for value in values]
        return self.respond(
            fhir_search.search(
                caller=caller_from_request(request),
                name=resource_type,
                params=params,
                base_url=base_url(request),
            )
        )


class ReadView(FhirView):
    def get(self, request: Request, resource_type: str, resource_id: str) -> Response:
        return self.respond(
            fhir_search.read(
                caller=caller_from_request(request), name=resource_type, resource_id=resource_id
            )
        )


class UnknownPathView(FhirView):
    """Anything else under /fhir/: not found, as an OperationOutcome."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before any handler is looked up, so every method gets the same answer.
        raise FhirError(404, f"Nothing at {request.path}.", detail_code="not_found")


class TokenView(APIView):
    """OAuth 2.0 client credentials (RFC 6749 §4.4): `grant_type=client_credentials`, the
    client's id and secret in the form (client_secret_post) or HTTP Basic
    (client_secret_basic), optional `scope`. Errors in the RFC's own shape (§5.2)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser]
    renderer_classes = [JSONRenderer]
    schema = None

    def get_exception_handler(self) -> Any:
        def handler(exc: Exception, context: dict[str, Any]) -> Response:
            if isinstance(exc, exceptions.APIException):
                return self._error("invalid_request", str(exc.detail), exc.status_code)
            logger.exception("fhir token: unexpected error", exc_info=exc)
            return self._error("server_error", "Internal error.", 500)

        return handler

    @staticmethod
    def _error(code: str, description: str, status_code: int) -> Response:
        response = Response(
            {"error": code, "error_description": description},
            status=status_code,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )
        if status_code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = 'Basic realm="fhir"'
        return response

    @staticmethod
    def _basic_credentials(request: Request) -> tuple[str, str] | None:
        keyword, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if keyword.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        return (client_id, secret) if sep else None

    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        if data.get("grant_type") != "client_credentials":
            return self._error(
                "unsupported_grant_type", "Only grant_type=client_credentials is supported.", 400
            )
        credentials = self._basic_credentials(request) or (
            str(data.get("client_id", "")),
            str(data.get("client_secret", "")),
        )
        if not all(credentials):
            return self._error("invalid_client", "Client id and secret are required.", 401)
        try:
            issued = system_token_issue(
                client_id=credentials[0],
                client_secret=credentials[1],
                requested_scope=data.get("scope"),
            )
        except TokenRequestError as error:
            return self._error(error.error, error.description, error.status)
        return Response(
            {
                "access_token": issued.access_token,
                "token_type": "bearer",
                "expires_in": issued.expires_in,
                "scope": " ".join(issued.scopes),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )
