"""Unit of work: one database transaction that also writes its events to the outbox."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import asyncpg

from shared.db import Conn
from shared.events import CloudEvent, new_event


class UnitOfWork:
    """`async with UnitOfWork(pool, source) as uow:` — commit on success, roll back on error.

    Events collected with `emit` are inserted into the outbox inside the same
    transaction, just before commit, so a change and its events land together or not at all.
    """

    def __init__(self, pool: asyncpg.Pool, source: str) -> None:
        self._pool = pool
        self._source = source
        self._events: list[CloudEvent] = []
        self._audit: list[tuple[str, str, str, str, dict[str, Any]]] = []
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
             partitionkey: str | None = None) -> CloudEvent:
        """Collect an event; its `partitionkey` defaults to the key of trust.md section 7
        for its type, its `sequence` is assigned when the outbox rows are written."""
        event = new_event(self._source, type_, subject, data, partitionkey=partitionkey)
        self._events.append(event)
        return event

    def audit(self, actor: str, role: str, action: str, subject: object,
              details: dict[str, Any] | None = None) -> None:
        self._audit.append((actor, role, action, str(subject), details or {}))

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
            self._events = await write_outbox(conn, self._events)
        if self._audit:
            await conn.executemany(AUDIT_INSERT, self._audit)


AUDIT_INSERT = ("INSERT INTO audit_log (actor, actor_role, action, subject, details)"
                " VALUES ($1, $2, $3, $4, $5)")


async def write_audit(conn: Conn, actor: str, role: str, action: str, subject: object,
                      details: dict[str, Any] | None = None) -> None:
    """An audit row on `conn`, for changes made outside a UnitOfWork (event consumers)."""
    await conn.execute(AUDIT_INSERT, actor, role, action, str(subject), details or {})


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
    next_number: dict[tuple[str, str], int] = {}
    for key in sorted(counts):
        last = await conn.fetchval(
            "INSERT INTO event_sequences AS s (source, partitionkey, last_sequence)"
            " VALUES ($1, $2, $3) ON CONFLICT (source, partitionkey)"
            " DO UPDATE SET last_sequence = s.last_sequence + EXCLUDED.last_sequence"
            " RETURNING last_sequence", key[0], key[1], counts[key])
        next_number[key] = int(last) - counts[key] + 1
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
