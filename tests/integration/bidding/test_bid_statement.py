"""The bid in one statement: what the process remembers can be stale or missing (another
process took the supplier's later bid, a restart), and a decision is still right."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import asyncpg
from aiohttp.test_utils import TestClient

from bidding_service.bids import service as bid_service
from bidding_service.bids.memory import LastBid
from bidding_service.routes import BID_MEMORY
from bidding_service.settings import BiddingSettings
from shared.http import DB
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch

Auth = Callable[..., dict[str, str]]


async def _bids_of(settings: BiddingSettings, round_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_url,
                                 server_settings={"search_path": settings.db_schema})
    try:
        return await conn.fetch("SELECT id, supplier_id FROM bids WHERE round_id = $1",
                                uuid.UUID(round_id))
    finally:
        await conn.close()


async def test_a_stale_memory_of_the_last_bid_is_corrected_not_used(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, auth("procurement_center", sub="center-stale"),
                       round_body(pool, seconds=600))
    rid, sid = uuid.UUID(rnd["id"]), ms[0].id
    head = auth("supplier", sub=f"s-{sid}", supplier_id=str(sid))
    status, first = await bid(bidding, head, rnd["id"], "5000.00")
    assert status == 201
    assert (await bid(bidding, head, rnd["id"], "4000.00"))[0] == 201
    # As if another process had taken the 4000.00: this one still remembers 5000.00.
    bidding.app[BID_MEMORY].accepted(rid, sid, LastBid(uuid.UUID(first["id"]),
                                                       Decimal("5000.00")))
    status, refused = await bid(bidding, head, rnd["id"], "4500.00")
    assert (status, refused["type"].rsplit("/", 1)[-1]) == (422, "bid-not-lower")
    status, third = await bid(bidding, head, rnd["id"], "3000.00")
    assert (status, third["amount"]) == (201, "3000.00")
    # Nothing remembered at all (a restart): the first statement learns the last bid.
    bidding.app[BID_MEMORY].forget_bid(rid, sid)
    assert (await bid(bidding, head, rnd["id"], "3000.00"))[0] == 422
    assert (await bid(bidding, head, rnd["id"], "2000.00"))[0] == 201
    assert len(await _bids_of(bidding_settings, rnd["id"])) == 4


async def test_an_idempotent_bid_replays_its_answer_with_its_time_and_receipt(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, auth("procurement_center", sub="center-replay"),
                       round_body(pool, seconds=600))
    sid = ms[1].id
    head = {**auth("supplier", sub=f"s-{sid}", supplier_id=str(sid)),
            "Idempotency-Key": f"bid-{uuid.uuid4()}"}
    status, first = await bid(bidding, head, rnd["id"], "7000.00")
    assert status == 201
    # Forgotten or not, a repeat returns the first answer: same id, time and receipt.
    bidding.app[BID_MEMORY].forget_bid(uuid.UUID(rnd["id"]), sid)
    for _ in range(2):
        status, again = await bid(bidding, head, rnd["id"], "7000.00")
        assert (status, again) == (201, first)
    status, reused = await bid(bidding, head, rnd["id"], "6000.00")
    assert (status, reused["type"].rsplit("/", 1)[-1]) == (422, "idempotency-key-reused")
    # The same key in another round is another request: refused, nothing taken there.
    other = await launch(bidding, auth("procurement_center", sub="center-replay"),
                         round_body(pool, seconds=600))
    assert (await bid(bidding, head, other["id"], "7000.00"))[0] == 422
    assert [r["id"] for r in await _bids_of(bidding_settings, rnd["id"])] == [
        uuid.UUID(first["id"])]
    assert await _bids_of(bidding_settings, other["id"]) == []


async def test_the_memory_forgets_rounds_that_take_no_more_bids(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    """The sweep (every minute in the service) drops a cancelled round's terms and last
    bids and keeps those of a round still open, whose next bid is still judged against
    the last one remembered."""
    ms = members(2)
    pool = await feed.pool(ms)
    center = auth("procurement_center", sub="center-sweep")
    cancelled = await launch(bidding, center, round_body(pool, seconds=600))
    still_open = await launch(bidding, center, round_body(pool, seconds=600))
    sid = ms[0].id
    head = auth("supplier", sub=f"s-{sid}", supplier_id=str(sid))
    for rnd in (cancelled, still_open):
        assert (await bid(bidding, head, rnd["id"], "5000.00"))[0] == 201
    memory = bidding.app[BID_MEMORY]
    gone, kept = uuid.UUID(cancelled["id"]), uuid.UUID(still_open["id"])
    assert {gone, kept} <= memory.rounds()
    async with bidding.post(f"/v1/rounds/{cancelled['id']}/cancel",
                            json={"reason": "need changed"}, headers=center) as resp:
        assert resp.status == 200
    assert await bid_service.forget_closed_rounds(bidding.app[DB], memory) >= 2
    assert gone not in memory.rounds() and kept in memory.rounds()
    assert memory.last_bid(kept, sid) is not None
    assert await bid_service.forget_closed_rounds(bidding.app[DB], memory) == 0
    status, refused = await bid(bidding, head, still_open["id"], "5000.00")
    assert (status, refused["type"].rsplit("/", 1)[-1]) == (422, "bid-not-lower")
    # A bid on the cancelled round is refused as such (learning its last bid on the
    # way, which the next sweep drops again).
    status, refused = await bid(bidding, head, cancelled["id"], "4000.00")
    assert status == 409
    await bid_service.forget_closed_rounds(bidding.app[DB], memory)
    assert gone not in memory.rounds()
