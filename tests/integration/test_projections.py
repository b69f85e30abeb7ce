"""UnitOfWork projections: called with the events before the outbox rows, in the same
transaction (a projection that fails rolls the change back with its events), only for
their own source, once however often registered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared.db import Conn, create_pool
from shared.events import CloudEvent
from shared.migrations import migrate
from shared.uow import UnitOfWork, register_projection

EMPTY = Path(__file__).parent / "empty_migrations"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = f"proj_{uuid.uuid4().hex[:8]}"
    EMPTY.mkdir(exist_ok=True)
    await migrate(database_url, schema, EMPTY, "none")
    db = await create_pool(database_url, schema, min_size=1, max_size=4)
    await db.execute("CREATE TABLE seen (event_id uuid PRIMARY KEY, type text NOT NULL,"
                     " outbox_rows_before bigint NOT NULL)")
    yield db
    await db.close()


async def test_a_projection_writes_in_the_event_s_transaction(pool: asyncpg.Pool) -> None:
    source = f"/proj-{uuid.uuid4().hex[:6]}"

    async def project(conn: Conn, events: list[CloudEvent]) -> None:
        for e in events:
            if e.type == "x.fails":
                raise RuntimeError("the projection refuses")
            before = await conn.fetchval("SELECT count(*) FROM outbox WHERE type LIKE 'x.%'")
            await conn.execute("INSERT INTO seen VALUES ($1, $2, $3)", e.id, e.type, before)

    register_projection(source, project)
    register_projection(source, project)  # once is enough
    async with UnitOfWork(pool, source) as uow:
        first = uow.emit("x.happened", "s", {"round_id": "r"})
    with pytest.raises(RuntimeError):
        async with UnitOfWork(pool, source) as uow:
            uow.emit("x.happened", "s", {"round_id": "r"})
            uow.emit("x.fails", "s", {"round_id": "r"})
    async with UnitOfWork(pool, "/another-source") as uow:
        uow.emit("x.elsewhere", "s", {"round_id": "r"})
    rows = await pool.fetch("SELECT * FROM seen")
    assert [(r["event_id"], r["type"], r["outbox_rows_before"]) for r in rows] == [
        (first.id, "x.happened", 0)]
    outbox = await pool.fetch("SELECT type FROM outbox WHERE type LIKE 'x.%' ORDER BY seq")
    assert [r["type"] for r in outbox] == ["x.happened", "x.elsewhere"]
