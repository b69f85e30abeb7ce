"""The bid path's per-process memory: bounded, least recently used forgotten first."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from bidding_service.bids.memory import BidMemory, Bounded, LastBid


def test_bounded_forgets_the_least_recently_used_beyond_its_capacity() -> None:
    b: Bounded[str, int] = Bounded(2)
    b.put("a", 1)
    b.put("b", 2)
    assert b.get("a") == 1  # "a" is now the most recently used
    b.put("c", 3)
    assert (b.get("a"), b.get("b"), b.get("c")) == (1, None, 3)
    assert len(b) == 2


def test_bounded_put_replaces_and_forget_removes() -> None:
    b: Bounded[str, int] = Bounded(3)
    b.put("a", 1)
    b.put("a", 2)
    assert (b.get("a"), len(b)) == (2, 1)
    b.forget("a")
    b.forget("never there")
    assert (b.get("a"), len(b)) == (None, 0)


def test_bounded_refuses_a_capacity_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Bounded(0)


def test_last_bids_are_kept_per_round_and_supplier() -> None:
    memory = BidMemory(rounds=1, bidders=2)
    r1, r2, s = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first = LastBid(uuid.uuid4(), Decimal("10.00"))
    memory.accepted(r1, s, first)
    assert memory.last_bid(r1, s) == first
    assert memory.last_bid(r2, s) is None
    memory.accepted(r2, s, LastBid(uuid.uuid4(), Decimal("9.00")))
    memory.accepted(r2, uuid.uuid4(), LastBid(uuid.uuid4(), Decimal("8.00")))
    assert memory.last_bid(r1, s) is None  # beyond two bidders: the oldest is forgotten
    memory.forget_bid(r2, s)
    assert memory.last_bid(r2, s) is None
