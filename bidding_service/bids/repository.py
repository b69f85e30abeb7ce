"""SQL of the bid path: invitations, the bid's one statement, bids read back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bidding_service.eligibility.repository import admitted_now
from bidding_service.rounds.domain import BIDDING_STATUSES
from shared.db import Conn


async def invitation(conn: Conn, round_id: uuid.UUID, supplier_id: uuid.UUID,
                     ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM invitations WHERE round_id = $1 AND supplier_id = $2",
        round_id, supplier_id)


async def place_bid(conn: Conn, round_id: uuid.UUID, supplier_id: uuid.UUID, bid_id: uuid.UUID,
                    amount_ct: bytes, previous_bid_id: uuid.UUID | None, opens_at: datetime,
                    closes_at: datetime, actor: str, pool_id: uuid.UUID) -> datetime | None:
    """Record the bid if, by the database clock now, the round is open, the supplier is
    still invited, still admitted in the pool by the eligibility copy, with its last bid
    still `previous_bid_id`; else None.

    The caller holds a key-share lock on the round row, so a close cannot evaluate
    before this transaction has committed or rolled back, and has checked the amount
    against the previous one under the invitation's row lock (`amounts.lower_own_bid`):
    the amount is stored only sealed (trust.md 3). The bid carries its actor: its
    audit entry (never the amount: bids are sealed) is derived from the row when the
    round closes (trust.md sections 2 and 6).
    """
    submitted: datetime | None = await conn.fetchval(
        """
        WITH accepted AS (
            UPDATE invitations
               SET last_bid_id = $3, last_amount_ct = $4, last_bid_at = clock_timestamp()
             WHERE round_id = $1 AND supplier_id = $2 AND status = 'invited'
               AND last_bid_id IS NOT DISTINCT FROM $5
               AND clock_timestamp() >= $6 AND clock_timestamp() < $7
               AND """ + admitted_now("$9", "$2") + """
            RETURNING last_bid_at
        ), stored AS (
            INSERT INTO bids (id, round_id, supplier_id, amount_ct, submitted_at, actor)
            SELECT $3, $1, $2, $4, last_bid_at, $8 FROM accepted
            RETURNING submitted_at
        )
        SELECT submitted_at FROM stored
        """,
        round_id, supplier_id, bid_id, amount_ct, previous_bid_id, opens_at, closes_at, actor,
        pool_id)
    return submitted


@dataclass(frozen=True, slots=True)
class Taken:
    """What the one-statement bid saw: `submitted_at` when it took the bid; else the
    invitation as it was (None: no invitation) and a stored answer to the same
    Idempotency-Key, if any, for the caller to decide what to do."""

    submitted_at: datetime | None
    invitation: asyncpg.Record | None
    prior: asyncpg.Record | None


async def take_bid(conn: Conn, round_id: uuid.UUID, supplier_id: uuid.UUID, bid_id: uuid.UUID,
                   amount_ct: bytes, previous_bid_id: uuid.UUID | None, actor: str,
                   pool_id: uuid.UUID, caller: str, key: str | None, fingerprint: str | None,
                   answer: Any, location: str) -> Taken:
    """A bid in one statement, its own transaction: the round's key-share lock (the close
    waits for it), the round open by the database clock now, the supplier invited and
    admitted, its last bid still `previous_bid_id` (compare-and-swap: the amount was
    checked against that bid's), the bid with its actor (the audit entry the close
    derives from it, trust.md 6) and, with an
    Idempotency-Key, the stored answer; nothing of it when the key was used before.

    Two requests with one key at once: the second waits for the first's invitation lock
    and then fails the compare-and-swap (or, from another supplier's row, the key's
    primary key), and sees the first's answer when it looks again.
    """
    row = await conn.fetchrow(
        """
        WITH r AS (
            SELECT opens_at, closes_at FROM rounds
             WHERE id = $1 AND status IN ('scheduled', 'open')
               FOR KEY SHARE
        ), prior AS (
            SELECT request_hash, status, body, location FROM idempotency_keys
             WHERE $9::text IS NOT NULL AND caller = $8 AND key = $9
        ), accepted AS (
            UPDATE invitations i
               SET last_bid_id = $3, last_amount_ct = $4, last_bid_at = clock_timestamp()
              FROM r
             WHERE i.round_id = $1 AND i.supplier_id = $2 AND i.status = 'invited'
               AND i.last_bid_id IS NOT DISTINCT FROM $5
               AND clock_timestamp() >= r.opens_at AND clock_timestamp() < r.closes_at
               AND NOT EXISTS (SELECT 1 FROM prior)
               AND """ + admitted_now("$7", "$2") + """
            RETURNING i.last_bid_at
        ), stored AS (
            -- `actor`: the bid's audit entry, derived from this row at the close.
            INSERT INTO bids (id, round_id, supplier_id, amount_ct, submitted_at, actor)
            SELECT $3, $1, $2, $4, last_bid_at, $6 FROM accepted
            RETURNING submitted_at
        ), remembered AS (
            INSERT INTO idempotency_keys (caller, key, request_hash, status, body, location)
            SELECT $8, $9, $10, 201, $11, $12 FROM stored WHERE $9::text IS NOT NULL
        )
        SELECT s.submitted_at, i.round_id, i.supplier_id, i.status, i.last_bid_id,
               i.last_amount_ct, i.legacy_last_amount, p.request_hash, p.status AS prior_status,
               p.body AS prior_body, p.location AS prior_location
          FROM (SELECT 1) AS one
          LEFT JOIN stored s ON true
          LEFT JOIN invitations i ON i.round_id = $1 AND i.supplier_id = $2
          LEFT JOIN prior p ON true
        """,
        round_id, supplier_id, bid_id, amount_ct, previous_bid_id, actor, pool_id,
        caller, key, fingerprint, answer, location)
    assert row is not None
    return Taken(row["submitted_at"], row if row["round_id"] is not None else None,
                 row if row["request_hash"] is not None else None)


async def stored_answer(conn: Conn, caller: str, key: str) -> asyncpg.Record | None:
    """The answer stored for an Idempotency-Key, with `take_bid`'s column names."""
    return await conn.fetchrow(
        "SELECT request_hash, status AS prior_status, body AS prior_body,"
        " location AS prior_location FROM idempotency_keys WHERE caller = $1 AND key = $2",
        caller, key)


async def bid_time(conn: Conn, bid_id: uuid.UUID) -> datetime | None:
    at: datetime | None = await conn.fetchval("SELECT submitted_at FROM bids WHERE id = $1",
                                              bid_id)
    return at


async def supplier_bids(conn: Conn, round_id: uuid.UUID, supplier_id: uuid.UUID | None,
                        after: tuple[datetime, uuid.UUID] | None, limit: int,
                        ) -> list[asyncpg.Record]:
    args: list[Any] = [round_id]
    where = "round_id = $1"
    if supplier_id is not None:
        args.append(supplier_id)
        where += f" AND supplier_id = ${len(args)}"
    if after is not None:
        args.extend(after)
        where += f" AND (submitted_at, id) > (${len(args) - 1}, ${len(args)})"
    args.append(limit + 1)
    return await conn.fetch(
        f"SELECT * FROM bids WHERE {where} ORDER BY submitted_at, id LIMIT ${len(args)}", *args)


async def rounds_not_bidding(conn: Conn, round_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these rounds take no more bids (closed, awarded, cancelled, ...)."""
    rows = await conn.fetch(
        "SELECT id FROM rounds WHERE id = ANY($1::uuid[]) AND status <> ALL($2::text[])",
        round_ids, [s.value for s in BIDDING_STATUSES])
    return {r["id"] for r in rows}
