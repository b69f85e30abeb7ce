"""SQL of the bid path: invitations, the bid's one statement, bids read back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from bidding_service.eligibility.repository import admitted_now
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
    the amount is stored only sealed (trust.md 3). The audit entry (never the amount:
    bids are sealed) is written by the same statement, held back from the trail until
    the round closes (trust.md sections 2 and 6).
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
            INSERT INTO bids (id, round_id, supplier_id, amount_ct, submitted_at)
            SELECT $3, $1, $2, $4, last_bid_at FROM accepted
            RETURNING submitted_at
        ), audited AS (
            INSERT INTO audit_held (round_id, bid_id, at, actor, actor_role, action, subject)
            SELECT $1, $3, submitted_at, $8, 'supplier', 'bid.submitted',
                   '/v1/rounds/' || $1::text || '/bids/' || $3::text
              FROM stored
        )
        SELECT submitted_at FROM stored
        """,
        round_id, supplier_id, bid_id, amount_ct, previous_bid_id, opens_at, closes_at, actor,
        pool_id)
    return submitted


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
