"""The idempotent inbox consumer, applying each partition's events in `sequence` order.

Ordering rule (docs/reliability.md, "Event order"): for the sources a service names
(`ordered_sources`), an event carrying `partitionkey` and `sequence` is applied only
right after its predecessor (`sequence` = last applied + 1) of the same source and
partition. An event that comes too early is held (its delivery stays unacknowledged,
the check is retried) for at most `hold_seconds`; then it is applied anyway, the gap
is logged and counted (`events_consumed_total{outcome="gap"}`). An event at or below
the last applied sequence is stale: recorded in the inbox, not applied. Events of
other sources, or without the attributes (v1 producers), are applied as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection

import asyncpg
import orjson
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from pydantic import ValidationError

from shared.broker import TRANSIENT_ERRORS, Broker
from shared.db import Conn
from shared.events import CloudEvent
from shared.metrics import Metrics
from shared.types import utcnow

log = structlog.get_logger(__name__)

Handler = Callable[[Conn, CloudEvent], Awaitable[None]]

# A transient failure is retried in place this many times (backing off) before the
# message is requeued; each requeue counts towards the queue's `x-delivery-limit`.
LOCAL_RETRIES = 5
HOLD_POLL_SECONDS = 0.1


class _Held(Exception):
    """The event's predecessor is not applied yet: roll back and look again later."""


class InboxConsumer:
    """Consumes a queue with manual acks; each event's effect and its inbox row commit
    together, so a redelivered event changes nothing the second time. Malformed or
    unhandleable messages go to the queue's `.dlq`; transient faults are retried."""

    def __init__(self, broker: Broker, pool: asyncpg.Pool, queue: str, handler: Handler,
                 metrics: Metrics, *, prefetch: int = 32,
                 ordered_sources: Collection[str] = (), hold_seconds: float = 30.0) -> None:
        self._broker = broker
        self._pool = pool
        self._queue_name = queue
        self._handler = handler
        self._metrics = metrics
        self._prefetch = prefetch
        self._ordered = frozenset(ordered_sources)
        self._hold_seconds = hold_seconds
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

    def _count(self, outcome: str) -> None:
        self._metrics.events_consumed.labels(queue=self._queue_name, outcome=outcome).inc()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            event = CloudEvent.model_validate(orjson.loads(message.body))
        except (orjson.JSONDecodeError, ValidationError, TypeError):
            log.warning("event_poison", queue=self._queue_name, message_id=message.message_id)
            self._count("poison")
            await message.reject(requeue=False)
            return
        hold_until = time.monotonic() + self._hold_seconds
        failures = 0
        held = False
        while True:
            try:
                outcome = await self.apply(event, force=time.monotonic() >= hold_until)
            except TRANSIENT_ERRORS as exc:
                failures += 1
                log.warning("event_retry", queue=self._queue_name, event_id=str(event.id),
                            error=type(exc).__name__, attempt=failures)
                self._count("retry")
                if failures >= LOCAL_RETRIES:
                    await message.nack(requeue=True)
                    return
                await asyncio.sleep(min(0.2 * 2 ** failures, 5.0))
                continue
            except Exception:
                log.exception("event_failed", queue=self._queue_name, event_id=str(event.id),
                              type=event.type)
                self._count("poison")
                await message.reject(requeue=False)
                return
            if outcome != "held":
                break
            if not held:
                held = True
                self._count("held")
                log.info("event_held", queue=self._queue_name, event_id=str(event.id),
                         type=event.type, partitionkey=event.partitionkey,
                         sequence=event.sequence)
            await asyncio.sleep(HOLD_POLL_SECONDS)
        self._count(outcome)
        if outcome in ("handled", "gap"):
            # Lag: how old the event was when its effect committed.
            self._metrics.consumer_lag.labels(queue=self._queue_name).set(
                max(0.0, (utcnow() - event.time).total_seconds()))
        await message.ack()

    def is_ordered(self, event: CloudEvent) -> bool:
        return (event.source in self._ordered and event.partitionkey is not None
                and event.sequence is not None)

    async def handle(self, event: CloudEvent) -> bool:
        """Apply `event` once, now (never held); False if it changed nothing (a duplicate
        or stale event)."""
        return await self.apply(event, force=True) in ("handled", "gap")

    async def apply(self, event: CloudEvent, *, force: bool = False) -> str:
        """Apply `event` once: "handled"; "duplicate" if its id is already in the inbox;
        "stale" if its partition is past its sequence; "held" if its predecessor is not
        applied yet (nothing written); with `force`, "gap": applied despite a gap."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                return await self._handle(conn, event, force)
        except _Held:
            return "held"

    async def _handle(self, conn: Conn, event: CloudEvent, force: bool) -> str:
        ordered = self.is_ordered(event)
        applied = 0
        if ordered:
            # The partition's row lock serialises its events across handlers and processes.
            await conn.execute(
                "INSERT INTO inbox_partitions (source, partitionkey, applied)"
                " VALUES ($1, $2, 0) ON CONFLICT DO NOTHING", event.source, event.partitionkey)
            applied = int(await conn.fetchval(
                "SELECT applied FROM inbox_partitions WHERE source = $1 AND partitionkey = $2"
                " FOR UPDATE", event.source, event.partitionkey))
        seq = event.sequence_number
        fresh = await conn.fetchval(
            "INSERT INTO inbox (event_id, type, source, partitionkey, sequence)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING RETURNING true",
            event.id, event.type, event.source, event.partitionkey, seq)
        if not fresh:
            return "duplicate"
        outcome = "handled"
        if ordered:
            assert seq is not None
            if seq <= applied:
                log.warning("event_stale", event_id=str(event.id), type=event.type,
                            partitionkey=event.partitionkey, sequence=seq, applied=applied)
                await conn.execute("UPDATE inbox SET outcome = 'stale' WHERE event_id = $1",
                                   event.id)
                return "stale"
            if seq > applied + 1:
                if not force:
                    raise _Held
                log.warning("event_gap", event_id=str(event.id), type=event.type,
                            partitionkey=event.partitionkey, sequence=seq,
                            missing=f"{applied + 1}..{seq - 1}")
                await conn.execute("UPDATE inbox SET outcome = 'gap' WHERE event_id = $1",
                                   event.id)
                outcome = "gap"
            await conn.execute(
                "UPDATE inbox_partitions SET applied = $3, updated_at = clock_timestamp()"
                " WHERE source = $1 AND partitionkey = $2",
                event.source, event.partitionkey, seq)
        await self._handler(conn, event)
        return outcome
