"""trust.md section 7 against the real PostgreSQL and RabbitMQ: a gapless `sequence` per
(source, partitionkey) in commit order, and consumers that apply events in that order."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest

from shared.broker import Broker, QueueSpec
from shared.db import create_pool
from shared.events import CloudEvent, new_event
from shared.inbox import InboxConsumer
from shared.metrics import Metrics
from shared.migrations import migrate
from shared.uow import UnitOfWork

EMPTY = Path(__file__).parent / "empty_migrations"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = f"ord_{uuid.uuid4().hex[:8]}"
    EMPTY.mkdir(exist_ok=True)
    await migrate(database_url, schema, EMPTY, "none")
    db = await create_pool(database_url, schema, min_size=1, max_size=12)
    yield db
    await db.close()


async def test_sequence_is_gapless_and_in_commit_order_under_concurrent_emits(
        pool: asyncpg.Pool) -> None:
    round_id = str(uuid.uuid4())

    async def one(i: int) -> None:
        async with UnitOfWork(pool, "/test") as uow:
            await asyncio.sleep(random.random() / 50)
            uow.emit("award.declined", i, {"round_id": round_id, "i": i})
            if i % 3 == 0:  # two events of the partition in one transaction
                uow.emit("award.published", i, {"round_id": round_id, "i": i})
            uow.emit("pool.updated", i, {"id": f"pool-{i % 2}"})  # other partitions
            await asyncio.sleep(random.random() / 50)
            if i % 7 == 0:
                raise RuntimeError("rolled back: its numbers are not lost")

    results = await asyncio.gather(*(one(i) for i in range(40)), return_exceptions=True)
    assert sum(isinstance(r, RuntimeError) for r in results) == 6
    rows = await pool.fetch("SELECT seq, partitionkey, sequence, envelope FROM outbox"
                            " WHERE partitionkey = $1 ORDER BY seq", round_id)
    committed = [i for i in range(40) if i % 7]
    assert len(rows) == len(committed) + len([i for i in committed if i % 3 == 0])
    # 1, 2, 3, ... with no gap, and the outbox order (commit order) is the sequence order.
    assert [r["sequence"] for r in rows] == list(range(1, len(rows) + 1))
    for r in rows:
        envelope = r["envelope"]
        assert envelope["partitionkey"] == round_id
        assert envelope["sequence"] == str(r["sequence"])
    for key in ("pool-0", "pool-1"):
        seqs = [r["sequence"] for r in await pool.fetch(
            "SELECT sequence FROM outbox WHERE partitionkey = $1 ORDER BY seq", key)]
        assert seqs == list(range(1, len(seqs) + 1))


def test_partition_keys_of_each_event_family() -> None:
    round_id, pool_id, supplier_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert new_event("/b", "round.launched", round_id, {"id": str(round_id)}).partitionkey \
        == str(round_id)
    for type_ in ("award.published", "budget.reservation.requested", "round.closed"):
        assert new_event("/b", type_, uuid.uuid4(),
                         {"round_id": str(round_id)}).partitionkey == str(round_id)
    assert new_event("/p", "pool.updated", pool_id, {"id": str(pool_id)}).partitionkey \
        == str(pool_id)
    member = new_event("/p", "pool.member.suspended", uuid.uuid4(),
                       {"pool_id": str(pool_id), "supplier": {"id": str(supplier_id)}})
    assert member.partitionkey == f"{pool_id}/{supplier_id}"


async def _publish(channel: Any, exchange: str, event: CloudEvent) -> None:
    ex = await channel.get_exchange(exchange)
    await ex.publish(aio_pika.Message(event.to_json(), message_id=str(event.id),
                                      content_type="application/json"),
                     routing_key=event.type)


async def test_a_consumer_applies_each_partition_in_sequence_order(
        pool: asyncpg.Pool, service_env: dict[str, str], amqp_channel: Any) -> None:
    await pool.execute("CREATE TABLE applied (partitionkey text, sequence int, at serial)")
    queue = f"test.{uuid.uuid4().hex[:8]}.ordered"
    type_ = f"test.{uuid.uuid4().hex[:6]}.step"
    exchange = service_env["EVENTS_EXCHANGE"]

    async def handler(conn: asyncpg.Connection, event: CloudEvent) -> None:
        await conn.execute("INSERT INTO applied VALUES ($1, $2)", event.partitionkey,
                           event.data["n"])

    def ev(key: str, n: int) -> CloudEvent:
        return new_event("/producer", type_, key, {"n": n}, partitionkey=key, sequence=n)

    broker = Broker(service_env["AMQP_URL"], exchange, [QueueSpec(queue, [type_])])
    await broker.start()
    await broker.wait_ready()
    metrics = Metrics()
    consumer = InboxConsumer(broker, pool, queue, handler, metrics,
                             ordered_sources=["/producer"], hold_seconds=2.0)
    task = asyncio.create_task(consumer.run())
    try:
        # Partition P arrives as 3, 1, 4, 2 (and 1 again, as a new copy with its own id:
        # stale); partition Q lost its 1 and 2: its 3 is applied after the hold, a gap.
        third = ev("P", 3)
        for event in (third, ev("P", 1), ev("P", 4), ev("Q", 3), ev("P", 2), ev("P", 1)):
            await _publish(amqp_channel, exchange, event)
        for _ in range(100):
            if await pool.fetchval("SELECT count(*) FROM applied") == 5:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        await _publish(amqp_channel, exchange, third)  # a redelivered duplicate
        await asyncio.sleep(0.5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await broker.close()
    rows = await pool.fetch("SELECT partitionkey, sequence FROM applied ORDER BY at")
    assert [r["sequence"] for r in rows if r["partitionkey"] == "P"] == [1, 2, 3, 4]
    assert [r["sequence"] for r in rows if r["partitionkey"] == "Q"] == [3]
    outcomes = {r["outcome"] for r in await pool.fetch("SELECT outcome FROM inbox")}
    assert outcomes == {"applied", "stale", "gap"}
    counted = {s.labels["outcome"]: s.value for m in metrics.events_consumed.collect()
               for s in m.samples if s.name.endswith("_total")}
    assert counted["stale"] == 1 and counted["gap"] == 1 and counted["duplicate"] == 1
    assert counted["held"] >= 2
    q = await amqp_channel.get_queue(queue)
    await q.delete(if_unused=False, if_empty=False)
