"""The OCDS feed never lets a release appear behind a position a reader has passed,
even when transactions commit out of the order their rows were written in."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from shared.db import Conn, create_pool
from shared.events import CloudEvent
from shared.migrations import migrate
from shared.ocds import releases as r
from shared.ocds import store
from shared.ocds.projection import Context, ReleaseWriter
from shared.uow import UnitOfWork, register_projection

EMPTY = Path(__file__).parent / "empty_migrations"


class Refused(Exception):
    pass


@dataclass
class Gates:
    """Lets a test hold a transaction open after its release row was inserted."""

    inserted: dict[str, asyncio.Event] = field(default_factory=dict)
    release: dict[str, asyncio.Event] = field(default_factory=dict)

    def gate(self, name: str) -> None:
        self.inserted[name], self.release[name] = asyncio.Event(), asyncio.Event()


class HoldingWriter(ReleaseWriter):
    """The real writer, then (for events that ask) a pause or a failure before commit."""

    gates: Gates

    async def __call__(self, conn: Conn, events: list[CloudEvent]) -> None:
        await super().__call__(conn, events)
        for event in events:
            name = event.data.get("gate")
            if name is not None:
                self.gates.inserted[name].set()
                await self.gates.release[name].wait()
            await asyncio.sleep(float(event.data.get("hold", 0)))
            if event.data.get("fail"):
                raise Refused


async def one_release(_conn: Conn, event: CloudEvent, context: Context,
                      ) -> list[dict[str, Any]]:
    return [r.release(r.ocid(context.prefix, "feed", event.subject), str(event.id),
                      event.time.isoformat(), "tender", tender={"id": event.subject})]


@pytest.fixture
async def feed_db(database_url: str) -> AsyncIterator[tuple[asyncpg.Pool, str, Gates]]:
    schema = f"ocds_{uuid.uuid4().hex[:8]}"
    EMPTY.mkdir(exist_ok=True)
    await migrate(database_url, schema, EMPTY, "none")
    pool = await create_pool(database_url, schema, min_size=1, max_size=24)
    source = f"/ocds-feed-{schema}"
    gates = Gates()
    writer = HoldingWriter(Context("ocds-test00", ZoneInfo("UTC")), one_release)
    object.__setattr__(writer, "gates", gates)
    register_projection(source, writer)  # a source of its own, for this test only
    yield pool, source, gates
    for gate in gates.release.values():
        gate.set()  # never leave a transaction waiting (a failed test)
    await pool.close()


async def write(pool: asyncpg.Pool, source: str, subject: str, *, early_xid: bool = False,
                before_emit: Callable[[], Awaitable[None]] | None = None,
                **data: Any) -> str:
    """One transaction writing one release; its release id."""
    async with UnitOfWork(pool, source) as uow:
        if early_xid:
            # The transaction id is taken now; the release row is inserted only later.
            await uow.conn.execute("SELECT pg_current_xact_id()")
        if before_emit is not None:
            await before_emit()
        return str(uow.emit("test.released", subject, data).id)


class Reader:
    """Follows the feed page by page as an aggregator does, from its last position."""

    def __init__(self, pool: asyncpg.Pool, limit: int) -> None:
        self.pool, self.limit = pool, limit
        self.position: store.Position | None = None
        self.seen: list[str] = []

    async def read_until(self, n: int) -> None:
        """Read until `n` releases were seen (bounded: a missed one fails, never hangs)."""
        for _ in range(400):
            if len(self.seen) >= n:
                return
            if not await self.read_once():
                await asyncio.sleep(0.05)

    async def read_once(self) -> int:
        async with self.pool.acquire() as conn:
            texts, last, _more = await store.read_feed(conn, self.position, self.limit)
        self.position = last
        self.seen += [r.loads(t)["id"] for t in texts]
        return len(texts)


async def test_a_release_committed_late_is_never_behind_the_reader(
        feed_db: tuple[asyncpg.Pool, str, Gates]) -> None:
    pool, source, gates = feed_db
    reader = Reader(pool, 10)
    gates.gate("a")
    # A inserts its release row first (lower id) and stays open...
    a = asyncio.create_task(write(pool, source, "a", gate="a"))
    await gates.inserted["a"].wait()
    # ...while B inserts after it and commits.
    b = await write(pool, source, "b")
    # Paging by id alone would hand out B now, and A (lower id, committed later) would
    # land behind the reader for good. This feed holds B back until A is decided.
    committed_ids = [row["release_id"] for row in await pool.fetch(
        "SELECT release_id FROM ocds_releases ORDER BY id")]
    assert committed_ids == [b], "B is committed and A is not, as the scenario needs"
    assert await reader.read_once() == 0
    gates.release["a"].set()
    a_id = await a
    await reader.read_until(2)
    assert reader.seen == [a_id, b]
    ids = [row["id"] for row in await pool.fetch(
        "SELECT id FROM ocds_releases ORDER BY xid, id")]
    assert ids == sorted(ids)


async def test_a_transaction_that_started_first_and_wrote_last_is_served_first(
        feed_db: tuple[asyncpg.Pool, str, Gates]) -> None:
    pool, source, _gates = feed_db
    reader = Reader(pool, 10)
    started, go = asyncio.Event(), asyncio.Event()

    async def wait_for_b() -> None:
        started.set()
        await go.wait()

    # C takes its transaction id first, inserts its release only after D committed.
    c = asyncio.create_task(write(pool, source, "c", early_xid=True, before_emit=wait_for_b))
    await started.wait()
    d = await write(pool, source, "d")
    assert await reader.read_once() == 0  # D waits for C, which is still in flight
    go.set()
    c_id = await c
    await reader.read_until(2)
    assert reader.seen == [c_id, d]


async def test_every_release_is_read_exactly_once_while_writers_commit_out_of_order(
        feed_db: tuple[asyncpg.Pool, str, Gates]) -> None:
    pool, source, _gates = feed_db
    rng = random.Random(20261201)
    committed: list[str] = []
    refused = 0

    async def writer(i: int) -> None:
        nonlocal refused
        await asyncio.sleep(rng.random() * 0.5)
        fail = i % 9 == 4
        try:
            committed.append(await write(pool, source, f"s{i}", early_xid=i % 3 == 0,
                                         hold=rng.choice([0, 0, 0.05, 0.3]), fail=fail))
        except Refused:
            refused += 1

    readers = [Reader(pool, 3), Reader(pool, 1000)]
    writers = asyncio.gather(*(writer(i) for i in range(60)))
    while not writers.done():
        for reader in readers:
            await reader.read_once()
        await asyncio.sleep(0.01)
    await writers
    assert refused == 7 and len(committed) == 53
    for reader in readers:
        await reader.read_until(len(committed))
        assert await reader.read_once() == 0
        assert len(reader.seen) == len(set(reader.seen)), "a release was read twice"
        assert set(reader.seen) == set(committed), "missed a release, or read a rolled-back one"
