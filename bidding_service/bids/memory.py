"""What one process remembers between bids, so an accepted bid costs one statement.

Pure: no database, no HTTP. Two bounded maps:

- `RoundTerms`: the parts of a round that never change after launch (pool, ceiling,
  minimum decrement, anti-sniping settings). Status and times do change: the bid's
  statement checks them on the round row itself, never here.
- the supplier's last accepted bid in a round (its id and amount, decrypted: trust.md 3
  allows clear amounts in a process's memory, never in the database). The bid's
  statement takes the bid only if the invitation's `last_bid_id` is still the id
  remembered here (compare-and-swap), so a stale or missing entry (another process took
  the supplier's later bid, the process restarted) costs one more statement, never a
  wrong decision: amounts only go down, so a check against an older amount that passes
  is re-checked against the newer one, and one that fails would fail against it too.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, TypeVar

from bidding_service.rounds.domain import Extension

K = TypeVar("K")
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """A map that forgets its least recently used entries beyond `capacity`."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def forget(self, key: K) -> None:
        self._items.pop(key, None)

    def forget_where(self, drop: Callable[[K], bool]) -> int:
        """Forget every entry whose key `drop` says so (one pass, order kept); how many."""
        kept = OrderedDict((k, v) for k, v in self._items.items() if not drop(k))
        dropped, self._items = len(self._items) - len(kept), kept
        return dropped

    def keys(self) -> list[K]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class RoundTerms:
    pool_id: uuid.UUID
    ceiling: Decimal
    decrement: Decimal
    extension: Extension | None


@dataclass(frozen=True, slots=True)
class LastBid:
    bid_id: uuid.UUID
    amount: Decimal


class BidMemory:
    """Round terms and last bids, bounded: 1,000 rounds and 50,000 bidders by default
    (about 15 MB at the bound, so a process stays within its memory budget with a
    100,000-bid close on top; a bidder forgotten costs one more statement, never a wrong
    decision). Rounds no longer taking bids are forgotten (`forget_rounds`, called by a
    sweep every minute), so the memory follows the rounds open, not the rounds seen."""

    def __init__(self, rounds: int = 1000, bidders: int = 50_000) -> None:
        self.terms: Bounded[uuid.UUID, RoundTerms] = Bounded(rounds)
        self._last: Bounded[tuple[uuid.UUID, uuid.UUID], LastBid] = Bounded(bidders)

    def last_bid(self, round_id: uuid.UUID, supplier_id: uuid.UUID) -> LastBid | None:
        return self._last.get((round_id, supplier_id))

    def accepted(self, round_id: uuid.UUID, supplier_id: uuid.UUID, bid: LastBid) -> None:
        self._last.put((round_id, supplier_id), bid)

    def forget_bid(self, round_id: uuid.UUID, supplier_id: uuid.UUID) -> None:
        self._last.forget((round_id, supplier_id))

    def rounds(self) -> set[uuid.UUID]:
        """The rounds anything is remembered of."""
        return set(self.terms.keys()) | {round_id for round_id, _ in self._last.keys()}

    def forget_rounds(self, round_ids: set[uuid.UUID]) -> int:
        """Forget these rounds' terms and last bids; how many entries went."""
        if not round_ids:
            return 0
        return (self.terms.forget_where(round_ids.__contains__)
                + self._last.forget_where(lambda key: key[0] in round_ids))
