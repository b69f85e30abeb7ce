"""Appending to the audit hash chain (trust.md section 6): entries prepared before the
chain's head is locked, hashed and written under it, in chunks.

Every close appends its round's bid entries, so the head row's lock is what closes of
different rounds wait for. Everything of an entry but its `seq` and its link is
therefore prepared before the lock (`prepare`, or an `AuditStream` for the thousands of
bid entries of a close, which yields them chunk by chunk so that a 100,000-bid close
never holds them all), and under the lock only the numbers are put in, hashed and
written, a chunk per statement, the last one with the new head and with the head
stamped into the outbox rows of the events that carry it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from shared.audit_chain import canonical_json, format_at
from shared.db import Conn, dumps_json

# Entries written per INSERT under the lock.
CHUNK = 5000


class Prepared(NamedTuple):
    """An entry ready for the chain: every column but seq, content_hash and hash, and the
    canonical JSON of its content around the seq (`before` + seq + `after`). `at` None:
    the append's own clock, and the parts are made under the lock."""

    at: datetime | None
    actor: str
    role: str
    action: str
    subject: str
    details: str  # jsonb text, exactly what the API will show
    before: bytes | None
    after: bytes | None


class AuditStream(Protocol):
    """Entries produced only when the chain is locked, in order, a chunk at a time."""

    def chunks(self) -> AsyncIterator[Sequence[Prepared]]: ...


def content_parts(actor: str, role: str, action: str, subject: str, details: Any,
                  when: datetime) -> tuple[bytes, bytes]:
    """An entry's canonical JSON (trust.md 6) around its `seq`: in sorted key order `seq`
    falls between `details` and `subject`, so only the number is put in under the lock."""
    before = canonical_json({"action": action, "actor": actor, "actor_role": role,
                             "at": format_at(when), "details": details})
    return before[:-1] + b',"seq":', b',"subject":' + canonical_json(subject) + b"}"


def prepare(actor: str, role: str, action: str, subject: str, details: dict[str, Any] | None,
            at: datetime | None) -> Prepared:
    # Exactly what the API will show: details as they come back from jsonb.
    text = dumps_json(details) if details else "{}"
    shown = json.loads(text) if details else {}
    parts = (None, None) if at is None else content_parts(actor, role, action, subject,
                                                          shown, at)
    return Prepared(at, actor, role, action, subject, text, *parts)


async def head(conn: Conn) -> tuple[int, str]:
    row = await conn.fetchrow("SELECT seq, hash FROM audit_head")
    assert row is not None, "shared migration 0003 creates the audit head"
    return int(row["seq"]), str(row["hash"])


_INSERT = """
    INSERT INTO audit_log (seq, at, actor, actor_role, action, subject, details,
                           content_hash, hash)
    SELECT x.seq, x.at, x.actor, x.actor_role, x.action, x.subject, x.details::jsonb,
           x.content_hash, x.hash
      FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                  $6::text[], $7::text[], $8::text[], $9::text[])
           AS x (seq, at, actor, actor_role, action, subject, details, content_hash, hash)
"""
_STAMP = """
    UPDATE outbox SET envelope = jsonb_set(envelope, '{data,audit_head}',
                                          jsonb_build_object('seq', $1::bigint, 'hash', $2::text))
     WHERE event_id = ANY($3::uuid[])
"""
# The last chunk, the new head and the head stamped into the events that carry it, in
# one statement.
_FINISH = f"""
    WITH appended AS ({_INSERT}), stamped AS (
        UPDATE outbox SET envelope = jsonb_set(envelope, '{{data,audit_head}}',
                                              jsonb_build_object('seq', $10::bigint,
                                                                 'hash', $11::text))
         WHERE event_id = ANY($12::uuid[])
    )
    UPDATE audit_head SET seq = $10, hash = $11
"""


async def stamp(conn: Conn, events: Sequence[uuid.UUID], seq: int, hash_: str) -> None:
    """Write the head into `data.audit_head` of these events' outbox rows."""
    if events:
        await conn.execute(_STAMP, seq, hash_, list(events))


class _Chain:
    """The columns of the entries appended so far under the lock, and the running link."""

    def __init__(self, seq: int, previous: str, now: datetime) -> None:
        self.seq, self.previous, self.now = seq, previous, now
        self.columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [], [])

    def add(self, entries: Sequence[Prepared]) -> None:
        sha256 = hashlib.sha256
        seq, previous = self.seq, self.previous
        (seqs, ats, actors, roles, actions, subjects, details, contents,
         hashes) = self.columns
        for e in entries:
            seq += 1
            when = e.at if e.at is not None else self.now
            if e.before is None or e.after is None:
                before, after = content_parts(e.actor, e.role, e.action, e.subject,
                                              json.loads(e.details), when)
            else:
                before, after = e.before, e.after
            content = sha256(before + str(seq).encode() + after).hexdigest()
            previous = sha256((previous + content).encode()).hexdigest()
            seqs.append(seq)
            ats.append(when)
            actors.append(e.actor)
            roles.append(e.role)
            actions.append(e.action)
            subjects.append(e.subject)
            details.append(e.details)
            contents.append(content)
            hashes.append(previous)
        self.seq, self.previous = seq, previous

    def __len__(self) -> int:
        return len(self.columns[0])

    def take(self) -> tuple[list[Any], ...]:
        columns, self.columns = self.columns, ([], [], [], [], [], [], [], [], [])
        return columns


async def append(conn: Conn, items: Sequence[Prepared | AuditStream],
                 stamp: Sequence[uuid.UUID] = ()) -> tuple[int, str]:
    """Append `items` (entries, and streams of them) to the chain in order; the new head
    (seq, hash), also written into `data.audit_head` of the outbox rows of the events
    `stamp` names (written earlier in this transaction).

    The head row's lock serialises appends, so seq has no gaps and each hash chains from
    the one before; it is held until `conn`'s transaction ends: call this last."""
    row = await conn.fetchrow(
        "SELECT seq, hash, clock_timestamp() AS now FROM audit_head FOR UPDATE")
    assert row is not None, "shared migration 0003 creates the audit head"
    chain = _Chain(int(row["seq"]), str(row["hash"]), row["now"])
    for item in items:
        if isinstance(item, Prepared):
            chain.add((item,))
        else:
            async for chunk in item.chunks():
                chain.add(chunk)
                if len(chain) >= CHUNK:
                    await conn.execute(_INSERT, *chain.take())
    await conn.execute(_FINISH, *chain.take(), chain.seq, chain.previous, list(stamp))
    return chain.seq, chain.previous
