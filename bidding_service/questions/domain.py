"""Pure rules of clarification questions (spec methods.md): who may ask, and when."""

from __future__ import annotations

from datetime import datetime

from shared.errors import Conflict, Forbidden


def check_may_ask(*, invited: bool, eligible: bool, open_now: bool, now: datetime,
                  enquiries_until: datetime | None) -> None:
    """An invited, eligible supplier, while the round is open and before
    `enquiries_until` (without it: until the close, extensions included)."""
    if not invited:
        raise Forbidden("you are not invited to this round")
    if not eligible:
        raise Forbidden("your membership was suspended or removed: you may not ask")
    if not open_now:
        raise Conflict("the round is not open for questions", slug="round-not-open")
    if enquiries_until is not None and now >= enquiries_until:
        raise Conflict("the round takes no more questions (enquiries_until has passed)",
                       slug="enquiries-closed")
