"""The shared outbox relay and inbox consumer against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.broker import Broker, QueueSpec, system_queues
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


# ---------------------------------------------------------------- queue arguments, DLQ


def _queue_arguments(name: str) -> dict[str, Any]:
    """The arguments RabbitMQ itself reports for a queue (not what we asked for)."""
    import json
    import subprocess

    listed = subprocess.run(
        ["rabbitmqctl", "list_queues", "-q", "--formatter", "json", "name", "arguments"],
        capture_output=True, text=True, timeout=60, check=True)
    for row in json.loads(listed.stdout):
        if row["name"] == name:
            return {arg[0]: arg[2] for arg in row["arguments"]}
    raise AssertionError(f"queue {name} not found")


async def test_every_queue_argument_is_explicit(service_env: dict[str, str]) -> None:
    queue = f"test.{uuid.uuid4().hex[:8]}.args"
    broker = Broker(service_env["AMQP_URL"], service_env["EVENTS_EXCHANGE"],
                    [QueueSpec(queue, ["test.args.#"])])
    await broker.start()
    await broker.wait_ready()
    await broker.close()
    assert _queue_arguments(queue) == {
        "x-queue-type": "quorum", "x-delivery-limit": 20,
        "x-dead-letter-exchange": "procurement.dlx",
        "x-dead-letter-routing-key": f"{queue}.dlq",
        "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    assert _queue_arguments(f"{queue}.dlq") == {
        "x-queue-type": "quorum", "x-delivery-limit": 1_000_000,
        "x-overflow": "reject-publish"}
    # The system queues of this session were declared by the same code.
    settings_queue = service_env["FINANCE_QUEUE"]
    broker = Broker(service_env["AMQP_URL"], service_env["EVENTS_EXCHANGE"],
                    system_queues(service_env["AWARDS_QUEUE"],
                                  service_env["POOL_EVENTS_QUEUE"], settings_queue))
    await broker.start()
    await broker.wait_ready()
    await broker.close()
    assert _queue_arguments(settings_queue)["x-dead-letter-strategy"] == "at-least-once"
    assert _queue_arguments(settings_queue)["x-delivery-limit"] == 20


async def test_a_message_redelivered_past_the_limit_is_dead_lettered_and_replayable(
        schema_pool: tuple[str, asyncpg.Pool], service_env: dict[str, str],
        amqp_channel: Any) -> None:
    import aio_pika
    import orjson

    from procure.dlq import list_dead, replay
    from procure.settings import ProcureSettings

    _schema, pool = schema_pool
    queue = f"test.{uuid.uuid4().hex[:8]}.limit"
    type_ = f"test.{uuid.uuid4().hex[:6]}.crashy"
    broker = Broker(service_env["AMQP_URL"], service_env["EVENTS_EXCHANGE"],
                    [QueueSpec(queue, [type_], delivery_limit=3)])
    await broker.start()
    await broker.wait_ready()
    ex = await amqp_channel.get_exchange(service_env["EVENTS_EXCHANGE"])
    event = new_event("/test", type_, "x", {"n": 1})
    await ex.publish(aio_pika.Message(event.to_json(), message_id=str(event.id), type=type_,
                                      content_type="application/json"), routing_key=type_)
    # A consumer that dies on it every time (the message comes back, unacknowledged).
    q = await amqp_channel.get_queue(queue)
    deliveries = 0
    for _ in range(200):
        message = await q.get(no_ack=False, fail=False)
        if message is None:
            if deliveries > 3:
                break
            await asyncio.sleep(0.05)
            continue
        deliveries += 1
        await message.nack(requeue=True)
    assert deliveries == 4  # the first delivery and 3 redeliveries, then the .dlq

    settings = ProcureSettings(amqp_url=service_env["AMQP_URL"])
    dead = []
    for _ in range(100):
        dead = await list_dead(settings, queue)
        if dead:
            break
        await asyncio.sleep(0.1)
    assert [(d.event_id, d.type, d.reason, d.queue) for d in dead] == \
        [(str(event.id), type_, "delivery_limit", queue)]
    # Listing consumed nothing.
    assert [d.event_id for d in await list_dead(settings, f"{queue}.dlq")] == [str(event.id)]

    # Replay moves it back to its queue, where an inbox consumer applies it once; a
    # second copy replayed (as after a replay that was interrupted) changes nothing.
    await pool.execute("CREATE TABLE IF NOT EXISTS effects (event_id uuid, n int)")

    async def handler(conn: asyncpg.Connection, ev: CloudEvent) -> None:
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", ev.id, ev.data["n"])

    dlx = await amqp_channel.get_exchange("procurement.dlx")
    await dlx.publish(aio_pika.Message(event.to_json(), message_id=str(event.id),
                                       headers={"x-first-death-queue": queue,
                                                "x-first-death-reason": "rejected"}),
                      routing_key=f"{queue}.dlq")
    for _ in range(50):
        if len(await list_dead(settings, queue)) == 2:
            break
        await asyncio.sleep(0.1)
    done = await replay(settings, queue)
    assert [d.event_id for d in done.moved] == [str(event.id)] * 2
    assert await list_dead(settings, queue) == []
    consumer = InboxConsumer(broker, pool, queue, handler, Metrics())
    task = asyncio.create_task(consumer.run())
    try:
        for _ in range(100):
            if await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event.id):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await broker.close()
    assert await pool.fetchval("SELECT count(*) FROM effects WHERE event_id = $1",
                               event.id) == 1
    assert orjson.loads(event.to_json())["id"] == str(event.id)
    await q.delete(if_unused=False, if_empty=False)
    await (await amqp_channel.get_queue(f"{queue}.dlq")).delete(if_unused=False,
                                                                if_empty=False)


# ---------------------------------------------------------------- relay failures


async def _outbox(pool: asyncpg.Pool) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch("SELECT * FROM outbox ORDER BY seq")
    return {str(r["subject"]): r for r in rows}


async def test_a_returned_publish_stays_unsent_with_its_error(
        schema_pool: tuple[str, asyncpg.Pool], database_url: str,
        service_env: dict[str, str]) -> None:
    schema, pool = schema_pool
    nobody = f"test.{uuid.uuid4().hex[:6]}.unbound"  # no queue is bound for this type
    async with UnitOfWork(pool, "/test") as uow:
        uow.emit(nobody, "lost", {"i": 1})
    broker = Broker(service_env["AMQP_URL"], service_env["EVENTS_EXCHANGE"])
    await broker.start()
    metrics = Metrics()
    relay = OutboxRelay(pool, database_url, schema, broker, metrics)
    try:
        assert await relay.drain_once() == 0
    finally:
        await relay._drop_channel()
        await broker.close()
    row = (await _outbox(pool))["lost"]
    assert row["published_at"] is None
    assert row["attempts"] == 1
    assert "returned by the broker: 312 NO_ROUTE" in row["last_error"]
    assert row["next_attempt_at"] is not None
    assert metrics.events_published._value.get() == 0


async def test_a_failing_row_holds_its_partition_only(
        schema_pool: tuple[str, asyncpg.Pool], database_url: str,
        service_env: dict[str, str], amqp_channel: Any) -> None:
    schema, pool = schema_pool
    exchange = service_env["EVENTS_EXCHANGE"]
    stuck = f"test.{uuid.uuid4().hex[:6]}.stuck"  # unroutable until a queue is bound
    fine = f"test.{uuid.uuid4().hex[:6]}.fine"
    async with UnitOfWork(pool, "/test") as uow:
        uow.emit(stuck, "a1", {}, partitionkey="A")
    async with UnitOfWork(pool, "/test") as uow:
        uow.emit(fine, "a2", {}, partitionkey="A")
    for i in range(3):
        async with UnitOfWork(pool, "/test") as uow:
            uow.emit(fine, f"b{i}", {}, partitionkey="B")
    async with EventTap(service_env["AMQP_URL"], exchange, (fine,)) as tap:
        broker = Broker(service_env["AMQP_URL"], exchange)
        await broker.start()
        relay = OutboxRelay(pool, database_url, schema, broker, Metrics(), poll_seconds=0.1)
        task = asyncio.create_task(relay.run())
        try:
            await tap.wait_for(lambda ev: len(ev) >= 3)
            await asyncio.sleep(1.0)  # a few more turns of the relay: a2 must still wait
            rows = await _outbox(pool)
            assert [rows[f"b{i}"]["published_at"] is not None for i in range(3)] == [True] * 3
            assert rows["a1"]["published_at"] is None and rows["a1"]["attempts"] >= 1
            assert "NO_ROUTE" in rows["a1"]["last_error"]
            assert rows["a2"]["published_at"] is None  # not overtaking a1
            assert [e["subject"] for e in tap.events] == ["b0", "b1", "b2"]
            # The topology is fixed: a1 goes out at its next attempt, then a2.
            async with EventTap(service_env["AMQP_URL"], exchange, (stuck,)) as fixed:
                await fixed.wait_for(lambda ev: len(ev) >= 1, timeout=30)
                await tap.wait_for(lambda ev: len(ev) >= 4)
            # Received is not yet recorded: the relay marks a row after the confirm.
            for _ in range(100):
                rows = await _outbox(pool)
                if rows["a1"]["published_at"] and rows["a2"]["published_at"]:
                    break
                await asyncio.sleep(0.1)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await broker.close()
    rows = await _outbox(pool)
    assert rows["a1"]["published_at"] < rows["a2"]["published_at"]
    assert [(r["partitionkey"], r["sequence"]) for r in (rows["a1"], rows["a2"])] == \
        [("A", 1), ("A", 2)]


async def test_a_queue_declared_by_v1_is_refused_loudly_until_recreated(
        service_env: dict[str, str], amqp_channel: Any) -> None:
    """The upgrade step of docs/reliability.md: the old queue must be recreated."""
    from structlog.testing import capture_logs

    queue = f"test.{uuid.uuid4().hex[:8]}.v1"
    await amqp_channel.declare_queue(queue, durable=True, arguments={
        "x-queue-type": "quorum", "x-dead-letter-exchange": "procurement.dlx",
        "x-dead-letter-routing-key": f"{queue}.dlq"})  # what v1 declared
    broker = Broker(service_env["AMQP_URL"], service_env["EVENTS_EXCHANGE"],
                    [QueueSpec(queue, ["test.v1.#"])])
    with capture_logs() as logs:
        await broker.start()
        await asyncio.sleep(2.5)
        assert not broker.is_connected
        await broker.close()
    refused = [e for e in logs if e["event"] == "broker_queue_arguments_differ"]
    assert refused and "PRECONDITION_FAILED" in refused[0]["detail"]
    await amqp_channel.queue_delete(queue)  # the operator's step
    broker = Broker(service_env["AMQP_URL"], service_env["EVENTS_EXCHANGE"],
                    [QueueSpec(queue, ["test.v1.#"])])
    await broker.start()
    await asyncio.wait_for(broker.wait_ready(), 15)
    await broker.close()
    assert _queue_arguments(queue)["x-delivery-limit"] == 20
