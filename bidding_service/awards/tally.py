"""The close's one pass over a round's bids: in Merkle order (trust.md 5), each bid's
sealed amount decrypted once, its receipt leaf folded into the root, the valid bidders'
last bids kept for the ranking, the counts taken, and the bids' audit entries
(section 6) prepared for the chain.

The bids come through a cursor a chunk at a time, so a 100,000-bid close holds one
chunk of rows, the candidates and 17 hashes. A round whose bids fit in one chunk has its
audit entries prepared in the pass; a bigger one has them read again, a chunk at a time,
when the chain is locked, so they are never all in memory either.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import asyncpg
import orjson

from bidding_service.awards.commitment import CHUNK, INLINE_MAX, Commitment
from bidding_service.awards.domain import Candidate
from bidding_service.bids.amounts import bulk
from bidding_service.bids.receipts import bid_leaves
from bidding_service.bids.sealed import SealedDataError, Sealer, bid_ad
from shared.audit_append import Prepared, prepare
from shared.audit_chain import format_at
from shared.db import Conn
from shared.merkle import RootBuilder

# Every bid answered 201, in Merkle order (by `submitted_at`, then by id as text, which
# is the order of the uuid's bytes), with its invitation: `counts` marks the last bid of
# a supplier still invited, the one ranked. The same in every row (computed once):
# `held`, whether entries written before bids carried their actor wait in `audit_held`,
# and `bidders`, how many suppliers bid.
CLOSE_BIDS = """
    SELECT b.id, b.supplier_id, b.amount_ct, b.legacy_amount, b.submitted_at, b.actor,
           i.kind, i.size, i.last_bid_at, i.last_amount_ct,
           coalesce(i.status = 'invited' AND i.last_bid_id = b.id, false) AS counts,
           (SELECT EXISTS (SELECT 1 FROM audit_held h WHERE h.round_id = $1)) AS held,
           (SELECT count(DISTINCT d.supplier_id) FROM bids d WHERE d.round_id = $1) AS bidders
      FROM bids b
      LEFT JOIN invitations i ON i.round_id = b.round_id AND i.supplier_id = b.supplier_id
     WHERE b.round_id = $1
     ORDER BY b.submitted_at, b.id
"""
# The bids' audit entries read again under the chain's lock (rounds over one chunk).
ENTRY_BIDS = """
    SELECT id, submitted_at, actor FROM bids WHERE round_id = $1 AND actor IS NOT NULL
     ORDER BY submitted_at, id
"""
_ID, _SUPPLIER, _CT, _LEGACY, _AT, _ACTOR, _KIND, _SIZE, _LAST_AT, _LAST_CT, _COUNTS, \
    _HELD, _BIDDERS = range(13)


def bid_entry(round_text: str, bid_id: uuid.UUID, at: datetime, actor: str) -> Prepared:
    """A bid's audit entry (`bid.submitted` by its supplier, at its `submitted_at`, no
    details), its canonical JSON written out: the same bytes as
    `audit_append.prepare` gives (tests/unit/bidding/test_tally.py), at a fraction of
    the cost for a close's 100,000."""
    subject = f"/v1/rounds/{round_text}/bids/{bid_id}"
    before = b"".join((b'{"action":"bid.submitted","actor":', orjson.dumps(actor),
                       b',"actor_role":"supplier","at":"', format_at(at).encode(),
                       b'","details":{},"seq":'))
    return Prepared(at, actor, "supplier", "bid.submitted", subject, "{}", before,
                    b',"subject":"' + subject.encode() + b'"}')


@dataclass
class BidEntries:
    """The close's bid audit entries, as an `audit_append.AuditStream`."""

    conn: Conn
    round_id: uuid.UUID
    prepared: list[Prepared] | None  # None: read again when the chain is locked
    held: list[asyncpg.Record] = field(default_factory=list)

    async def chunks(self) -> AsyncIterator[Sequence[Prepared]]:
        if self.held:
            yield await self._with_held()
            return
        if self.prepared is not None:
            yield self.prepared
            return
        text = str(self.round_id)
        cursor = await self.conn.cursor(ENTRY_BIDS, self.round_id)
        while rows := await cursor.fetch(CHUNK):
            yield [bid_entry(text, r[0], r[1], r[2]) for r in rows]
            if len(rows) < CHUNK:
                break

    async def _with_held(self) -> list[Prepared]:
        """Entries written before migration 0015 (and so held in `audit_held`) merged with
        those derived from the bids, in Merkle order: only rounds open across that
        upgrade, so all in memory."""
        text = str(self.round_id)
        rows = [(r[1], r[0], bid_entry(text, r[0], r[1], r[2]))
                for r in await self.conn.fetch(ENTRY_BIDS, self.round_id)]
        rows += [(h["at"], h["bid_id"], prepare(h["actor"], h["actor_role"], h["action"],
                                                 h["subject"], h["details"], h["at"]))
                 for h in self.held]
        rows.sort(key=lambda r: (r[0], r[1]))
        return [r[2] for r in rows]


@dataclass
class Tally:
    commitment: Commitment
    candidates: list[Candidate]
    bids: int
    bidders: int
    entries: BidEntries


async def tally(conn: Conn, sealer: Sealer, round_id: uuid.UUID) -> Tally:
    """The one pass (`conn` in the close's transaction)."""
    builder = RootBuilder()
    candidates: list[Candidate] = []
    prepared: list[Prepared] = []
    text = str(round_id)
    held = False
    words: dict[str, str] = {}

    def fold(rows: Sequence[asyncpg.Record], keep_entries: bool) -> None:
        opened = iter(sealer.open_amounts(
            (b[_CT], bid_ad(round_id, b[_SUPPLIER], b[_ID])) for b in rows
            if b[_CT] is not None))
        amounts = [next(opened) if b[_CT] is not None else _legacy(b) for b in rows]
        builder.extend(bid_leaves(round_id, ((b[_ID], b[_SUPPLIER], a, b[_AT])
                                             for b, a in zip(rows, amounts, strict=True))))
        for b, amount in zip(rows, amounts, strict=True):
            if b[_COUNTS]:
                if b[_CT] is None or b[_LAST_CT] != b[_CT]:
                    raise SealedDataError("a bidder's last bid without its sealed amount")
                # One string object per kind and size, not one per bidder.
                kind = words.setdefault(b[_KIND], b[_KIND])
                size = words.setdefault(b[_SIZE], b[_SIZE])
                candidates.append(Candidate(b[_SUPPLIER], "", "", kind, size, amount,
                                            b[_LAST_AT]))
            if keep_entries and b[_ACTOR] is not None:
                prepared.append(bid_entry(text, b[_ID], b[_AT], b[_ACTOR]))

    cursor = await conn.cursor(CLOSE_BIDS, round_id)
    count = bidders = 0
    while rows := await cursor.fetch(CHUNK):
        held, bidders = held or bool(rows[0][_HELD]), int(rows[0][_BIDDERS])
        small = count == 0 and len(rows) < CHUNK
        if len(rows) > INLINE_MAX:
            with bulk():
                await asyncio.to_thread(fold, rows, small)
        else:
            fold(rows, small)
        count += len(rows)
        if len(rows) < CHUNK:
            break
    entries = BidEntries(conn, round_id, prepared if count < CHUNK else None)
    if held:
        entries.held = await conn.fetch(
            "DELETE FROM audit_held WHERE round_id = $1"
            " RETURNING bid_id, at, actor, actor_role, action, subject, details", round_id)
    return Tally(Commitment(builder.root().hex(), builder.size), candidates, count, bidders,
                 entries)


def _legacy(b: asyncpg.Record) -> Decimal:
    """The clear amount of a bid of a round closed before migration 0005."""
    amount: Decimal | None = b[_LEGACY]
    if amount is None:
        raise SealedDataError("a bid without its amount")
    return amount
