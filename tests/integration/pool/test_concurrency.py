"""Races: concurrent transitions on one pool, concurrent suspension sweepers."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from pool_service import domain, service
from pool_service.domain import MembershipStatus
from shared.auth import Role
from tests.integration.pool.conftest import Auth
from tests.support import EventTap

Make = Callable[..., Any]


def _body(to: str) -> dict[str, Any]:
    if to == "removed":
        return {"to": to, "reason": "race test", "ground": "other"}
    if to in ("rejected", "suspended"):
        return {"to": to, "reason": "race test"}
    return {"to": to}


async def assert_histories_replay(db: asyncpg.Pool, pool_id: uuid.UUID) -> int:
    """Each membership's history replays from (none) to its status; returns the row count."""
    members = await db.fetch("SELECT * FROM memberships WHERE pool_id = $1", pool_id)
    total = 0
    for member in members:
        rows = await db.fetch("SELECT * FROM membership_history WHERE membership_id = $1"
                              " ORDER BY version", member["id"])
        state: MembershipStatus | None = None
        for expected_version, row in enumerate(rows, start=1):
            assert row["version"] == expected_version
            assert row["from_status"] == (state.value if state else None)
            to = MembershipStatus(row["to_status"])
            change = domain.transition(state, to, now=row["at"] - timedelta(seconds=1),
                                       reason=row["reason"], ground=row["ground"],
                                       until=row["until"])
            assert change.action.value == row["action"]
            state = to
        assert state is not None and state.value == member["status"]
        assert member["version"] == len(rows)
        total += len(rows)
    return total


async def test_200_concurrent_transitions_leave_a_consistent_history(
        client: TestClient, center: dict[str, str], auth: Auth, make_pool: Make,
        make_supplier: Make, admit: Make, db: asyncpg.Pool) -> None:
    pool = await make_pool()
    suppliers = [await make_supplier() for _ in range(20)]
    for s in suppliers[:10]:
        await admit(pool["id"], s["id"])
    for s in suppliers[10:]:
        resp = await client.post(f"/v1/pools/{pool['id']}/applications",
                                 headers=auth(Role.SUPPLIER, supplier_id=s["id"]))
        assert resp.status == 201
    outbox_before = await db.fetchval("SELECT count(*) FROM outbox")

    rng = random.Random(20261127)
    targets = ["admitted", "admitted", "suspended", "suspended", "rejected", "removed"]
    plan = [(rng.choice(suppliers)["id"], rng.choice(targets)) for _ in range(200)]

    async def send(supplier_id: str, to: str) -> int:
        resp = await client.post(
            f"/v1/pools/{pool['id']}/members/{supplier_id}/transitions",
            json=_body(to), headers=center)
        await resp.read()
        return resp.status

    statuses = await asyncio.gather(*(send(s, to) for s, to in plan))
    counts = Counter(statuses)
    assert set(counts) <= {200, 409}, counts
    assert counts[200] > 0 and counts[409] > 0

    pool_id = uuid.UUID(pool["id"])
    rows = await assert_histories_replay(db, pool_id)
    assert rows == 20 + counts[200]  # the 20 set-up transitions and every success
    admitted = await db.fetchval("SELECT count(*) FROM memberships WHERE pool_id = $1"
                                 " AND status = 'admitted'", pool_id)
    current = await (await client.get(f"/v1/pools/{pool['id']}")).json()
    assert current["admitted_count"] == admitted
    assert current["peak_admitted_count"] >= max(admitted, 10)
    # One event per successful transition, nothing for the refused ones.
    assert await db.fetchval("SELECT count(*) FROM outbox") - outbox_before == counts[200]


async def test_timed_suspension_lifts_itself(client: TestClient, center: dict[str, str],
                                             service_env: dict[str, str], make_pool: Make,
                                             make_supplier: Make, admit: Make,
                                             move: Make) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    await admit(pool["id"], supplier["id"])
    async with EventTap(service_env["AMQP_URL"], service_env["EVENTS_EXCHANGE"],
                        ("pool.member.*",)) as tap:
        until = datetime.now(UTC) + timedelta(seconds=2)
        status, suspended = await move(pool["id"], supplier["id"], "suspended",
                                       reason="missed a deadline", until=until.isoformat())
        assert status == 200 and suspended["status"] == "suspended"

        def lifted(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [e for e in events if e["type"] == "pool.member.reinstated"
                    and e["data"]["pool_id"] == pool["id"]]

        await tap.wait_for(lifted)
        event = lifted(tap.events)[0]
    assert event["data"]["status"] == "admitted" and event["data"]["version"] == 3
    assert datetime.fromisoformat(event["data"]["at"]) >= until
    member = await (await client.get(f"/v1/pools/{pool['id']}/members/{supplier['id']}",
                                     headers=center)).json()
    assert (member["status"], member["until"], member["version"]) == ("admitted", None, 3)
    history = await (await client.get(
        f"/v1/pools/{pool['id']}/members/{supplier['id']}/history", headers=center)).json()
    last = history["items"][-1]
    assert (last["action"], last["actor"], last["actor_role"]) == \
        ("reinstated", "suspension-sweeper", "system")


async def test_concurrent_sweepers_lift_each_suspension_once(
        client: TestClient, make_pool: Make, make_supplier: Make, admit: Make, move: Make,
        db: asyncpg.Pool) -> None:
    pool = await make_pool()
    suppliers = [await make_supplier() for _ in range(12)]
    for s in suppliers:
        await admit(pool["id"], s["id"])
    until = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    for s in suppliers:
        status, _ = await move(pool["id"], s["id"], "suspended", reason="sweep", until=until)
        assert status == 200

    async def sweeper() -> int:
        lifted = 0
        while await db.fetchval("SELECT count(*) FROM memberships WHERE pool_id = $1"
                                " AND status = 'suspended'", uuid.UUID(pool["id"])):
            lifted += await service.lift_due_suspension(db)
            await asyncio.sleep(0.01)
        return lifted

    # Four of ours race the app's own sweeper.
    await asyncio.gather(*(sweeper() for _ in range(4)))
    reinstated = await db.fetchval(
        "SELECT count(*) FROM membership_history WHERE pool_id = $1 AND action = 'reinstated'",
        uuid.UUID(pool["id"]))
    assert reinstated == 12
    assert await assert_histories_replay(db, uuid.UUID(pool["id"])) == 36
