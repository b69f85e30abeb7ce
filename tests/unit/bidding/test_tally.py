"""The close's bid audit entries are written out by hand (`tally.bid_entry`): they must
be the very bytes the generic preparation gives, whatever the actor and time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

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
