"""The close's pieces written for speed and memory must give what the plain versions
give: the bid audit entries written out by hand (`tally.bid_entry`) the very bytes of
the generic preparation, the ranking's passes the order of the rule's whole key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bidding_service.awards.domain import Candidate, evaluate, evaluated_price
from bidding_service.awards.tally import bid_entry
from shared.audit_append import prepare


@settings(max_examples=200, deadline=None)
@given(st.text(), st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                               timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])),
       st.uuids(), st.uuids())
def test_a_bid_entry_is_the_generic_entry_byte_for_byte(actor: str, at: datetime,
                                                         round_id: uuid.UUID,
                                                         bid_id: uuid.UUID) -> None:
    subject = f"/v1/rounds/{round_id}/bids/{bid_id}"
    fast = bid_entry(str(round_id), bid_id, at, actor)
    generic = prepare(actor, "supplier", "bid.submitted", subject, None, at)
    assert fast == generic


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
