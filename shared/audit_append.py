"""Appending to the audit hash chain (trust.md section 6): entries prepared before the
chain's head is locked, numbered, hashed and written under it in one statement.

Every close appends its round's bid entries, so the head row's lock is what closes of
different rounds wait for. Everything of an entry but its `at` (when it takes the
append's clock) and its `seq` is therefore prepared before the lock (`prepare`): its
canonical JSON in three parts around them. The append itself is one statement around
the schema's `audit_chain_entries` function (shared migration 0005), which locks the
head and numbers and hashes the entries; the statement writes them, stamps the head
into the outbox rows of the events that carry it and moves the head. So the lock is
taken by the one statement that needs it and never waits for the service in between.
A run of entries can also come from a set-returning function of the schema
(`Derived`): the close's thousands of bid entries are made from the bids there and
never pass through the service.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from shared.audit_chain import canonical_json
from shared.db import Conn, dumps_json


class Prepared(NamedTuple):
    """An entry ready for the chain: every column but seq, content_hash and hash, and the
    canonical JSON of its content around its `at` and its `seq` (`pre` + at + `mid` +
    seq + `after`). `at` None: the append's own clock."""

    at: datetime | None
    actor: str
    role: str
    action: str
    subject: str
    details: str  # jsonb text, exactly what the API will show
    pre: str
    mid: str
    after: str


class Derived(NamedTuple):
    """Entries made in the database by the schema's set-returning function `function`
    called with `arg`, in its order: the columns of `Prepared`, by those names
    (`actor_role` for `role`)."""

    function: str
    arg: uuid.UUID


def content_parts(actor: str, role: str, action: str, subject: str,
                  details: Any) -> tuple[str, str, str]:
    """An entry's canonical JSON (trust.md 6) around its `at` and its `seq`: in sorted key
    order `at` falls between `actor_role` and `details`, `seq` between `details` and
    `subject`, so only the time and the number are put in under the lock."""
    head = canonical_json({"action": action, "actor": actor, "actor_role": role})
    return (head[:-1].decode() + ',"at":"',
            '","details":' + canonical_json(details).decode() + ',"seq":',
            ',"subject":' + canonical_json(subject).decode() + "}")


def prepare(actor: str, role: str, action: str, subject: str, details: dict[str, Any] | None,
            at: datetime | None) -> Prepared:
    # Exactly what the API will show: details as they come back from jsonb.
    text = dumps_json(details) if details else "{}"
    shown = json.loads(text) if details else {}
    return Prepared(at, actor, role, action, subject, text,
                    *content_parts(actor, role, action, subject, shown))


async def head(conn: Conn) -> tuple[int, str]:
    row = await conn.fetchrow("SELECT seq, hash FROM audit_head")
    assert row is not None, "shared migration 0003 creates the audit head"
    return int(row["seq"]), str(row["hash"])


_STAMP = """
    UPDATE outbox SET envelope = jsonb_set(envelope, '{data,audit_head}',
                                          jsonb_build_object('seq', $1::bigint, 'hash', $2::text))
     WHERE event_id = ANY($3::uuid[])
"""
# The whole append in one statement: `audit_chain_entries` (shared migration 0005) locks
# the head and yields the entries numbered and hashed; they are written, the last one's
# (seq, hash) stamped into the events that carry it and made the head.
_APPEND = """
    WITH entries AS MATERIALIZED (
        SELECT * FROM audit_chain_entries($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ), appended AS (
        INSERT INTO audit_log (seq, at, actor, actor_role, action, subject, details,
                               content_hash, hash)
        SELECT seq, at, actor, actor_role, action, subject, details::jsonb, content_hash,
               hash
          FROM entries
    ), last AS (
        SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1
    ), stamped AS (
        UPDATE outbox SET envelope = jsonb_set(envelope, '{data,audit_head}',
                                              jsonb_build_object('seq', last.seq,
                                                                 'hash', last.hash))
          FROM last
         WHERE event_id = ANY($12::uuid[])
    )
    UPDATE audit_head SET seq = last.seq, hash = last.hash FROM last
    RETURNING audit_head.seq, audit_head.hash
"""


async def stamp(conn: Conn, events: Sequence[uuid.UUID], seq: int, hash_: str) -> None:
    """Write the head into `data.audit_head` of these events' outbox rows."""
    if events:
        await conn.execute(_STAMP, seq, hash_, list(events))


async def append(conn: Conn, items: Sequence[Prepared | Derived],
                 stamp: Sequence[uuid.UUID] = ()) -> tuple[int, str]:
    """Append `items` to the chain in order; the new head (seq, hash), also written into
    `data.audit_head` of the outbox rows of the events `stamp` names (written earlier
    in this transaction).

    The head row's lock serialises appends, so seq has no gaps and each hash chains from
    the one before; it is held until `conn`'s transaction ends: call this last."""
    columns: tuple[list[Any], ...] = tuple([] for _ in range(11))
    for item in items:
        if isinstance(item, Derived):
            fields: tuple[Any, ...] = (None,) * 9 + (item.function, item.arg)
        else:
            fields = (*item, None, None)
        for column, value in zip(columns, fields, strict=True):
            column.append(value)
    row = await conn.fetchrow(_APPEND, *columns, list(stamp))
    assert row is not None, "an append of no entries"
    return int(row["seq"]), str(row["hash"])
