"""The bid path's per-process memory: bounded, least recently used forgotten first."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from bidding_service.bids.memory import BidMemory, Bounded, LastBid, RoundTerms


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


def test_forgetting_rounds_drops_their_terms_and_bids_and_keeps_the_rest_in_order() -> None:
    memory = BidMemory(rounds=10, bidders=10)
    closed, still_open = uuid.uuid4(), uuid.uuid4()
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    terms = RoundTerms(uuid.uuid4(), Decimal("100.00"), Decimal("1.00"), None)
    memory.terms.put(closed, terms)
    memory.terms.put(still_open, terms)
    memory.accepted(still_open, a, LastBid(uuid.uuid4(), Decimal("90.00")))
    memory.accepted(closed, a, LastBid(uuid.uuid4(), Decimal("80.00")))
    memory.accepted(still_open, b, LastBid(uuid.uuid4(), Decimal("70.00")))
    assert memory.rounds() == {closed, still_open}
    assert memory.forget_rounds({closed, uuid.uuid4()}) == 2  # its terms and one bid
    assert memory.rounds() == {still_open}
    assert memory.last_bid(closed, a) is None and memory.terms.get(closed) is None
    kept = memory.last_bid(still_open, a)
    assert kept is not None and kept.amount == Decimal("90.00")
    assert memory.forget_rounds(set()) == 0
    # The order of use is kept: the least recently used goes first, as before.
    memory = BidMemory(rounds=10, bidders=2)
    memory.accepted(still_open, a, LastBid(uuid.uuid4(), Decimal("9.00")))
    memory.accepted(still_open, b, LastBid(uuid.uuid4(), Decimal("8.00")))
    memory.forget_rounds({closed})
    memory.accepted(still_open, c, LastBid(uuid.uuid4(), Decimal("7.00")))
    assert memory.last_bid(still_open, a) is None
    assert memory.last_bid(still_open, b) is not None and memory.last_bid(still_open, c)
