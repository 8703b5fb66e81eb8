"""Errors of the FHIR facade, answered as OperationOutcome resources (never the REST API's
`{"code", "message"}` shape, and never an HTML page)."""

from typing import Any

# HTTP status → the issue type (http://hl7.org/fhir/issue-type) an OperationOutcome names.
ISSUE_TYPE_FOR_STATUS = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    413: "too-costly",
    415: "not-supported",
    429: "throttled",
}


class FhirError(Exception):
    """A refusal of the facade: `code` is the issue type, `detail_code` our stable code."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, detail_code: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or ISSUE_TYPE_FOR_STATUS.get(status, "exception")
        self.detail_code = detail_code


def issue(*, severity: str, code: str, diagnostics: str, detail_code: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if detail_code:
        entry["details"] = {"text": detail_code}
    return entry


def operation_outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def error_outcome(error: FhirError) -> dict[str, Any]:
    return operation_outcome(
        issue(
            severity="error",
            code=error.code,
            diagnostics=error.message,
            detail_code=error.detail_code,
        )
    )
