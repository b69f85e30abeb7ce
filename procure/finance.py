"""The reference finance integration: the durable `finance.awards` queue to a JSON-lines file.

Each event is appended and fsync'ed before it is acknowledged, and ids already in the
file are acknowledged and skipped: a crash at any point writes no event twice and
loses none (the broker redelivers whatever was not acknowledged).

Order: every event carries `partitionkey` (the round id) and `sequence` (trust.md
section 7). The file keeps arrival order; `in_order` gives the events of each round in
sequence order (rank 2's `award.published` after rank 1's `award.declined`, whatever
the delivery order), and the listener warns about an event that arrived after a later
one of its round. The queue carries only part of a round's events (award.*,
round.failed), so a jump in the numbers is not by itself a lost event.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from pydantic import ValidationError

from procure.errors import START_INFRA_HINT, ProcureError, Unreachable
from procure.settings import ProcureSettings
from procure.ui import money
from shared.broker import FINANCE_KEYS, QueueSpec, declare_events_exchange, declare_queue
from shared.events import CloudEvent

Event = dict[str, Any]
OnEvent = Callable[[Event, bool], None]


PartitionKey = tuple[str, str]


def sequence_of(event: Event) -> tuple[PartitionKey, int] | None:
    """((source, partitionkey), sequence) of an event carrying both, else None."""
    key, seq = event.get("partitionkey"), event.get("sequence")
    if not isinstance(key, str) or not isinstance(seq, str) or not seq.isdigit():
        return None
    return (str(event.get("source")), key), int(seq)


def in_order(events: list[Event]) -> list[Event]:
    """The events with each partition's events in `sequence` order (partitions in the
    order they first appear; events without a sequence where they arrived)."""
    first_seen: dict[PartitionKey, int] = {}
    keyed: list[tuple[int, int, int, Event]] = []
    for index, event in enumerate(events):
        found = sequence_of(event)
        if found is None:
            keyed.append((index, 0, index, event))
            continue
        part, seq = found
        first_seen.setdefault(part, index)
        keyed.append((first_seen[part], seq, index, event))
    return [event for *_rank, event in sorted(keyed, key=lambda k: k[:3])]


class AwardsFile:
    """An append-only JSON-lines file of events, one envelope per line, keyed by id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids: set[str] = set()
        # The highest sequence recorded per (source, partitionkey).
        self.last_sequence: dict[PartitionKey, int] = {}
        self.repaired = False
        self._fd: int | None = None

    def _remember(self, event: Event) -> None:
        self.ids.add(str(event["id"]))
        found = sequence_of(event)
        if found is not None:
            part, seq = found
            self.last_sequence[part] = max(seq, self.last_sequence.get(part, 0))

    def events(self) -> list[Event]:
        """Every event of the file in arrival order."""
        out: list[Event] = []
        for line in self.path.read_bytes().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                event = orjson.loads(line)
                if isinstance(event, dict):
                    out.append(event)
        return out

    def open(self) -> None:
        """Read the ids already recorded (dropping a torn last line) and open for append."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            data = b"" if created else self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                self._repair_tail(data)
                data = self.path.read_bytes()
            for line in data.splitlines():
                with contextlib.suppress(orjson.JSONDecodeError, TypeError, AttributeError,
                                         KeyError):
                    self._remember(orjson.loads(line))
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if created:
                _fsync_dir(self.path.parent)
        except OSError as exc:
            raise ProcureError(f"cannot use {self.path} for the awards: {exc}") from None

    def _repair_tail(self, data: bytes) -> None:
        # Only an event that was never acknowledged can be torn (the ack follows the
        # fsync of its whole line): cut it off; the broker delivers it again.
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        try:
            orjson.loads(tail)
        except orjson.JSONDecodeError:
            with self.path.open("r+b") as f:
                f.truncate(cut)
                f.flush()
                os.fsync(f.fileno())
        else:
            with self.path.open("ab") as f:
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())
        self.repaired = True

    def append(self, event: Event) -> None:
        """Write one line and make it durable before returning."""
        assert self._fd is not None, "open() first"
        line = orjson.dumps(event) + b"\n"
        written = 0
        while written < len(line):
            written += os.write(self._fd, line[written:])
        os.fsync(self._fd)
        self._remember(event)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class FinanceListener:
    """Consumes the finance queue with manual acks into an `AwardsFile`."""

    def __init__(self, settings: ProcureSettings, path: Path, on_event: OnEvent,
                 on_warning: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.file = AwardsFile(path)
        self.written = 0
        self.skipped = 0
        self.late = 0
        self._on_event = on_event
        self._on_warning = on_warning or (lambda _text: None)
        self._conn: AbstractRobustConnection | None = None
        self._queue: AbstractQueue | None = None

    @property
    def queue_name(self) -> str:
        return self.settings.finance_queue

    @property
    def routing_keys(self) -> tuple[str, ...]:
        return tuple(FINANCE_KEYS)

    async def connect(self) -> None:
        """Open the file, connect, and declare the queue (idempotent; same arguments as
        the bidding service declares it with)."""
        self.file.open()
        if self.file.repaired:
            self._on_warning(f"{self.file.path} ended with a partial line; it was cut off "
                             "(that event was never acknowledged and will come again)")
        try:
            self._conn = await aio_pika.connect_robust(self.settings.amqp_url, timeout=5)
        except Exception as exc:  # aio-pika raises several unrelated types for "no broker"
            self.file.close()
            raise Unreachable("RabbitMQ", self.settings.masked_amqp_url,
                              f"{type(exc).__name__}: {exc}".rstrip(": "),
                              START_INFRA_HINT) from None
        channel = await self._conn.channel()
        await channel.set_qos(prefetch_count=1)
        exchange = await declare_events_exchange(channel, self.settings.events_exchange)
        self._queue = await declare_queue(channel, exchange,
                                          QueueSpec(self.queue_name, self.routing_keys))

    async def run(self, count: int | None = None, max_seconds: float | None = None) -> int:
        """Consume until `count` new events were written or `max_seconds` passed (or
        forever); returns how many were written."""
        assert self._queue is not None, "connect() first"
        start = self.written
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max_seconds):
                if count is not None and count <= 0:
                    return 0
                async with self._queue.iterator() as messages:
                    async for message in messages:
                        await self._handle(message)
                        if count is not None and self.written - start >= count:
                            break
        return self.written - start

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            body = orjson.loads(message.body)
            CloudEvent.model_validate(body)
        except (orjson.JSONDecodeError, ValidationError, TypeError) as exc:
            self._on_warning(f"message {message.message_id} is not a CloudEvent "
                             f"({type(exc).__name__}); dead-lettered to {self.queue_name}.dlq")
            await message.reject(requeue=False)
            return
        event_id = str(body["id"])
        if event_id in self.file.ids:
            self.skipped += 1
            await message.ack()
            self._on_event(body, False)
            return
        found = sequence_of(body)
        if found is not None and found[1] <= self.file.last_sequence.get(found[0], 0):
            self.late += 1
            self._on_warning(
                f"{body.get('type')} (sequence {found[1]} of {found[0][1]}) arrived after "
                f"sequence {self.file.last_sequence[found[0]]}; recorded, and "
                "`in_order` puts it back in place")
        await asyncio.to_thread(self.file.append, body)
        await message.ack()
        self.written += 1
        self._on_event(body, True)

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
        self.file.close()


def describe(event: Event) -> str:
    """One line for an event of the finance queue."""
    found = sequence_of(event)
    return describe_data(event) + (f"  #{found[1]}" if found else "")


def describe_data(event: Event) -> str:
    data: dict[str, Any] = event.get("data") or {}
    kind = str(event.get("type"))
    if kind == "award.published":
        supplier = data.get("supplier") or {}
        buyer = data.get("buyer") or {}
        pool = data.get("pool") or {}
        return (f"award.published  award {data.get('id')}  {pool.get('name', '')}  "
                f"buyer {buyer.get('name', '')} ({buyer.get('org', '')})  "
                f"budget line {data.get('budget_line')}  winner {supplier.get('name')} "
                f"({supplier.get('credit_code')})  "
                f"{money(data.get('amount'), str(data.get('currency') or 'CNY'))}")
    if kind.startswith("award."):
        reason = f"  reason: {data['reason']}" if data.get("reason") else ""
        return (f"{kind}  award {data.get('award_id')}  round {data.get('round_id')}  "
                f"supplier {data.get('supplier_id')}{reason}")
    if kind == "round.failed":
        return f"round.failed  round {data.get('round_id')}  reason: {data.get('reason')}"
    return f"{kind}  {event.get('subject', '')}"
