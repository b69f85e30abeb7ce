"""Sealed bid amounts in the database (trust.md 3): the SQL around them, decrypted here.

Amounts are stored only as `sealed.Sealer` ciphertexts while a round is open: in
`bids.amount_ct`, the invitation's copy `invitations.last_amount_ct` (the same
ciphertext, bound to round, supplier and bid) and the round's best price
`rounds.best_ct`. Comparisons the database used to make on clear amounts happen here,
in memory, under the row lock that makes them safe. `legacy_*` columns hold the clear
amounts of rounds closed before migration 0005 (read-only history).
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from bidding_service.awards.domain import Candidate, Prices, Ranked, evaluate
from bidding_service.bids.sealed import SealedDataError, Sealer, best_ad, bid_ad
from shared.db import Conn


def bid_amount(sealer: Sealer, b: asyncpg.Record) -> Decimal:
    """A bids row's amount (refuses a ciphertext moved from another row)."""
    if b["amount_ct"] is None:
        legacy: Decimal | None = b["legacy_amount"]
        if legacy is None:
            raise SealedDataError("a bid without its amount")
        return legacy
    return sealer.open_amount(b["amount_ct"], bid_ad(b["round_id"], b["supplier_id"], b["id"]))


def last_amount(sealer: Sealer, inv: asyncpg.Record, *, legacy_ok: bool = True,
                ) -> Decimal | None:
    """An invitation's last amount, or None before its first bid. A clear amount is
    history of a round closed before migration 0005: in a round still open
    (`legacy_ok=False`) it can only have been written there, and is refused."""
    if inv["last_bid_id"] is None:
        return None
    if inv["last_amount_ct"] is None:
        legacy: Decimal | None = inv["legacy_last_amount"]
        if legacy is None or not legacy_ok:
            raise SealedDataError("an invitation's last bid without its sealed amount")
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
    previous = last_amount(sealer, inv, legacy_ok=False)
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


async def candidates(conn: Conn, sealer: Sealer, round_id: uuid.UUID, *,
                     legacy_ok: bool = False) -> list[Candidate]:
    """The round's valid bidders with their last amounts, decrypted in memory.

    For ranking only: names and credit codes are left empty (`store_ranking` takes them
    from the invitations in SQL, so 100,000 of them never pass through Python). Clear
    amounts (rounds closed before migration 0005) only with `legacy_ok`."""
    return _open_candidates(sealer, round_id, await _candidate_rows(conn, round_id), legacy_ok)


async def _candidate_rows(conn: Conn, round_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT supplier_id, kind, size, last_bid_id, last_amount_ct, last_bid_at,"
        " legacy_last_amount FROM invitations WHERE round_id = $1 AND status = 'invited'"
        " AND last_bid_id IS NOT NULL", round_id)


def _open_candidates(sealer: Sealer, round_id: uuid.UUID, rows: list[asyncpg.Record],
                     legacy_ok: bool) -> list[Candidate]:
    sealed = [r for r in rows if r[4] is not None]
    if len(sealed) < len(rows) and (not legacy_ok or any(
            r[4] is None and r[6] is None for r in rows)):
        raise SealedDataError("a bidder's last bid without its sealed amount")
    opened = iter(sealer.open_amounts((r[4], bid_ad(round_id, r[0], r[3])) for r in sealed))
    return [Candidate(r[0], "", "", r[1], r[2], next(opened) if r[4] is not None else r[6],
                      r[5]) for r in rows]


@contextmanager
def bulk() -> Iterator[None]:
    """No cyclic garbage collection while 100,000 acyclic rows are built: the collector
    would rescan them over and over (it doubled the close's time; over the close's pass
    it still cost 0.4 s of 1.4); refcounting frees them as usual. Closes run
    concurrently, so the collector is back on only when the last of them leaves (and
    stays as it was when it had been turned off elsewhere)."""
    if _Bulk.open == 0:
        _Bulk.collecting = gc.isenabled()
        gc.disable()
    _Bulk.open += 1
    try:
        yield
    finally:
        _Bulk.open -= 1
        if _Bulk.open == 0 and _Bulk.collecting:
            gc.enable()


class _Bulk:
    open = 0  # `bulk()` blocks open in the process
    collecting = False  # whether the collector was on when the first was entered


async def rank(candidates: list[Candidate], sme_deduction: Decimal) -> list[Ranked]:
    """`domain.evaluate` of the close's candidates (decrypted by its one pass over the
    bids), in a worker thread when there are many: a second of CPU for 100,000 bidders
    that would otherwise stall every other request of the process."""
    if len(candidates) <= RANK_INLINE_MAX:
        return evaluate(candidates, sme_deduction)
    with bulk():
        return await asyncio.to_thread(evaluate, candidates, sme_deduction)


# Fewer candidates are ranked on the event loop (a thread hop would cost more).
RANK_INLINE_MAX = 500


# Ranking rows written per INSERT: the arrays of one statement stay small however big
# the round.
RANKING_CHUNK = 10_000


@dataclass(frozen=True)
class StoredRanking:
    size: int
    # The rank-1 row as stored (None: nobody ranked).
    first: asyncpg.Record | None
    # The `Prices` of rank 1 (the other ranked bidders: at the close none is awarded
    # or skipped yet), from the statement that stored them when the ranking took one;
    # None when it took several.
    prices: Prices | None


_STORE_RANKING = """
    INSERT INTO round_results (round_id, rank, supplier_id, name, credit_code, kind,
                               size, amount, evaluated_amount, final_bid_at)
    SELECT $1, x.rank, x.supplier_id, i.name, i.credit_code, i.kind, i.size,
           x.amount / 100.0, x.evaluated / 100.0, i.last_bid_at
      FROM unnest($2::integer[], $3::uuid[], $4::bigint[], $5::bigint[])
           AS x (rank, supplier_id, amount, evaluated)
      JOIN invitations i ON i.round_id = $1 AND i.supplier_id = x.supplier_id
"""
# The first chunk: the rows stored, their number, rank 1's row and the prices of the others.
_STORE_FIRST = """
    WITH stored AS (""" + _STORE_RANKING + """ RETURNING *)
    SELECT s.*, t.stored, t.others, t.mean, t.low
      FROM (SELECT count(*) AS stored,
                   count(*) FILTER (WHERE rank <> 1) AS others,
                   avg(evaluated_amount) FILTER (WHERE rank <> 1) AS mean,
                   min(evaluated_amount) FILTER (WHERE rank <> 1) AS low FROM stored) t
      LEFT JOIN stored s ON s.rank = 1
"""


async def store_ranking(conn: Conn, round_id: uuid.UUID, ranked: list[Ranked],
                        ) -> StoredRanking:
    """Write the ranking (clear amounts: the close publishes it in this transaction).

    INSERTs of (rank, supplier, cents) arrays, unnested and joined to the invitations
    for the bidders' names, codes and final bid times: no temporary table (creating one
    per close costs catalog writes, and many closes at once contend on them). The first
    also returns rank 1's row and the others' prices, so the award needs no more reads."""
    stored = 0
    first: asyncpg.Record | None = None
    prices: Prices | None = None
    for start in range(0, len(ranked), RANKING_CHUNK):
        with bulk():
            part = ranked[start:start + RANKING_CHUNK]
            ranks = [x.rank for x in part]
            suppliers = [x.candidate.supplier_id for x in part]
            cents = [int(x.candidate.amount * 100) for x in part]
            evaluated = [int(x.evaluated_amount * 100) for x in part]
        args = (round_id, ranks, suppliers, cents, evaluated)
        if start == 0:
            row = await conn.fetchrow(_STORE_FIRST, *args)
            assert row is not None
            stored += int(row["stored"])
            first = row if row["rank"] is not None else None
            prices = (int(row["others"]), row["mean"], row["low"])
        else:
            result: str = await conn.execute(_STORE_RANKING, *args)
            stored += int(result.split()[-1])
    return StoredRanking(stored, first, prices if len(ranked) <= RANKING_CHUNK else None)
