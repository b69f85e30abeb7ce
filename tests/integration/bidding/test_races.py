"""Concurrent requests on one thing in the bidding service: one wins, the others get the
domain's answer (409, or the replayed first answer), never a 500."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable

import asyncpg
from aiohttp.test_utils import TestClient

from shared.http import DB
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status

Auth = Callable[..., dict[str, str]]
N = 10


def _center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-race")


def _supplier(auth: Auth, member_id: uuid.UUID) -> dict[str, str]:
    return auth("supplier", sub=f"s-{member_id}", supplier_id=str(member_id))


async def _post(client: TestClient, path: str, body: dict[str, str] | None,
                headers: dict[str, str]) -> tuple[int, str]:
    async with client.post(path, json=body, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status >= 400:
            assert resp.content_type == "application/problem+json"
        return resp.status, str(data.get("id", ""))


async def test_concurrent_launches_with_one_idempotency_key_create_one_round(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    pool = await feed.pool(members(2))
    headers = {**_center(auth), "Idempotency-Key": f"race-{uuid.uuid4()}"}
    body = round_body(pool, seconds=60)
    results = await asyncio.gather(*(_post(bidding, "/v1/rounds", body, headers)
                                     for _ in range(N)))
    assert {status for status, _ in results} == {201}, results
    assert len({rid for _, rid in results}) == 1
    db: asyncpg.Pool = bidding.app[DB]
    assert await db.fetchval("SELECT count(*) FROM rounds WHERE pool_id = $1", pool.id) == 1


async def test_concurrent_answers_to_one_award_decide_it_once(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, _center(auth), round_body(pool, seconds=2))
    for m, amount in zip(ms, ("100.00", "200.00"), strict=True):
        assert (await bid(bidding, _supplier(auth, m.id), rnd["id"], amount))[0] == 201
    award = (await wait_status(bidding, rnd["id"], {"awarded"}, {}))["award"]
    winner = _supplier(auth, ms[0].id)
    answers = [_post(bidding, f"/v1/awards/{award['id']}/accept", None, winner)
               if i % 2 else
               _post(bidding, f"/v1/awards/{award['id']}/decline", {"reason": "race"}, winner)
               for i in range(N)]
    counts = Counter(status for status, _ in await asyncio.gather(*answers))
    assert counts == {200: 1, 409: N - 1}, counts
    db: asyncpg.Pool = bidding.app[DB]
    statuses = await db.fetch("SELECT rank, status FROM awards WHERE round_id = $1 ORDER BY rank",
                              uuid.UUID(rnd["id"]))
    assert statuses[0]["status"] in ("accepted", "declined")
    # A decline moved the award to rank 2 exactly once; an accept made no second award.
    assert len(statuses) == (2 if statuses[0]["status"] == "declined" else 1)


async def test_concurrent_cancels_cancel_once(bidding: TestClient, feed: PoolFeed,
                                              auth: Auth) -> None:
    pool = await feed.pool(members(2))
    rnd = await launch(bidding, _center(auth), round_body(pool, seconds=60))
    results = await asyncio.gather(*(
        _post(bidding, f"/v1/rounds/{rnd['id']}/cancel", {"reason": "race"}, _center(auth))
        for _ in range(N)))
    assert Counter(status for status, _ in results) == {200: 1, 409: N - 1}, results
    db: asyncpg.Pool = bidding.app[DB]
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'round.cancelled'"
                             " AND subject = $1", rnd["id"]) == 1
