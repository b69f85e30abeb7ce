"""Helpers of the budget loop tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import launch

Auth = Callable[..., dict[str, str]]


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-budget")


async def launched(app: TestClient, feed: PoolFeed, auth: Auth, n: int = 3,
                   **overrides: Any) -> tuple[dict[str, Any], list[Any]]:
    """A round launched with BUDGET_RESERVATION=required, and its pool's members."""
    people = members(n)
    pool = await feed.pool(people)
    body = round_body(pool, seconds=600, min_bids=overrides.pop("min_bids", 2), **overrides)
    return await launch(app, center(auth), body), people


async def get_round(app: TestClient, auth: Auth, round_id: str) -> dict[str, Any]:
    async with app.get(f"/v1/rounds/{round_id}", headers=center(auth)) as resp:
        assert resp.status == 200
        return dict(await resp.json())


async def wait_round(app: TestClient, auth: Auth, round_id: str,
                     predicate: Callable[[dict[str, Any]], bool], timeout: float = 20,
                     ) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await get_round(app, auth, round_id)
        if predicate(r):
            return r
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"round {round_id}: {r['status']}, budget {r['budget']}")
        await asyncio.sleep(0.1)


def budget_is(status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["budget"] is not None and r["budget"]["status"] == status


async def reservation_row(db: asyncpg.Connection, round_id: str) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM budget_reservations WHERE round_id = $1::uuid",
                            round_id)
    assert row is not None
    return row


async def audit_actions(app: TestClient, auth: Auth, reservation_id: str) -> list[str]:
    async with app.get("/v1/audit", params={"subject": f"/v1/budget/reservations/"
                                             f"{reservation_id}"},
                       headers=center(auth)) as resp:
        assert resp.status == 200
        return [e["action"] for e in reversed((await resp.json())["items"])]


async def close_now(db: asyncpg.Connection, round_id: str) -> None:
    """Bring the round's close to now (the timer is woken by the update)."""
    await db.execute("UPDATE rounds SET closes_at = clock_timestamp() WHERE id = $1::uuid",
                     round_id)


async def reply_window_over(db: asyncpg.Connection, schema: str, round_id: str) -> None:
    """As if finance's reply window had passed: `reply_by` moved to now."""
    await db.execute("UPDATE budget_reservations SET reply_by = clock_timestamp()"
                     " WHERE round_id = $1::uuid", round_id)
    await db.execute("SELECT pg_notify($1, '')", f"round_timer_{schema}")


Fetch = Callable[..., Awaitable[list[asyncpg.Record]]]
SETTLED = ("committed", "released", "refused", "timed_out")


async def budget_at_rest(fetch: Fetch, schema: str, round_ids: list[str] | None = None,
                         ) -> list[asyncpg.Record]:
    """The budget loop's invariants at rest, over the reservations of `round_ids` (all
    when None); returns those reservations. Used here and by the fault suite:
    reserved = committed + released for every reservation, one release request per
    reservation, none for a committed one, and no round opened without a reservation
    covering its amount."""
    ids = None if round_ids is None else [uuid.UUID(r) for r in round_ids]
    rows = await fetch(f"SELECT * FROM {schema}.budget_reservations"
                       " WHERE $1::uuid[] IS NULL OR round_id = ANY($1::uuid[])", ids)
    for r in rows:
        assert r["status"] in SETTLED, dict(r)
        if r["reserved_amount"] is not None:
            assert r["reserved_amount"] == (r["committed_amount"] or 0) + \
                (r["released_amount"] or 0), dict(r)
        if r["status"] == "committed":
            assert r["release_requested_at"] is None, dict(r)
    unreserved = await fetch(
        f"SELECT r.id, r.status FROM {schema}.rounds r"
        f" LEFT JOIN {schema}.budget_reservations b ON b.round_id = r.id"
        " WHERE ($1::uuid[] IS NULL OR r.id = ANY($1::uuid[]))"
        "   AND r.status NOT IN ('pending_budget', 'cancelled')"
        "   AND (b.id IS NULL OR b.reserved_amount IS NULL OR b.reserved_amount < b.amount)",
        ids)
    assert unreserved == [], unreserved
    releases = await fetch(
        f"SELECT envelope->'data'->>'reservation_id' AS id, count(*) AS n FROM {schema}.outbox"
        " WHERE type = 'budget.release.requested'"
        "   AND ($1::uuid[] IS NULL OR subject::uuid = ANY($1::uuid[])) GROUP BY 1", ids)
    assert all(r["n"] == 1 for r in releases), releases
    return rows
