"""Concurrent first writes of one thing against the real app: exactly one wins (201) and
every other request gets the domain's answer (409, or 200 for a legal follow-up
transition), never a 500 from a unique violation."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from shared.auth import Role
from tests.integration.pool.conftest import Auth, pool_body, supplier_body
from tests.integration.pool.test_concurrency import assert_histories_replay

Make = Callable[..., Any]
N = 10


async def _status(client: TestClient, path: str, body: dict[str, Any] | None,
                  headers: dict[str, str]) -> int:
    async with client.post(path, json=body, headers=headers) as resp:
        await resp.read()
        if resp.status >= 400:
            assert resp.content_type == "application/problem+json"
        return resp.status


async def _membership_is_whole(db: asyncpg.Pool, client: TestClient, pool_id: str,
                               supplier_id: str) -> asyncpg.Record:
    rows = await db.fetch("SELECT * FROM memberships WHERE pool_id = $1 AND supplier_id = $2",
                          uuid.UUID(pool_id), uuid.UUID(supplier_id))
    assert len(rows) == 1
    await assert_histories_replay(db, uuid.UUID(pool_id))
    admitted = await db.fetchval("SELECT count(*) FROM memberships WHERE pool_id = $1"
                                 " AND status = 'admitted'", uuid.UUID(pool_id))
    pool = await (await client.get(f"/v1/pools/{pool_id}")).json()
    assert pool["admitted_count"] == admitted
    return rows[0]


async def _events_for(db: asyncpg.Pool, supplier_id: str) -> int:
    return int(await db.fetchval(
        "SELECT count(*) FROM outbox WHERE type LIKE 'pool.member.%'"
        " AND envelope->'data'->'supplier'->>'id' = $1", supplier_id))


async def test_concurrent_first_admissions_give_one_201_and_409s(
        client: TestClient, center: dict[str, str], make_pool: Make, make_supplier: Make,
        db: asyncpg.Pool) -> None:
    attempts = N
    pool, supplier = await make_pool(), await make_supplier()
    path = f"/v1/pools/{pool['id']}/members"
    statuses = await asyncio.gather(*(
        _status(client, path, {"supplier_id": supplier["id"]}, center)
        for _ in range(attempts)))
    assert Counter(statuses) == {201: 1, 409: attempts - 1}, statuses
    row = await _membership_is_whole(db, client, pool["id"], supplier["id"])
    assert (row["status"], row["version"]) == ("admitted", 1)
    assert await _events_for(db, supplier["id"]) == 1


async def test_concurrent_first_applications_give_one_201_and_409s(
        client: TestClient, auth: Auth, make_pool: Make, make_supplier: Make,
        db: asyncpg.Pool) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    me = auth(Role.SUPPLIER, supplier_id=supplier["id"])
    statuses = await asyncio.gather(*(
        _status(client, f"/v1/pools/{pool['id']}/applications", {}, me) for _ in range(N)))
    assert Counter(statuses) == {201: 1, 409: N - 1}, statuses
    row = await _membership_is_whole(db, client, pool["id"], supplier["id"])
    assert (row["status"], row["version"]) == ("applied", 1)
    assert await _events_for(db, supplier["id"]) == 1


async def test_applications_racing_admissions_are_decided_in_order(
        client: TestClient, center: dict[str, str], auth: Auth, make_pool: Make,
        make_supplier: Make, db: asyncpg.Pool) -> None:
    """Whoever creates the membership gets 201; a later admission of an applicant is a
    legal transition (200); everything else is a 409, as if the requests had queued."""
    pool = await make_pool()
    for _ in range(3):
        supplier = await make_supplier()
        me = auth(Role.SUPPLIER, supplier_id=supplier["id"])
        requests = [_status(client, f"/v1/pools/{pool['id']}/applications", {}, me)
                    if i % 2 else
                    _status(client, f"/v1/pools/{pool['id']}/members",
                            {"supplier_id": supplier["id"]}, center)
                    for i in range(N)]
        counts = Counter(await asyncio.gather(*requests))
        assert set(counts) <= {200, 201, 409} and counts[201] == 1, counts
        row = await _membership_is_whole(db, client, pool["id"], supplier["id"])
        assert row["version"] == 1 + counts[200]
        assert await _events_for(db, supplier["id"]) == row["version"]


async def test_concurrent_registrations_of_one_credit_code(
        client: TestClient, center: dict[str, str], db: asyncpg.Pool) -> None:
    body = supplier_body()
    statuses = await asyncio.gather(*(_status(client, "/v1/suppliers", body, center)
                                      for _ in range(N)))
    assert Counter(statuses) == {201: 1, 409: N - 1}, statuses
    assert await db.fetchval("SELECT count(*) FROM suppliers WHERE credit_code = $1",
                             body["credit_code"]) == 1


async def test_concurrent_pools_with_one_code(client: TestClient, center: dict[str, str],
                                              db: asyncpg.Pool) -> None:
    body = pool_body()
    statuses = await asyncio.gather(*(_status(client, "/v1/pools", body, center)
                                      for _ in range(N)))
    assert Counter(statuses) == {201: 1, 409: N - 1}, statuses
    assert await db.fetchval("SELECT count(*) FROM pools WHERE code = $1", body["code"]) == 1
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'pool.created'"
                             " AND envelope->'data'->>'code' = $1", body["code"]) == 1


async def test_concurrent_ratings_of_one_award(
        client: TestClient, auth: Auth, make_pool: Make, make_supplier: Make, admit: Make,
        db: asyncpg.Pool) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    await admit(pool["id"], supplier["id"])
    award_id = uuid.uuid4()
    # The award as the awards consumer records it from the bidding service's event.
    await db.execute(
        "INSERT INTO awards (id, round_id, supplier_id, pool_id, buyer_org, buyer_name,"
        " amount, currency, awarded_at, status, status_at)"
        " VALUES ($1, $2, $3, $4, 'WZ-RACE', '温州', 100, 'CNY', $5, 'accepted', $5)",
        award_id, uuid.uuid4(), uuid.UUID(supplier["id"]), uuid.UUID(pool["id"]),
        datetime.now(UTC))
    buyer = auth(Role.BUYER, org="WZ-RACE")
    path = f"/v1/pools/{pool['id']}/members/{supplier['id']}/ratings"
    statuses = await asyncio.gather(*(
        _status(client, path, {"award_id": str(award_id), "score": 4}, buyer)
        for _ in range(N)))
    assert Counter(statuses) == {201: 1, 409: N - 1}, statuses
    assert await db.fetchval("SELECT count(*) FROM ratings WHERE award_id = $1", award_id) == 1
