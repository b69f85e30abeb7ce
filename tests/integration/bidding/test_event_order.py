"""The bidding service applies a membership's events in `sequence` order (trust.md 7)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from aiohttp.test_utils import TestClient

from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status
from tests.support import EventTap

Auth = Callable[..., dict[str, str]]


def supplier(auth: Auth, member_id: uuid.UUID) -> dict[str, str]:
    return auth("supplier", sub=f"s-{member_id}", supplier_id=str(member_id))


async def test_a_reinstate_delivered_before_its_suspension_still_invalidates_the_bids(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    others = members(2)
    pool = await feed.pool(others)
    m = members(1)[0]
    pool.members.append(m)
    await feed.member(pool, m, "admitted", sequence=1)
    rnd = await launch(bidding, auth("procurement_center", sub="center-1"),
                       round_body(pool, seconds=30))
    assert (await bid(bidding, supplier(auth, m.id), rnd["id"], "50000.00"))[0] == 201
    # The pool service suspended (sequence 2) and then reinstated (3) the member; the
    # broker delivers the reinstatement first.
    await feed.member(pool, m, "admitted", event="reinstated", version=3, sequence=3,
                      wait=False)
    await asyncio.sleep(0.5)  # held: its predecessor has not been applied
    assert str(m.id) in await feed.eligible_ids(pool.id)
    await feed.member(pool, m, "suspended", version=2, sequence=2, wait=False,
                      reason="quality complaint")
    for _ in range(150):
        async with bidding.get(f"/v1/rounds/{rnd['id']}/bids",
                               headers=supplier(auth, m.id)) as resp:
            valid = [b["valid"] for b in (await resp.json())["items"]]
        if valid == [False]:
            break
        await asyncio.sleep(0.1)
    # Both applied, in order: the suspension invalidated the bid and excluded the
    # supplier from the open round; the reinstatement made it eligible again.
    assert valid == [False]
    await feed.wait_until(lambda ids: str(m.id) in ids, pool.id)
    status, problem = await bid(bidding, supplier(auth, m.id), rnd["id"], "40000.00")
    assert status == 403, problem


async def test_a_round_partition_is_numbered_gaplessly_in_commit_order(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("round.#", "award.#")) as tap:
        rnd = await launch(bidding, auth("procurement_center", sub="center-1"),
                           round_body(pool, seconds=3))
        rid = rnd["id"]
        for m, amount in zip(ms, ("100.00", "200.00"), strict=True):
            assert (await bid(bidding, supplier(auth, m.id), rid, amount))[0] == 201
        view = await wait_status(bidding, rid, {"awarded"}, {})
        async with bidding.post(f"/v1/awards/{view['award']['id']}/decline",
                                json={"reason": "team unavailable"},
                                headers=supplier(auth, ms[0].id)) as resp:
            assert resp.status == 200
        mine = lambda events: [e for e in events if e.get("partitionkey") == rid]  # noqa: E731
        await tap.wait_for(lambda events: len(mine(events)) >= 5)
        await asyncio.sleep(0.3)
        events = sorted(mine(tap.events), key=lambda e: int(e["sequence"]))
    assert [e["sequence"] for e in events] == [str(n) for n in range(1, len(events) + 1)]
    assert all(e["source"] == "/bidding-service" for e in events)
    # A finance system orders rank 2's award.published after rank 1's award.declined.
    assert [e["type"] for e in events] == ["round.launched", "round.closed", "award.published",
                                           "award.declined", "award.published"]
    assert [e["data"].get("rank") for e in events if e["type"] == "award.published"] == [1, 2]
