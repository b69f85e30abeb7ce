"""Unit of work: one database transaction that also writes its events to the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import asyncpg

from shared import audit_append
from shared.audit_append import Derived, Prepared
from shared.db import Conn
from shared.events import CloudEvent, new_event

# Called once per hook with the items queued for it and the chain's head (seq, hash), once
# a unit's entries are appended.
HeadHook = Callable[[Conn, list[Any], int, str], Awaitable[None]]

# A read model kept from a service's own events, written in the event's transaction.
Projection = Callable[[Conn, list[CloudEvent]], Awaitable[None]]
_PROJECTIONS: dict[str, list[Projection]] = {}


def register_projection(source: str, projection: Projection) -> None:
    """Have every UnitOfWork of `source` call `projection(conn, events)` before it writes
    its outbox rows (same transaction: the projection and the events land together).
    Registering the same projection again changes nothing."""
    registered = _PROJECTIONS.setdefault(source, [])
    if projection not in registered:
        registered.append(projection)


class UnitOfWork:
    """`async with UnitOfWork(pool, source) as uow:` — commit on success, roll back on error.

    Events collected with `emit` are inserted into the outbox inside the same
    transaction, just before commit, so a change and its events land together or not at all.
    """

    def __init__(self, pool: asyncpg.Pool, source: str) -> None:
        self._pool = pool
        self._source = source
        self._events: list[CloudEvent] = []
        self._audit: list[Prepared | Derived] = []
        self._stamped: list[uuid.UUID] = []
        self._head_hooks: dict[HeadHook, list[Any]] = {}
        self._conn: Conn | None = None
        self._tx: Any = None

    @property
    def conn(self) -> Conn:
        assert self._conn is not None, "unit of work not entered"
        return self._conn

    @property
    def events(self) -> list[CloudEvent]:
        return list(self._events)

    def emit(self, type_: str, subject: object, data: dict[str, Any], *,
             partitionkey: str | None = None, audit_head: bool = False) -> CloudEvent:
        """Collect an event; its `partitionkey` defaults to the key of trust.md section 7
        for its type, its `sequence` is assigned when the outbox rows are written.

        With `audit_head`, its `data.audit_head` is the chain's head with this unit's
        entries, written into its outbox row at commit (`data` holds None till then)."""
        if audit_head:
            data = {**data, "audit_head": None}
        event = new_event(self._source, type_, subject, data, partitionkey=partitionkey)
        self._events.append(event)
        if audit_head:
            self._stamped.append(event.id)
        return event

    def audit(self, actor: str, role: str, action: str, subject: object,
              details: dict[str, Any] | None = None, *, at: datetime | None = None) -> None:
        """Queue an audit entry (appended to the chain at commit); `at` defaults to then.
        Everything but its place in the chain is prepared now, outside the chain's lock."""
        self._audit.append(audit_append.prepare(actor, role, action, str(subject), details,
                                                at))

    def audit_entries(self, entries: Derived | Sequence[Prepared]) -> None:
        """Queue many entries at once, in order with the others: prepared ones, or those
        a function of the schema derives in the database (a close's bid entries)."""
        if isinstance(entries, Derived):
            self._audit.append(entries)
        else:
            self._audit.extend(entries)

    def at_audit_head(self, hook: HeadHook, item: Any) -> None:
        """Have `hook(conn, items, seq, hash)` called with the chain's head once this unit's
        entries are appended, just before commit (the chain still locked): once per hook,
        with every `item` given for it, so that the awards of a timer transaction closing
        several rounds are stamped in one statement, not one each under the lock."""
        self._head_hooks.setdefault(hook, []).append(item)

    async def flush_audit(self) -> tuple[int, str]:
        """Append the queued audit entries now and return the chain's head (seq, hash).

        The head row stays locked until this transaction ends: call it late, or leave the
        append to the commit and take the head with `audit_head=True` / `at_audit_head`."""
        entries, self._audit = self._audit, []
        if not entries:
            return await audit_append.head(self.conn)
        return await audit_append.append(self.conn, entries)

    async def __aenter__(self) -> UnitOfWork:
        conn: Conn = await self._pool.acquire()
        self._tx = conn.transaction()
        try:
            await self._tx.start()
        except BaseException:
            # BEGIN failed (the server dropped this connection): discard it, never leak it.
            if not conn.is_closed():
                conn.terminate()
            await self._pool.release(conn)  # type: ignore[arg-type]
            raise
        self._conn = conn
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        conn = self._conn
        assert conn is not None
        healthy = False
        try:
            if exc_type is None:
                await self._flush()
                await self._tx.commit()
            else:
                await self._tx.rollback()
            healthy = True
        except BaseException:
            if exc_type is None:
                raise  # the commit itself failed: that is the error to report
            # Rolling back failed (the connection is gone): the original error matters.
        finally:
            self._conn = None
            if not healthy and not conn.is_closed():
                # Never hand a connection in an unknown state back to the pool.
                conn.terminate()
            await self._pool.release(conn)  # type: ignore[arg-type]

    async def _flush(self) -> None:
        conn = self.conn
        if self._events:
            for projection in _PROJECTIONS.get(self._source, ()):
                await projection(conn, self._events)
            self._events = await write_outbox(conn, self._events)
        if not (self._audit or self._stamped or self._head_hooks):
            return
        # Last before commit: the chain's head row stays locked only for the commit.
        entries, self._audit = self._audit, []
        stamped, self._stamped = self._stamped, []
        if entries:
            seq, head_hash = await audit_append.append(conn, entries, stamped)
        else:
            seq, head_hash = await audit_append.head(conn)
            await audit_append.stamp(conn, stamped, seq, head_hash)
        hooks, self._head_hooks = self._head_hooks, {}
        for hook, items in hooks.items():
            await hook(conn, items, seq, head_hash)


class JoinedUnit(UnitOfWork):
    """A unit of work inside a transaction its caller owns (an inbox consumer's): the
    same `emit`/`audit`, written by `flush()` on that connection before it commits."""

    def __init__(self, conn: Conn, source: str) -> None:
        super().__init__(None, source)  # type: ignore[arg-type]
        self._conn = conn

    async def flush(self) -> None:
        await self._flush()


async def write_audit(conn: Conn, actor: str, role: str, action: str, subject: object,
                      details: dict[str, Any] | None = None) -> None:
    """An audit entry on `conn`, for changes made outside a UnitOfWork (event consumers).

    It locks the chain's head row until `conn`'s transaction ends: call it last."""
    await audit_append.append(conn, [audit_append.prepare(actor, role, action, str(subject),
                                                          details, None)])


async def write_outbox(conn: Conn, events: list[CloudEvent]) -> list[CloudEvent]:
    """Insert events into the outbox on `conn` (which must be inside a transaction);
    returns them with their `sequence` (trust.md section 7).

    Each (source, partitionkey) has a counter row in `event_sequences`, advanced here by
    the number of its events. The row lock is held until commit, so a concurrent
    transaction of the same partition waits and takes the next numbers only after this
    one committed (or gets these very numbers if it rolled back): the sequence is
    gapless and in commit order. Partitions are locked in sorted order (no deadlock
    between two transactions emitting into the same two partitions)."""
    counts: dict[tuple[str, str], int] = {}
    for e in events:
        key = (e.source, e.partitionkey or e.subject)
        counts[key] = counts.get(key, 0) + 1
    keys = sorted(counts)
    # One statement for every partition (a timer transaction closing several rounds
    # emits into several), its rows taken in sorted order.
    advanced = await conn.fetch(
        "INSERT INTO event_sequences AS s (source, partitionkey, last_sequence)"
        " SELECT x.source, x.partitionkey, x.n"
        "   FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY"
        "        AS x (source, partitionkey, n, i) ORDER BY x.i"
        " ON CONFLICT (source, partitionkey)"
        " DO UPDATE SET last_sequence = s.last_sequence + EXCLUDED.last_sequence"
        " RETURNING source, partitionkey, last_sequence",
        [k[0] for k in keys], [k[1] for k in keys], [counts[k] for k in keys])
    next_number: dict[tuple[str, str], int] = {}
    for row in advanced:
        key = (row["source"], row["partitionkey"])
        next_number[key] = int(row["last_sequence"]) - counts[key] + 1
    numbered: list[CloudEvent] = []
    for e in events:
        key = (e.source, e.partitionkey or e.subject)
        numbered.append(e.model_copy(update={"partitionkey": key[1],
                                             "sequence": str(next_number[key])}))
        next_number[key] += 1
    # Serialised once here with orjson and cast by the server: no per-field pydantic dump.
    await conn.executemany(
        "INSERT INTO outbox (event_id, type, subject, partitionkey, sequence, envelope)"
        " VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)",
        [(e.id, e.type, e.subject, e.partitionkey, int(e.sequence or 0),
          e.to_json().decode()) for e in numbered],
    )
    return numbered
