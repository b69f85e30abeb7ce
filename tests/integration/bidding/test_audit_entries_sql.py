"""The audit chain's entries are numbered and hashed in the database (shared migration
0005) and a close's bid entries are made there from the bids (bidding migration 0017):
both must give exactly the bytes the contract's canonical JSON gives
(`shared.audit_chain`, the reference every verifier uses), whatever the fields hold."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from aiohttp.test_utils import TestClient

from bidding_service.awards.tally import BID_ENTRIES
from shared import audit_append
from shared.audit_append import Derived, prepare
from shared.audit_chain import content_hash, format_at, link
from shared.http import DB
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import launch

Auth = Callable[..., dict[str, str]]

# Text that JSON escapes, or that one encoder might escape and another not.
TRICKY = ["", '"', "\\", "/", "a\tb\nc\rd\be\ff", "\x01\x1f\x7f", "中文 采购单位", "😀",
          "\u2028\u2029", "\ud7ff\ue000\uffff", "'; DROP TABLE bids; --", "{}", "%s $1"]


def _text(rng: random.Random) -> str:
    """A random string over code points from control characters to the astral planes
    (no NUL, which PostgreSQL text cannot hold; no surrogates, which UTF-8 cannot)."""
    ranges = [(1, 0x7f), (0x80, 0x7ff), (0x800, 0xd7ff), (0xe000, 0xffff), (0x10000, 0x10ffff)]
    out = []
    for _ in range(rng.randint(0, 12)):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def _at(rng: random.Random) -> datetime | None:
    if rng.random() < 0.2:
        return None  # the append's own clock
    zone = rng.choice([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5,
                                                                            minutes=-30))])
    base = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 3 * 10**9))
    micro = rng.choice([0, 1, 999_999, rng.randint(0, 999_999)])
    return base.replace(microsecond=micro).astimezone(zone)


def _details(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.3:
        return None
    values: list[Any] = [rng.randint(-10**15, 10**15), _text(rng), None, True, False,
                         [_text(rng), 3], {"nested": {_text(rng): _text(rng)}}]
    return {_text(rng): rng.choice(values) for _ in range(rng.randint(1, 4))}


@asynccontextmanager
async def _rolled_back(bidding: TestClient) -> AsyncIterator[Any]:
    """A connection in a transaction that is rolled back: the trail of the other tests
    stays as it was."""
    async with bidding.app[DB].acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            yield conn
        finally:
            await tx.rollback()


async def test_entries_appended_in_the_database_hash_as_the_contract_says(
        bidding: TestClient) -> None:
    rng = random.Random(6)
    entries = [prepare(actor, role, action, subject, None, None)
               for actor, role, action, subject in zip(TRICKY, reversed(TRICKY), TRICKY,
                                                       reversed(TRICKY), strict=True)]
    entries += [prepare(_text(rng), _text(rng), _text(rng), _text(rng), _details(rng),
                        _at(rng)) for _ in range(300)]
    async with _rolled_back(bidding) as conn:
        seq0, previous = await audit_append.head(conn)
        seq, head = await audit_append.append(conn, entries)
        rows = await conn.fetch("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq", seq0)
        later = await conn.fetchval("SELECT clock_timestamp()")
    assert seq == seq0 + len(entries) == rows[-1]["seq"]
    for row, entry in zip(rows, entries, strict=True):
        assert (row["actor"], row["actor_role"], row["action"], row["subject"]) == \
            (entry.actor, entry.role, entry.action, entry.subject)
        assert row["at"] <= later if entry.at is None else row["at"] == entry.at
        shown = {"seq": row["seq"], "at": format_at(row["at"]), "actor": row["actor"],
                 "actor_role": row["actor_role"], "action": row["action"],
                 "subject": row["subject"], "details": row["details"]}
        assert row["content_hash"] == content_hash(shown)
        assert row["hash"] == link(previous, row["content_hash"])
        previous = row["hash"]
    assert head == previous


async def test_bid_entries_made_in_the_database_are_the_generic_entries(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    """Bids of any actor (a token's `sub` is any text) and time, their entries derived by
    the close: in Merkle order, the parts `prepare` makes for the generic entry, and
    hashed in the chain as the contract says."""
    rng = random.Random(17)
    pool = await feed.pool(members(2))
    rnd = await launch(bidding, auth("procurement_center", sub="center-sql"),
                       round_body(pool, seconds=3600))
    round_id = uuid.UUID(rnd["id"])
    base = datetime(2026, 12, 1, 8, tzinfo=UTC)
    bids = [(uuid.uuid4(), actor, base + timedelta(microseconds=rng.choice([0, 1, 999_999])
                                                   + 10**6 * rng.randint(0, 3)))
            for actor in TRICKY + [_text(rng) for _ in range(200)]]
    async with _rolled_back(bidding) as conn:
        await conn.executemany(
            "INSERT INTO bids (id, round_id, supplier_id, legacy_amount, submitted_at, actor)"
            " VALUES ($1, $2, $3, 1.00, $4, $5)",
            [(bid_id, round_id, uuid.uuid4(), at, actor) for bid_id, actor, at in bids])
        derived = await conn.fetch(f"SELECT * FROM {BID_ENTRIES}($1)", round_id)
        seq0, previous = await audit_append.head(conn)
        await audit_append.append(conn, [Derived(BID_ENTRIES, round_id)])
        rows = await conn.fetch("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq", seq0)
    bids.sort(key=lambda b: (b[2], b[0]))
    assert len(derived) == len(rows) == len(bids)
    for row, entry, (bid_id, actor, at) in zip(derived, rows, bids, strict=True):
        generic = prepare(actor, "supplier", "bid.submitted",
                          f"/v1/rounds/{round_id}/bids/{bid_id}", None, at)
        assert tuple(row) == (generic.at, generic.actor, generic.role, generic.action,
                              generic.subject, generic.details, generic.pre, generic.mid,
                              generic.after)
        shown = {"seq": entry["seq"], "at": format_at(entry["at"]), "actor": actor,
                 "actor_role": "supplier", "action": "bid.submitted",
                 "subject": generic.subject, "details": {}}
        assert entry["content_hash"] == content_hash(shown)
        assert entry["hash"] == link(previous, entry["content_hash"])
        previous = entry["hash"]
