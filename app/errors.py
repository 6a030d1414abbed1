"""Domain errors carry their HTTP status; one handler in main.py renders them as JSON."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: str | list[dict[str, object]]) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status_code = 404


class Unauthorised(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    status_code = 422


class TooMany(DomainError):
    status_code = 429


class RowErrors(Invalid):
    """Bad rows of an uploaded file: each with its line number, field and reason."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        super().__init__(rows)


class Unavailable(DomainError):
    """503: the server cannot serve this now (database down, no room for another stream)."""

    status_code = 503
