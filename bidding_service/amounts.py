"""Sealed bid amounts in the database (trust.md 3): the SQL around them, decrypted here.

Amounts are stored only as `sealed.Sealer` ciphertexts while a round is open: in
`bids.amount_ct`, the invitation's copy `invitations.last_amount_ct` (the same
ciphertext, bound to round, supplier and bid) and the round's best price
`rounds.best_ct`. Comparisons the database used to make on clear amounts happen here,
in memory, under the row lock that makes them safe. `legacy_*` columns hold the clear
amounts of rounds closed before migration 0005 (read-only history).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from bidding_service.domain import Candidate, Ranked
from bidding_service.sealed import Sealer, best_ad, bid_ad
from shared.db import Conn


def bid_amount(sealer: Sealer, b: asyncpg.Record) -> Decimal:
    """A bids row's amount (refuses a ciphertext moved from another row)."""
    if b["amount_ct"] is None:
        legacy: Decimal = b["legacy_amount"]
        return legacy
    return sealer.open_amount(b["amount_ct"], bid_ad(b["round_id"], b["supplier_id"], b["id"]))


def last_amount(sealer: Sealer, inv: asyncpg.Record) -> Decimal | None:
    """An invitation's last amount, or None before its first bid."""
    if inv["last_bid_id"] is None:
        return None
    if inv["last_amount_ct"] is None:
        legacy: Decimal | None = inv["legacy_last_amount"]
        return legacy
    return sealer.open_amount(inv["last_amount_ct"],
                              bid_ad(inv["round_id"], inv["supplier_id"], inv["last_bid_id"]))


@dataclass(frozen=True)
class LoweredBid:
    amount_ct: bytes
    previous_bid_id: uuid.UUID | None


async def lower_own_bid(conn: Conn, sealer: Sealer, round_id: uuid.UUID,
                        supplier_id: uuid.UUID, bid_id: uuid.UUID, amount: Decimal,
                        decrement: Decimal) -> LoweredBid | None:
    """Lock the supplier's invitation and check the amount against its previous one
    (decrypted under the lock); the sealed amount to store, or None (refused)."""
    inv = await conn.fetchrow(
        "SELECT round_id, supplier_id, status, last_bid_id, last_amount_ct, legacy_last_amount"
        " FROM invitations WHERE round_id = $1 AND supplier_id = $2 FOR NO KEY UPDATE",
        round_id, supplier_id)
    if inv is None or inv["status"] != "invited":
        return None
    previous = last_amount(sealer, inv)
    if previous is not None and amount > previous - decrement:
        return None
    return LoweredBid(sealer.seal_amount(amount, bid_ad(round_id, supplier_id, bid_id)),
                      inv["last_bid_id"])


async def best_before(conn: Conn, sealer: Sealer, round_id: uuid.UUID, best_ct: bytes | None,
                      amount: Decimal) -> Decimal | None:
    """The round's best valid amount before this bid, recording `amount` as the new best
    when it beats it (anti-sniping needs the best without storing it in clear).

    `best_ct` is the round row's sealed best read with the bid's key-share lock. The best
    only goes down (an exclusion resets it to NULL: recompute), so a bid not below that
    snapshot is not below the current best either and costs nothing more. Only a bid
    that may be a new best takes the round's row lock (FOR NO KEY UPDATE: it does not
    conflict with the other bids' key-share locks, only with other new bests and the
    close), first as one compare-and-swap on the ciphertext seen, and on a race by
    re-reading the best under the lock.
    """
    ad = best_ad(round_id)
    if best_ct is not None:
        best = sealer.open_amount(best_ct, ad)
        if amount >= best:
            return best
        swapped = await conn.fetchval(
            "UPDATE rounds SET best_ct = $2 WHERE id = $1 AND best_ct = $3 RETURNING true",
            round_id, sealer.seal_amount(amount, ad), best_ct)
        if swapped:
            return best
    current = await conn.fetchval("SELECT best_ct FROM rounds WHERE id = $1 FOR NO KEY UPDATE",
                                  round_id)
    if current is not None:
        best_now: Decimal | None = sealer.open_amount(current, ad)
    else:
        best_now = min((c.amount for c in await candidates(conn, sealer, round_id)),
                       default=None)
    new_best = amount if best_now is None or amount < best_now else best_now
    if current is None or new_best != best_now:
        await conn.execute("UPDATE rounds SET best_ct = $2 WHERE id = $1",
                           round_id, sealer.seal_amount(new_best, ad))
    return best_now


async def candidates(conn: Conn, sealer: Sealer, round_id: uuid.UUID) -> list[Candidate]:
    """The round's valid bidders with their last amounts, decrypted in memory."""
    rows = await conn.fetch(
        "SELECT round_id, supplier_id, name, credit_code, kind, size, last_bid_id,"
        " last_amount_ct, legacy_last_amount, last_bid_at"
        " FROM invitations WHERE round_id = $1 AND status = 'invited'"
        " AND last_bid_id IS NOT NULL", round_id)
    out = []
    for r in rows:
        amount = last_amount(sealer, r)
        assert amount is not None
        out.append(Candidate(r["supplier_id"], r["name"], r["credit_code"], r["kind"],
                             r["size"], amount, r["last_bid_at"]))
    return out


async def store_ranking(conn: Conn, round_id: uuid.UUID, ranked: list[Ranked]) -> int:
    """Write the ranking (clear amounts: the close publishes it in this transaction)."""
    await conn.copy_records_to_table(
        "round_results",
        records=[(round_id, x.rank, x.candidate.supplier_id, x.candidate.name,
                  x.candidate.credit_code, x.candidate.kind, x.candidate.size,
                  x.candidate.amount, x.evaluated_amount, x.candidate.final_bid_at)
                 for x in ranked],
        columns=["round_id", "rank", "supplier_id", "name", "credit_code", "kind", "size",
                 "amount", "evaluated_amount", "final_bid_at"])
    return len(ranked)
