"""Errors `procure` reports to its user: each says what failed and what to do."""

from __future__ import annotations

from typing import Any

START_SERVICES_HINT = "start them with `procure run` (or `python -m pool_service` / " \
    "`python -m bidding_service`)"
START_INFRA_HINT = "start PostgreSQL and RabbitMQ with `scripts/services`"


class ProcureError(Exception):
    """A failure to show the user as one clear message (no traceback)."""

    exit_code = 1


class Unreachable(ProcureError):
    """A service, the broker or the database did not answer."""

    exit_code = 3

    def __init__(self, what: str, where: str, reason: str, hint: str) -> None:
        self.what, self.where, self.reason, self.hint = what, where, reason, hint
        super().__init__(f"cannot reach {what} at {where} ({reason}); {hint}")


class ApiError(ProcureError):
    """A service answered with an error (RFC 9457 problem details when it could)."""

    def __init__(self, service: str, method: str, url: str, status: int,
                 problem: dict[str, Any] | None, text: str = "") -> None:
        self.service, self.method, self.url, self.status = service, method, url, status
        self.problem = problem or {}
        self.title = str(self.problem.get("title") or text[:200] or f"HTTP {status}")
        self.detail = str(self.problem.get("detail") or "")
        self.errors: list[dict[str, Any]] = list(self.problem.get("errors") or [])
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"{self.service} refused {self.method} {self.url}: {self.status} {self.title}"
        if self.detail and self.detail != self.title:
            text += f": {self.detail}"
        for err in self.errors:
            loc = ".".join(str(p) for p in err.get("loc", []))
            msg = err.get("msg", "")
            if msg and msg != self.detail:
                text += f"\n  - {loc}: {msg}" if loc else f"\n  - {msg}"
        return text
