"""Pure rules of direct selection and rotation (spec methods.md)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import Conflict

JUSTIFICATION_MIN = 20
JUSTIFICATION_MAX = 2000


@dataclass(frozen=True, slots=True)
class Turn:
    """One member of a pool's rotation order, as seen when an award is chosen."""

    supplier_id: uuid.UUID
    eligible: bool  # admitted in the pool now
    served: bool  # holds (or lost) a turn in the current period
    offered: bool = False  # was offered this round already


@dataclass(frozen=True, slots=True)
class Choice:
    supplier_id: uuid.UUID | None
    new_period: bool


def next_turn(order: Sequence[Turn]) -> Choice:
    """Who gets the next rotation award: the first eligible member not served in this
    period (and not offered this round); when every eligible member has been served, a
    new period starts with the first eligible member of the order. Ineligible members
    are skipped and keep their place."""
    eligible = [t for t in order if t.eligible]
    for t in eligible:
        if not t.served and not t.offered:
            return Choice(t.supplier_id, False)
    if eligible and all(t.served for t in eligible):
        for t in eligible:
            if not t.offered:
                return Choice(t.supplier_id, True)
    return Choice(None, False)


def check_direct_member(status: str | None) -> None:
    """Direct selection needs a member admitted (and so eligible) in the pool now."""
    if status != "admitted":
        why = "is not a member of the pool" if status is None else f"is {status} in the pool"
        raise Conflict(f"the supplier {why}: only an admitted member may be selected",
                       slug="supplier-not-eligible")
