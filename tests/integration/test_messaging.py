"""The shared outbox relay and inbox consumer against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.broker import Broker, QueueSpec
from shared.db import create_pool
from shared.events import CloudEvent, new_event
from shared.inbox import InboxConsumer
from shared.metrics import Metrics
from shared.migrations import migrate
from shared.outbox import OutboxRelay
from shared.uow import UnitOfWork
from tests.support import EventTap

EMPTY = Path(__file__).parent / "empty_migrations"


@pytest.fixture
async def schema_pool(database_url: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    schema = f"msg_{uuid.uuid4().hex[:8]}"
    EMPTY.mkdir(exist_ok=True)
    await migrate(database_url, schema, EMPTY, "none")
    pool = await create_pool(database_url, schema, min_size=1, max_size=10)
    yield schema, pool
    await pool.close()


async def _write(pool: asyncpg.Pool, n: int, type_: str) -> list[uuid.UUID]:
    ids = []
    for i in range(n):
        async with UnitOfWork(pool, "/test") as uow:
            ids.append(uow.emit(type_, f"s{i}", {"i": i}).id)
    return ids


async def _unsent(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def test_relay_publishes_after_broker_comes_back_and_two_relays_never_double_send(
        schema_pool: tuple[str, asyncpg.Pool], database_url: str,
        service_env: dict[str, str]) -> None:
    schema, pool = schema_pool
    exchange = service_env["EVENTS_EXCHANGE"]
    type_ = f"test.{uuid.uuid4().hex[:6]}.happened"
    # Broker unreachable: the change commits, the events wait in the outbox.
    dead = Broker("amqp://guest:guest@127.0.0.1:1/", exchange)
    await dead.start()
    dead_relay = OutboxRelay(pool, database_url, schema, dead, Metrics(), poll_seconds=0.1)
    dead_task = asyncio.create_task(dead_relay.run())
    ids = await _write(pool, 60, type_)
    await asyncio.sleep(0.5)
    assert await _unsent(pool) == 60
    dead_task.cancel()
    await dead.close()

    async with EventTap(service_env["AMQP_URL"], exchange, (type_,)) as tap:
        brokers = [Broker(service_env["AMQP_URL"], exchange) for _ in range(2)]
        tasks = []
        for b in brokers:
            await b.start()
            relay = OutboxRelay(pool, database_url, schema, b, Metrics(), batch_size=7,
                                poll_seconds=0.1)
            tasks.append(asyncio.create_task(relay.run()))
        # More events while both relays run.
        ids += await _write(pool, 40, type_)
        await tap.wait_for(lambda events: len(events) >= 100)
        await asyncio.sleep(0.5)  # anything sent twice would arrive by now
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for b in brokers:
            await b.close()
    got = [uuid.UUID(e["id"]) for e in tap.events]
    assert sorted(got) == sorted(ids)
    assert len(set(got)) == len(got) == 100
    assert await _unsent(pool) == 0
    first = tap.events[0]
    assert first["specversion"] == "1.0" and first["source"] == "/test"
    assert tap.messages[0].message_id == first["id"]
    assert tap.messages[0].delivery_mode == 2
    assert tap.messages[0].content_type == "application/json"


async def test_inbox_applies_an_event_once_and_poison_goes_to_dlq(
        schema_pool: tuple[str, asyncpg.Pool], service_env: dict[str, str],
        amqp_channel: Any) -> None:
    _schema, pool = schema_pool
    await pool.execute("CREATE TABLE effects (event_id uuid, n int)")
    queue = f"test.{uuid.uuid4().hex[:8]}.q"
    exchange = service_env["EVENTS_EXCHANGE"]
    type_ = f"test.{uuid.uuid4().hex[:6]}.thing"

    async def handler(conn: asyncpg.Connection, event: CloudEvent) -> None:
        if event.data.get("boom"):
            raise ValueError("cannot handle")
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", event.id, event.data["n"])

    broker = Broker(service_env["AMQP_URL"], exchange, [QueueSpec(queue, [type_])])
    await broker.start()
    consumer = InboxConsumer(broker, pool, queue, handler, Metrics())
    task = asyncio.create_task(consumer.run())
    await broker.wait_ready()
    import aio_pika
    import orjson

    ex = await amqp_channel.get_exchange(exchange)
    event = new_event("/test", type_, "x", {"n": 1})
    body = orjson.dumps(event.to_json_dict())
    for _ in range(3):  # the same event delivered three times
        await ex.publish(aio_pika.Message(body, message_id=str(event.id)), routing_key=type_)
    await ex.publish(aio_pika.Message(b"{not json"), routing_key=type_)
    bad = new_event("/test", type_, "y", {"boom": True})
    await ex.publish(aio_pika.Message(orjson.dumps(bad.to_json_dict())), routing_key=type_)

    dlq = await amqp_channel.get_queue(f"{queue}.dlq")
    dead: list[bytes] = []
    for _ in range(100):
        msg = await dlq.get(no_ack=True, fail=False)
        if msg is not None:
            dead.append(msg.body)
        if len(dead) == 2:
            break
        await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await broker.close()
    rows = await pool.fetch("SELECT event_id, n FROM effects")
    assert [(r["event_id"], r["n"]) for r in rows] == [(event.id, 1)]
    assert sorted(dead) == sorted([b"{not json", orjson.dumps(bad.to_json_dict())])
    q = await amqp_channel.get_queue(queue)
    await q.delete(if_unused=False, if_empty=False)
    await dlq.delete(if_unused=False, if_empty=False)
