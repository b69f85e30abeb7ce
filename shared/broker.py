"""RabbitMQ: one robust connection per process, the topology, the outbox relay and
the idempotent inbox consumer. Both services use exactly these pieces."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aio_pika
import aiormq
import asyncpg
import orjson
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from aio_pika.connection import make_url
from pydantic import ValidationError

from shared.db import Conn, listen_forever
from shared.events import CloudEvent
from shared.metrics import Metrics
from shared.types import utcnow

log = structlog.get_logger(__name__)

DLX_NAME = "procurement.dlx"


@dataclass(frozen=True)
class QueueSpec:
    """A durable quorum queue bound to routing keys, with its own `.dlq`."""

    name: str
    routing_keys: Sequence[str]


async def declare_events_exchange(channel: AbstractChannel, name: str) -> AbstractExchange:
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_queue(channel: AbstractChannel, exchange: AbstractExchange,
                        spec: QueueSpec) -> aio_pika.abc.AbstractQueue:
    """Declare `spec` with a dead-letter queue `<name>.dlq` for poison messages."""
    dlx = await channel.declare_exchange(DLX_NAME, aio_pika.ExchangeType.DIRECT, durable=True)
    dlq = await channel.declare_queue(
        f"{spec.name}.dlq", durable=True, arguments={"x-queue-type": "quorum"})
    await dlq.bind(dlx, routing_key=f"{spec.name}.dlq")
    queue = await channel.declare_queue(
        spec.name, durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": DLX_NAME,
            "x-dead-letter-routing-key": f"{spec.name}.dlq",
        },
    )
    for key in spec.routing_keys:
        await queue.bind(exchange, routing_key=key)
    return queue


# What the finance queue receives: every award event and failed rounds.
FINANCE_KEYS = ("award.*", "round.failed")


def system_queues(awards: str, pool_events: str, finance: str) -> list[QueueSpec]:
    """Every consumer queue of the system with its bindings (declared by every service)."""
    return [
        QueueSpec(awards, ["award.*"]),  # the pool service: award history, refusals
        QueueSpec(pool_events, ["pool.#"]),  # the bidding service: its eligibility copy
        QueueSpec(finance, FINANCE_KEYS),  # finance systems
    ]


class Broker:
    """The process's RabbitMQ connection; connects in the background and keeps reconnecting.

    The service serves HTTP while the broker is down (bids are taken, events wait in
    the outbox); `/readyz` reports the broker as unreachable meanwhile.
    """

    def __init__(self, url: str, exchange: str, queues: Sequence[QueueSpec] = ()) -> None:
        self._url = url
        self.exchange_name = exchange
        self._queues = list(queues)
        self.connection: AbstractRobustConnection | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending: AbstractRobustConnection | None = None

    @property
    def is_connected(self) -> bool:
        conn = self.connection
        return conn is not None and not conn.is_closed and conn.connected.is_set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="broker-connect")

    async def _connect(self) -> None:
        while True:
            # Built by hand (not connect_robust) so close() can reach a connection that is
            # still trying: its own reconnect task would otherwise outlive SIGTERM.
            conn = aio_pika.RobustConnection(make_url(self._url, reconnect_interval=1,
                                                      fail_fast=False))
            self._pending = conn
            try:
                await conn.connect(timeout=5)
                channel = await conn.channel()
                exchange = await declare_events_exchange(channel, self.exchange_name)
                for spec in self._queues:
                    await declare_queue(channel, exchange, spec)
                await channel.close()
                self.connection = conn
                self._pending = None
                self._ready.set()
                log.info("broker_connected")
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep trying: the broker may start later
                log.warning("broker_connect_failed", error=type(exc).__name__)
                self._pending = None
                with contextlib.suppress(Exception):
                    await conn.close()
                await asyncio.sleep(1)

    async def wait_ready(self) -> AbstractRobustConnection:
        await self._ready.wait()
        assert self.connection is not None
        return self.connection

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for conn in (self._pending, self.connection):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)


class OutboxRelay:
    """Publishes committed outbox rows to the exchange, oldest first, never skipping one.

    Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several relays (processes or
    replicas) share the work without publishing a row at the same time; a row is marked
    sent only after the broker confirmed it. A crash between confirm and mark sends it
    again: delivery is at-least-once and consumers dedupe by event id. Because the relay
    selects every unsent row rather than "rows after the last seq seen", a transaction
    that commits late with a lower seq is still picked up.
    """

    def __init__(self, pool: asyncpg.Pool, dsn: str, schema: str, broker: Broker,
                 metrics: Metrics, *, batch_size: int = 200, poll_seconds: float = 1.0,
                 ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self._broker = broker
        self._metrics = metrics
        self._batch = batch_size
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def run(self) -> None:
        # NOTIFY at commit wakes the relay at once instead of at the next poll.
        listener = asyncio.create_task(
            listen_forever(self._dsn, f"outbox_{self._schema}", self._wake.set),
            name="outbox-listen")
        backoff = 0.2
        try:
            await self._broker.wait_ready()
            while True:
                try:
                    sent = await self.drain_once()
                    backoff = 0.2
                    if sent >= self._batch:
                        continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("outbox_relay_error", error=type(exc).__name__,
                                detail=str(exc)[:200])
                    await self._drop_channel()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await self._drop_channel()

    async def _exchange_for_publish(self) -> AbstractExchange:
        if self._exchange is None or self._channel is None or self._channel.is_closed:
            conn = await self._broker.wait_ready()
            self._channel = await conn.channel(publisher_confirms=True,
                                               on_return_raises=False)
            self._exchange = await declare_events_exchange(self._channel,
                                                           self._broker.exchange_name)
        return self._exchange

    async def _drop_channel(self) -> None:
        channel, self._channel, self._exchange = self._channel, None, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()

    async def drain_once(self) -> int:
        """Publish one batch of unsent events; returns how many were confirmed."""
        exchange = await self._exchange_for_publish()
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT seq, event_id, type, envelope::text AS body, created_at FROM outbox"
                " WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch,
            )
            if not rows:
                return 0
            results = await asyncio.gather(
                *(self._publish(exchange, row) for row in rows), return_exceptions=True)
            sent = [row["seq"] for row, res in zip(rows, results, strict=True)
                    if not isinstance(res, BaseException)]
            if sent:
                await conn.execute(
                    "UPDATE outbox SET published_at = clock_timestamp(),"
                    " attempts = attempts + 1 WHERE seq = ANY($1::bigint[])", sent)
            failures = [res for res in results if isinstance(res, BaseException)]
        self._metrics.events_published.inc(len(sent))
        if failures:
            raise failures[0]
        return len(sent)

    async def _publish(self, exchange: AbstractExchange, row: asyncpg.Record) -> None:
        # Published as stored: the text of the jsonb, never decoded and re-encoded.
        message = aio_pika.Message(
            body=row["body"].encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(row["event_id"]),
            type=row["type"],
            timestamp=row["created_at"],
        )
        result = await exchange.publish(message, routing_key=row["type"], mandatory=True,
                                         timeout=10)
        if isinstance(result, aiormq.abc.DeliveredMessage):
            # Returned as unroutable: no queue is bound for this type. The broker
            # confirmed it, so it is sent; the count shows a topology gap if it grows.
            self._metrics.events_unroutable.labels(type=row["type"]).inc()
            log.info("event_unroutable", type=row["type"], event_id=str(row["event_id"]))


Handler = Callable[[Conn, CloudEvent], Awaitable[None]]

# Errors that say "try again later", not "this message is bad" or "this request is bad".
# InternalClientError: a pooled connection the server had just terminated (its FATAL
# notice arrived before the socket closed); the statement never ran.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.AdminShutdownError,
    asyncpg.QueryCanceledError,
    TimeoutError,
)


class InboxConsumer:
    """Consumes a queue with manual acks; each event's effect and its inbox row commit
    together, so a redelivered event changes nothing the second time. Malformed or
    unhandleable messages go to the queue's `.dlq`; transient faults are retried."""

    def __init__(self, broker: Broker, pool: asyncpg.Pool, queue: str, handler: Handler,
                 metrics: Metrics, *, prefetch: int = 32) -> None:
        self._broker = broker
        self._pool = pool
        self._queue_name = queue
        self._handler = handler
        self._metrics = metrics
        self._prefetch = prefetch
        self._channel: AbstractChannel | None = None

    async def run(self) -> None:
        conn = await self._broker.wait_ready()
        self._channel = await conn.channel()
        await self._channel.set_qos(prefetch_count=self._prefetch)
        queue = await self._channel.get_queue(self._queue_name, ensure=True)
        await queue.consume(self._on_message)
        try:
            await asyncio.Event().wait()
        finally:
            with contextlib.suppress(Exception):
                await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            event = CloudEvent.model_validate(orjson.loads(message.body))
        except (orjson.JSONDecodeError, ValidationError, TypeError):
            log.warning("event_poison", queue=self._queue_name, message_id=message.message_id)
            self._metrics.events_consumed.labels(queue=self._queue_name, outcome="poison").inc()
            await message.reject(requeue=False)
            return
        try:
            handled = await self.handle(event)
        except TRANSIENT_ERRORS as exc:
            log.warning("event_retry", queue=self._queue_name, event_id=str(event.id),
                        error=type(exc).__name__)
            self._metrics.events_consumed.labels(queue=self._queue_name, outcome="retry").inc()
            await asyncio.sleep(1)
            await message.nack(requeue=True)
            return
        except Exception:
            log.exception("event_failed", queue=self._queue_name, event_id=str(event.id),
                          type=event.type)
            self._metrics.events_consumed.labels(queue=self._queue_name, outcome="poison").inc()
            await message.reject(requeue=False)
            return
        outcome = "handled" if handled else "duplicate"
        self._metrics.events_consumed.labels(queue=self._queue_name, outcome=outcome).inc()
        # Lag: how old the event was when its effect committed.
        self._metrics.consumer_lag.labels(queue=self._queue_name).set(
            max(0.0, (utcnow() - event.time).total_seconds()))
        await message.ack()

    async def handle(self, event: CloudEvent) -> bool:
        """Apply `event` once; False if its id was already in the inbox."""
        async with self._pool.acquire() as conn, conn.transaction():
            fresh = await conn.fetchval(
                "INSERT INTO inbox (event_id, type, source) VALUES ($1, $2, $3)"
                " ON CONFLICT (event_id) DO NOTHING RETURNING true",
                event.id, event.type, event.source)
            if not fresh:
                return False
            await self._handler(conn, event)
            return True
