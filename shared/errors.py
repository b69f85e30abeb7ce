"""Domain errors: what a rule refused, in the domain's words, free of HTTP.

Use cases and domain modules raise these; the HTTP edge maps them to problem+json in
one table (`shared.problems.problem_for`), and the CLI and the consumers see the same
types. A `slug` names the refusal stably (it becomes the problem type at the edge).
"""

from __future__ import annotations

import enum
from typing import Any


class DomainError(Exception):
    """A rule of the domain was broken."""

    default_slug = "domain-error"

    def __init__(self, detail: str, *, slug: str | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.slug = slug or self.default_slug
        self.errors = errors


class NotFound(DomainError):
    """The thing named does not exist (or may not be known to exist by this caller)."""

    default_slug = "not-found"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} does not exist")
        self.what = what


class Unauthenticated(DomainError):
    """Only an identified caller may see or do this."""

    default_slug = "unauthorized"


class Forbidden(DomainError):
    """This caller may not do this."""

    default_slug = "forbidden"


class Conflict(DomainError):
    """Not allowed in the current state."""

    default_slug = "conflict"


class Invalid(DomainError):
    """The content of a command breaks a rule."""

    default_slug = "invalid-content"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None, *,
                 slug: str | None = None) -> None:
        super().__init__(detail, slug=slug,
                         errors=errors if errors is not None else [{"loc": [], "msg": detail}])


class BidRefusal(enum.StrEnum):
    NOT_INVITED = "not_invited"
    EXCLUDED = "excluded"
    NOT_OPEN = "not_open"
    NOT_LOWER = "not_lower"
    RETRY = "retry"


class BidRefused(DomainError):
    """A bid the rules refuse, with why (`reason`)."""

    def __init__(self, reason: BidRefusal, detail: str, *, slug: str | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, slug=slug, errors=errors)
        self.reason = reason
