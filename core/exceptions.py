"""Errors raised by services. The API turns them into `{"code", "message", "fields"}` JSON."""

from typing import Any


class DomainError(Exception):
    """A business rule refused the request. `code` is stable and documented; never a 5xx."""

    status_code = 400
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields = fields or {}
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code


class NotFoundError(DomainError):
    """The object does not exist or the actor may not see it (the two look the same)."""

    status_code = 404
    default_code = "not_found"


class PermissionDeniedError(DomainError):
    status_code = 403
    default_code = "permission_denied"


class ConflictError(DomainError):
    status_code = 409
    default_code = "conflict"
