"""The bidding service (a real process) killed with SIGKILL between a budget answer's
delivery and its effect: after the restart the answer is applied once, nothing lost,
nothing twice (finance.md, "Every answer is idempotent")."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest

from bidding_service.app import MIGRATIONS
from bidding_service.settings import BiddingSettings
from shared.migrations import migrate
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.budget.conftest import Finance
from tests.support import ServiceProcess

pytestmark = pytest.mark.e2e
Auth = Callable[..., dict[str, str]]
SCHEMA = "bidding_budget_e2e"


@pytest.fixture
async def budget_env(e2e_env: dict[str, str]) -> dict[str, str]:
    tag = ".budget-e2e"
    env = {**e2e_env, "DB_SCHEMA": SCHEMA, "BUDGET_RESERVATION": "required",
           **{k: e2e_env[k] + tag for k in ("AWARDS_QUEUE", "POOL_EVENTS_QUEUE",
                                            "FINANCE_QUEUE", "FINANCE_BUDGET_QUEUE",
                                            "BUDGET_ANSWERS_QUEUE")}}
    await migrate(env["DATABASE_URL"], SCHEMA, MIGRATIONS, "bidding")
    return env


@pytest.fixture
async def db(budget_env: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(budget_env["DATABASE_URL"],
                                 server_settings={"search_path": SCHEMA})
    yield conn
    await conn.close()


async def _round(session: aiohttp.ClientSession, round_id: str, center: dict[str, str],
                 ) -> dict[str, Any]:
    async with session.get(f"/v1/rounds/{round_id}", headers=center) as resp:
        return dict(await resp.json())


async def test_killed_between_an_answers_delivery_and_its_effect(
        budget_env: dict[str, str], auth: Auth, db: asyncpg.Connection) -> None:
    settings = BiddingSettings(**{k.lower(): v for k, v in budget_env.items()})
    center = auth("procurement_center", sub="center-e2e")
    proc = await ServiceProcess("bidding_service", budget_env).start()
    finance = Finance(settings)
    await finance.start()
    holder = await asyncpg.connect(budget_env["DATABASE_URL"],
                                   server_settings={"search_path": SCHEMA})
    try:
        async with aiohttp.ClientSession(base_url=proc.url) as session:
            feed = PoolFeed(settings.amqp_url, settings.events_exchange, session, center)
            await feed.start()
            pool = await feed.pool(members(2))
            await feed.close()
            async with session.post("/v1/rounds", headers=center,
                                    json=round_body(pool, seconds=600)) as resp:
                rnd = await resp.json()
                assert resp.status == 201, rnd
        data = (await finance.request("budget.reservation.requested", rnd["id"]))["data"]

        # Hold the round's row: the consumer takes the answer, starts its transaction
        # and waits there, the answer delivered and not acknowledged.
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT 1 FROM rounds WHERE id = $1::uuid FOR UPDATE", rnd["id"])
        answer = await finance.answer("budget.reserved", rnd["id"], {
            "reservation_id": data["reservation_id"], "round_id": rnd["id"],
            "reserved_amount": "100000.00", "at": datetime.now(UTC).isoformat()})
        me = await holder.fetchval("SELECT pg_backend_pid()")
        for _ in range(300):
            blocked = await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                me)
            if blocked:
                break
            await asyncio.sleep(0.1)
        assert blocked, "the consumer never reached the answer's effect"
        proc.kill()
        await tx.rollback()

        assert await db.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1::uuid",
                                 answer["id"]) == 0
        assert (await db.fetchrow("SELECT status FROM budget_reservations WHERE id = $1::uuid",
                                  data["reservation_id"]))["status"] == "requested"

        again = await ServiceProcess("bidding_service", budget_env).start()
        try:
            async with aiohttp.ClientSession(base_url=again.url) as session:
                for _ in range(300):
                    view = await _round(session, rnd["id"], center)
                    if view["status"] == "open":
                        break
                    await asyncio.sleep(0.1)
                assert view["status"] == "open", view
                assert view["budget"]["status"] == "reserved"
                # The same answer once more (a finance system's redelivery): nothing twice.
                await finance.answer("budget.reserved", rnd["id"], answer["data"],
                                     event_id=uuid.UUID(answer["id"]))
                await asyncio.sleep(1.5)
                assert (await _round(session, rnd["id"], center))["status"] == "open"
        finally:
            assert again.terminate() == 0
        assert await db.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1::uuid",
                                 answer["id"]) == 1
        assert await db.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'budget.reserved' AND subject = $1",
            f"/v1/budget/reservations/{data['reservation_id']}") == 1
        # One request: the relay publishes at least once (a kill between the broker's
        # confirm and the row's mark sends the same event again); finance dedupes by id.
        assert len({e["id"] for e in finance.of("budget.reservation.requested",
                                                 rnd["id"])}) == 1
    finally:
        proc.kill()
        await holder.close()
        await finance.close()
