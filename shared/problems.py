"""RFC 9457 problem details: the one error type every layer raises and one renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.errors import (
    BidRefusal,
    BidRefused,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unauthenticated,
)

PROBLEM_CONTENT_TYPE = "application/problem+json"
_TYPE_BASE = "https://procurement.example/problems/"


@dataclass(eq=False)
class Problem(Exception):
    """An error meant for the client: status, a stable type slug and a human detail."""

    status: int
    slug: str
    title: str
    detail: str = ""
    errors: list[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.title)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": _TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def bad_request(detail: str) -> Problem:
    return Problem(400, "malformed-request", "Malformed request", detail)


def unauthorized(detail: str = "a valid bearer token is required") -> Problem:
    return Problem(401, "unauthorized", "Unauthorized", detail,
                   headers={"WWW-Authenticate": 'Bearer realm="procurement"'})


def forbidden(detail: str = "your role may not do this") -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


def not_found(what: str) -> Problem:
    return Problem(404, "not-found", "Not found", f"{what} does not exist")


def conflict(detail: str, slug: str = "conflict") -> Problem:
    return Problem(409, slug, "Conflict", detail)


def unprocessable(detail: str, errors: list[dict[str, Any]] | None = None,
                  slug: str = "invalid-content") -> Problem:
    return Problem(422, slug, "Invalid content", detail,
                   errors if errors is not None else [{"loc": [], "msg": detail}])


def too_large(limit: int) -> Problem:
    return Problem(413, "body-too-large", "Request body too large",
                   f"request bodies are limited to {limit} bytes")


def unsupported_media_type() -> Problem:
    return Problem(415, "unsupported-media-type", "Unsupported media type",
                   "request bodies must be application/json")


def rate_limited(retry_after: int) -> Problem:
    return Problem(429, "rate-limited", "Too many requests",
                   f"retry after {retry_after} s", headers={"Retry-After": str(retry_after)})


# ---------------------------------------------------------------- domain errors -> problems

# The one table from the domain's refusals to HTTP: (status, title) per error type.
_STATUS: dict[type[DomainError], tuple[int, str]] = {
    NotFound: (404, "Not found"),
    Unauthenticated: (401, "Unauthorized"),
    Forbidden: (403, "Forbidden"),
    Conflict: (409, "Conflict"),
    Invalid: (422, "Invalid content"),
}
_BID_STATUS: dict[BidRefusal, tuple[int, str]] = {
    BidRefusal.NOT_INVITED: (403, "Forbidden"),
    BidRefusal.EXCLUDED: (403, "Forbidden"),
    BidRefusal.NOT_OPEN: (409, "Conflict"),
    BidRefusal.NOT_LOWER: (422, "Invalid content"),
    BidRefusal.RETRY: (409, "Conflict"),
}


def problem_for(exc: DomainError) -> Problem:
    """The problem+json answer to a domain error (the HTTP edge's one mapping)."""
    if isinstance(exc, BidRefused):
        status, title = _BID_STATUS[exc.reason]
    else:
        status, title = next((v for k, v in _STATUS.items() if isinstance(exc, k)),
                             (422, "Invalid content"))
    headers = {"WWW-Authenticate": 'Bearer realm="procurement"'} if status == 401 else {}
    return Problem(status, exc.slug, title, exc.detail, exc.errors, headers=headers)
