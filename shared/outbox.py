"""The outbox relay: committed outbox rows to the exchange, with publisher confirms.

Order and failures (docs/reliability.md, "Outbox relay"):
- A row counts as sent only when the broker confirmed it and did not return it as
  unroutable (`mandatory`). A returned or failed publish leaves the row unsent, records
  `attempts` and `last_error`, and backs that row off (`next_attempt_at`, exponential).
- One failing row never stalls the relay: other partitions keep being relayed.
- Within a partition (`partitionkey`) nothing overtakes a stuck row: a row is claimed
  only when no earlier unsent row of its partition is backing off, the rows of one
  partition are published one after the other (each confirmed before the next), and the
  first failure ends that partition's turn. A per-partition advisory lock keeps two
  relays (or two drainers of one relay: each process runs a few, so rows committed while
  one waits for its batch's confirms go out at once) from publishing the same partition
  at once.
"""

from __future__ import annotations

import asyncio
import contextlib

import aio_pika
import aiormq
import asyncpg
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange

from shared.broker import Broker, declare_events_exchange
from shared.db import Conn, listen_forever
from shared.metrics import Metrics

log = structlog.get_logger(__name__)

# Backoff of a failing row: 0.5 s, 1 s, 2 s, ... at most this long.
MAX_ROW_BACKOFF_SECONDS = 60.0
# Batches one relay publishes at once (each on its own database connection).
DRAINERS = 3

CLAIM = """
SELECT o.seq, o.event_id, o.type, o.envelope::text AS body, o.created_at, o.partitionkey,
       o.attempts
FROM outbox o
WHERE o.published_at IS NULL
  AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= clock_timestamp())
  AND NOT EXISTS (
      SELECT 1 FROM outbox p
      WHERE p.published_at IS NULL AND p.partitionkey = o.partitionkey AND p.seq < o.seq
        AND p.next_attempt_at > clock_timestamp())
ORDER BY o.seq
LIMIT $1
FOR UPDATE OF o SKIP LOCKED
"""


class PublishRefused(Exception):
    """The broker returned the message (unroutable) or did not confirm it."""


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
                 drainers: int = DRAINERS) -> None:
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self._broker = broker
        self._metrics = metrics
        self._batch = batch_size
        self._poll = poll_seconds
        self._wakes = [asyncio.Event() for _ in range(max(1, drainers))]
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._opening = asyncio.Lock()

    def _wake_all(self) -> None:
        for wake in self._wakes:
            wake.set()

    async def run(self) -> None:
        # NOTIFY at commit wakes the relay at once instead of at the next poll.
        listener = asyncio.create_task(
            listen_forever(self._dsn, f"outbox_{self._schema}", self._wake_all),
            name="outbox-listen")
        drainers = [asyncio.create_task(self._drain_forever(wake), name="outbox-drain")
                    for wake in self._wakes]
        try:
            await asyncio.gather(*drainers)
        finally:
            for task in (listener, *drainers):
                task.cancel()
            await asyncio.gather(listener, *drainers, return_exceptions=True)
            await self._drop_channel()

    async def _drain_forever(self, wake: asyncio.Event) -> None:
        """One drainer: batches while there are rows, then sleep until NOTIFY or the poll.

        Several run at once (each claims with SKIP LOCKED and publishes only partitions
        whose advisory lock it holds), so rows committed while one drainer waits for
        its batch's confirms are taken by another at once instead of after that batch."""
        backoff = 0.2
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
            wake.clear()
            with contextlib.suppress(TimeoutError):
                # Also the pace at which backed-off rows come due again.
                await asyncio.wait_for(wake.wait(), self._poll)

    async def _exchange_for_publish(self) -> AbstractExchange:
        async with self._opening:  # the drainers share one channel: open it once
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
        """Publish one batch of unsent events; returns how many were confirmed.

        Failures are recorded per row (the rest of the batch still goes out); the
        method raises only when the channel itself broke, so the caller reopens it."""
        exchange = await self._exchange_for_publish()
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM, self._batch)
            if not rows:
                return 0
            partitions = await self._own_partitions(conn, rows)
            results = await asyncio.gather(
                *(self._publish_partition(exchange, part) for part in partitions))
            sent = [seq for done, _failed in results for seq in done]
            failed = [f for _done, part_failed in results for f in part_failed]
            if sent:
                await conn.execute(
                    "UPDATE outbox SET published_at = clock_timestamp(),"
                    " attempts = attempts + 1, next_attempt_at = NULL"
                    " WHERE seq = ANY($1::bigint[])", sent)
            if failed:
                await conn.executemany(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2,"
                    " next_attempt_at = clock_timestamp()"
                    " + make_interval(secs => least($3::float8,"
                    "   0.5 * power(2, least(attempts, 20))))"
                    " WHERE seq = $1",
                    [(seq, error[:1000], MAX_ROW_BACKOFF_SECONDS) for seq, error in failed])
        self._metrics.events_published.inc(len(sent))
        if failed and (self._channel is None or self._channel.is_closed):
            raise ConnectionError(f"the publishing channel closed: {failed[0][1][:200]}")
        return len(sent)

    async def _own_partitions(self, conn: Conn,
                              rows: list[asyncpg.Record]) -> list[list[asyncpg.Record]]:
        """The claimed rows grouped by partition, in order, keeping only the partitions
        this relay holds the advisory lock of (another relay may be publishing an
        earlier row of the same partition that this one skipped as locked)."""
        groups: dict[str | None, list[asyncpg.Record]] = {}
        singles: list[list[asyncpg.Record]] = []
        for row in rows:
            if row["partitionkey"] is None:  # written before v2: no order to keep
                singles.append([row])
            else:
                groups.setdefault(row["partitionkey"], []).append(row)
        if not groups:
            return singles
        keys = list(groups)
        # Every partition's lock in one statement, and then, holding them, one more look
        # (a fresh snapshot) for an earlier row that another relay held a moment ago and
        # that may have failed and be backing off now: two round trips per batch, not two
        # per partition (a peak of closes makes a batch of a hundred partitions).
        locked = await conn.fetch(
            "SELECT k FROM unnest($2::text[]) AS k"
            " WHERE pg_try_advisory_xact_lock(hashtext($1), hashtext(k))",
            f"outbox:{self._schema}", keys)
        held = [r["k"] for r in locked]
        behind = {r["k"] for r in await conn.fetch(
            "SELECT x.k FROM unnest($1::text[], $2::bigint[]) AS x (k, first)"
            " WHERE EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL"
            "               AND partitionkey = x.k AND seq < x.first)",
            held, [groups[k][0]["seq"] for k in held])}
        owned = [groups[k] for k in held if k not in behind]
        return owned + singles

    async def _publish_partition(self, exchange: AbstractExchange,
                                 rows: list[asyncpg.Record],
                                 ) -> tuple[list[int], list[tuple[int, str]]]:
        """Publish one partition's rows in order, stopping at the first failure."""
        sent: list[int] = []
        for row in rows:
            try:
                await self._publish(exchange, row)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = str(exc) if isinstance(exc, PublishRefused) else \
                    f"{type(exc).__name__}: {exc}".rstrip(": ")
                self._metrics.outbox_publish_failures.labels(
                    reason="returned" if isinstance(exc, PublishRefused) else "error").inc()
                log.warning("outbox_publish_failed", type=row["type"],
                            event_id=str(row["event_id"]), attempts=row["attempts"] + 1,
                            error=error[:200])
                return sent, [(row["seq"], error)]
            sent.append(row["seq"])
        return sent, []

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
            # Returned as unroutable: no queue is bound for this type. Not sent: the row
            # stays unsent (and backs off) until a queue is bound for it.
            self._metrics.events_unroutable.labels(type=row["type"]).inc()
            frame = result.delivery
            code = getattr(frame, "reply_code", None)
            text = getattr(frame, "reply_text", None)
            raise PublishRefused(f"returned by the broker: {code} {text}"
                                 f" (no queue bound for routing key {row['type']!r})")
        if not isinstance(result, aiormq.spec.Basic.Ack):
            raise PublishRefused(f"not confirmed by the broker: {type(result).__name__}")
