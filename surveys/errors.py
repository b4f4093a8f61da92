"""Domain errors: each carries its HTTP status and the field it concerns."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the caller can act on; controllers turn it into a 4xx answer."""

    status_code = 400

    def __init__(
        self, message: str, *, field: str | None = None, errors: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        # field -> message, for forms that show every error next to its question
        self.errors = errors or ({field: message} if field else {})


class NotFound(DomainError):
    """The thing addressed does not exist (404)."""

    status_code = 404


class Conflict(DomainError):
    """The request clashes with what is stored: a duplicate key, an answered survey (409)."""

    status_code = 409


class Invalid(DomainError):
    """The request is well-formed but a value is not acceptable (422)."""

    status_code = 422


class Gone(DomainError):
    """The link has expired (410)."""

    status_code = 410


class Forbidden(DomainError):
    """The caller may not do this (403)."""

    status_code = 403
