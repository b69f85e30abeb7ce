"""The close's one pass over a round's bids: in Merkle order (trust.md 5), each bid's
sealed amount decrypted once, its receipt leaf folded into the root, the valid bidders'
last bids kept for the ranking, the counts taken; and where the bids' audit entries
(section 6) come from.

The bids come through a cursor a chunk at a time, so a 100,000-bid close holds one
chunk of rows, the candidates and 17 hashes. The audit entries are made from the bids
in the database when the chain is appended (`bid_audit_entries`, migration 0017), so
they never pass through the service.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from bidding_service.awards.commitment import CHUNK, INLINE_MAX, Commitment
from bidding_service.awards.domain import Candidate
from bidding_service.bids.amounts import bulk
from bidding_service.bids.receipts import bid_leaves
from bidding_service.bids.sealed import SealedDataError, Sealer, bid_ad
from shared.audit_append import Derived, Prepared, prepare
from shared.db import Conn
from shared.merkle import RootBuilder

# Every bid answered 201, in Merkle order (by `submitted_at`, then by id as text, which
# is the order of the uuid's bytes), with its invitation: `counts` marks the last bid of
# a supplier still invited, the one ranked. The same in every row (computed once):
# `held`, whether entries written before bids carried their actor wait in `audit_held`,
# and `bidders`, how many suppliers bid.
CLOSE_BIDS = """
    SELECT b.id, b.supplier_id, b.amount_ct, b.legacy_amount, b.submitted_at,
           i.kind, i.size, i.last_bid_at, i.last_amount_ct,
           coalesce(i.status = 'invited' AND i.last_bid_id = b.id, false) AS counts,
           (SELECT EXISTS (SELECT 1 FROM audit_held h WHERE h.round_id = $1)) AS held,
           (SELECT count(DISTINCT d.supplier_id) FROM bids d WHERE d.round_id = $1) AS bidders
      FROM bids b
      LEFT JOIN invitations i ON i.round_id = b.round_id AND i.supplier_id = b.supplier_id
     WHERE b.round_id = $1
     ORDER BY b.submitted_at, b.id
"""
_ID, _SUPPLIER, _CT, _LEGACY, _AT, _KIND, _SIZE, _LAST_AT, _LAST_CT, _COUNTS, _HELD, \
    _BIDDERS = range(12)
# The function of the schema that derives a round's bid entries (migration 0017).
BID_ENTRIES = "bid_audit_entries"


@dataclass
class Tally:
    commitment: Commitment
    candidates: list[Candidate]
    bids: int
    bidders: int
    # The bids' audit entries, for `UnitOfWork.audit_entries`.
    entries: Derived | list[Prepared]


async def tally(conn: Conn, sealer: Sealer, round_id: uuid.UUID) -> Tally:
    """The one pass (`conn` in the close's transaction)."""
    builder = RootBuilder()
    candidates: list[Candidate] = []
    held = False
    words: dict[str, str] = {}

    def fold(rows: Sequence[asyncpg.Record]) -> None:
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

    count = bidders = 0
    # The rows fetched are as many objects for the collector as the rows folded.
    with bulk():
        cursor = await conn.cursor(CLOSE_BIDS, round_id)
        while rows := await cursor.fetch(CHUNK):
            held, bidders = held or bool(rows[0][_HELD]), int(rows[0][_BIDDERS])
            if len(rows) > INLINE_MAX:
                await asyncio.to_thread(fold, rows)
            else:
                fold(rows)
            count += len(rows)
            if len(rows) < CHUNK:
                break
    entries: Derived | list[Prepared] = Derived(BID_ENTRIES, round_id)
    if held:
        entries = await _with_held(conn, round_id)
    return Tally(Commitment(builder.root().hex(), builder.size), candidates, count, bidders,
                 entries)


# The bids' own entries, for a round with entries in audit_held.
_ENTRY_BIDS = """
    SELECT id, submitted_at, actor FROM bids WHERE round_id = $1 AND actor IS NOT NULL
"""


async def _with_held(conn: Conn, round_id: uuid.UUID) -> list[Prepared]:
    """Entries written before migration 0015 (and so held in `audit_held`) merged with
    those derived from the bids, in Merkle order: only rounds open across that upgrade,
    so all in memory."""
    text = str(round_id)
    held = await conn.fetch(
        "DELETE FROM audit_held WHERE round_id = $1"
        " RETURNING bid_id, at, actor, actor_role, action, subject, details", round_id)
    rows = [(r[1], r[0], prepare(r[2], "supplier", "bid.submitted",
                                 f"/v1/rounds/{text}/bids/{r[0]}", None, r[1]))
            for r in await conn.fetch(_ENTRY_BIDS, round_id)]
    rows += [(h["at"], h["bid_id"], prepare(h["actor"], h["actor_role"], h["action"],
                                             h["subject"], h["details"], h["at"]))
             for h in held]
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows]


def _legacy(b: asyncpg.Record) -> Decimal:
    """The clear amount of a bid of a round closed before migration 0005."""
    amount: Decimal | None = b[_LEGACY]
    if amount is None:
        raise SealedDataError("a bid without its amount")
    return amount
