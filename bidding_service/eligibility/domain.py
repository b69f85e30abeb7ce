"""What the bidding service knows of pools and memberships (its event-fed copy)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

# Membership statuses that take a supplier out of the rounds still open.
EXCLUDING = frozenset({"suspended", "removed"})


@dataclass(frozen=True)
class PoolTerms:
    """What the bidding service knows of a pool from its events."""

    pool_id: uuid.UUID
    code: str
    name: str
    terminated: bool
    valid_from: date
    valid_to: date
    price_ceiling: Decimal
    max_round_budget: Decimal

    def is_active(self, today: date) -> bool:
        return not self.terminated and self.valid_from <= today <= self.valid_to
