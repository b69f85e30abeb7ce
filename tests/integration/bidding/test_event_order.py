"""The bidding service applies a membership's events in `sequence` order (trust.md 7)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from aiohttp.test_utils import TestClient

from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch

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
