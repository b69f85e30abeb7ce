"""Unit of work: one database transaction that also writes its events to the outbox."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from types import TracebackType
from typing import Any

import asyncpg

from shared.audit_chain import canonical_json, format_at
from shared.db import Conn, dumps_json
from shared.events import CloudEvent, new_event

AuditRow = tuple[str, str, str, str, dict[str, Any], datetime | None]

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
        self._audit: list[AuditRow] = []
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
              details: dict[str, Any] | None = None, *, at: datetime | None = None) -> None:
        """Queue an audit entry (appended to the chain at commit); `at` defaults to then."""
        self._audit.append((actor, role, action, str(subject), details or {}, at))

    async def flush_audit(self) -> tuple[int, str]:
        """Append the queued audit entries now and return the chain's head (seq, hash).

        The head row stays locked until this transaction ends: call it late."""
        entries, self._audit = self._audit, []
        if not entries:
            return await audit_head(self.conn)
        return await append_audit(self.conn, entries)

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
        if self._audit:
            # Last before commit: the chain's head row stays locked only for the commit.
            await self.flush_audit()


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
    await append_audit(conn, [(actor, role, action, str(subject), details or {}, None)])


async def audit_head(conn: Conn) -> tuple[int, str]:
    row = await conn.fetchrow("SELECT seq, hash FROM audit_head")
    assert row is not None, "shared migration 0003 creates the audit head"
    return int(row["seq"]), str(row["hash"])


def _content_parts(actor: str, role: str, action: str, subject: str, details: Any,
                   when: datetime) -> tuple[bytes, bytes]:
    """An entry's canonical JSON (trust.md 6) around its `seq`: every field but `seq` is
    known before the chain's head is locked, and in sorted key order `seq` falls between
    `details` and `subject`, so under the lock only the number is put in and hashed."""
    before = canonical_json({"action": action, "actor": actor, "actor_role": role,
                             "at": format_at(when), "details": details})
    return before[:-1] + b',"seq":', b',"subject":' + canonical_json(subject) + b"}"


async def append_audit(conn: Conn, entries: list[AuditRow]) -> tuple[int, str]:
    """Append `entries` to the hash chain in order (trust.md section 6); the new head.

    The head row's lock serialises appends, so seq has no gaps and each hash chains from
    the one before; it is held until `conn`'s transaction ends. Every close waits for
    it, so all of an entry but its seq number and link is prepared before taking it."""
    prepared = []
    for actor, role, action, subject, details, at in entries:
        # Exactly what the API will show: details as they come back from jsonb.
        text = dumps_json(details) if details else "{}"
        shown = json.loads(text) if details else {}
        parts = None if at is None else _content_parts(actor, role, action, subject, shown, at)
        prepared.append((actor, role, action, subject, shown, text, at, parts))
    head = await conn.fetchrow(
        "SELECT seq, hash, clock_timestamp() AS now FROM audit_head FOR UPDATE")
    assert head is not None, "shared migration 0003 creates the audit head"
    seq, previous = int(head["seq"]), str(head["hash"])
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [], [])
    sha256 = hashlib.sha256
    for actor, role, action, subject, shown, text, at, parts in prepared:
        seq += 1
        when = at if at is not None else head["now"]
        before, after = parts or _content_parts(actor, role, action, subject, shown, when)
        content = sha256(before + str(seq).encode() + after).hexdigest()
        previous = sha256((previous + content).encode()).hexdigest()
        for column, value in zip(columns, (seq, when, actor, role, action, subject, text,
                                           content, previous), strict=True):
            column.append(value)
    # One statement however many entries (a close appends one per bid): the rows as
    # arrays, unnested, and the new head.
    await conn.execute(
        """
        WITH appended AS (
            INSERT INTO audit_log (seq, at, actor, actor_role, action, subject, details,
                                   content_hash, hash)
            SELECT x.seq, x.at, x.actor, x.actor_role, x.action, x.subject, x.details::jsonb,
                   x.content_hash, x.hash
              FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                          $6::text[], $7::text[], $8::text[], $9::text[])
                   AS x (seq, at, actor, actor_role, action, subject, details, content_hash,
                         hash)
        )
        UPDATE audit_head SET seq = $10, hash = $11
        """, *columns, seq, previous)
    return seq, previous


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
