"""Helpers of the budget loop tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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
