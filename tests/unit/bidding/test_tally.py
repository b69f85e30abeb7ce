"""The close's ranking, written for speed and memory, must give what the plain version
gives: its passes the order of the rule's whole key; and the collector, turned off while
the close builds its rows, comes back. (The bid audit entries the close
makes in the database: tests/integration/bidding/test_audit_entries_sql.py.)"""

from __future__ import annotations

import gc
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bidding_service.awards.domain import Candidate, evaluate, evaluated_price
from bidding_service.bids.amounts import bulk


@given(st.lists(st.uuids(), min_size=2, max_size=50))
def test_uuids_order_as_their_text_the_rankings_last_tie_break(ids: list[uuid.UUID]) -> None:
    """`domain.evaluate` breaks the last tie by the supplier id's text (the contract) by
    comparing the UUIDs themselves: the same order."""
    assert sorted(ids) == sorted(ids, key=str)


_KINDS = st.sampled_from(["enterprise", "social_organization"])
_SIZES = st.sampled_from(["large", "medium", "small", "micro"])
_CANDIDATES = st.lists(st.builds(
    Candidate, st.uuids(), st.just(""), st.just(""), _KINDS, _SIZES,
    st.integers(1, 40).map(lambda c: Decimal(c * 250).scaleb(-2)),
    st.integers(0, 3).map(lambda s: datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=s))),
    max_size=40, unique_by=lambda c: c.supplier_id)


@settings(max_examples=200, deadline=None)
@given(_CANDIDATES, st.sampled_from([Decimal(0), Decimal("0.10"), Decimal("0.06")]))
def test_the_ranking_passes_give_the_order_of_the_whole_key(
        candidates: list[Candidate], deduction: Decimal) -> None:
    """`evaluate` sorts by one key at a time (no tuple per bidder): the order of the rule's
    whole key, ties included (few prices and times, so many ties)."""
    def whole(c: Candidate) -> tuple[Decimal, int, datetime, str]:
        return (evaluated_price(c.amount, c.size, deduction),
                0 if c.kind == "social_organization" else 1, c.final_bid_at,
                str(c.supplier_id))

    ranked = evaluate(candidates, deduction)
    assert [r.candidate for r in ranked] == sorted(candidates, key=whole)
    assert [r.rank for r in ranked] == list(range(1, len(candidates) + 1))
    assert all(r.evaluated_amount == evaluated_price(r.candidate.amount, r.candidate.size,
                                                     deduction).quantize(Decimal("0.01"),
                                                                         ROUND_HALF_UP)
               for r in ranked)


def test_the_collector_is_back_on_only_when_the_last_overlapping_close_leaves() -> None:
    """`bulk()` blocks of concurrent closes overlap in any order; the collector comes back
    when the last one leaves, and not at all if it was off before the first."""
    assert gc.isenabled()
    first, second = bulk(), bulk()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first to enter leaves first
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()
    gc.disable()
    try:
        with bulk():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
