"""SQL of evaluation and awards: the stored ranking, awards, the commitment's rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from bidding_service.awards.domain import Prices
from shared.db import Conn, newest_first

# An award as the API shows it: the award with its round's and its ranking row's fields.
_AWARD_COLUMNS = """
    a.*, r.buyer_org, r.buyer_name, r.budget_line, r.bid_count, r.invited_count,
    r.pool_code, r.pool_name, r.bids_root, r.bids_tree_size,
    x.name AS supplier_name, x.credit_code, x.kind, x.size"""
_AWARD_JOINS = """
      JOIN rounds r ON r.id = a.round_id
      JOIN round_results x ON x.round_id = a.round_id AND x.rank = a.rank
"""
AWARD_SELECT = "SELECT" + _AWARD_COLUMNS + " FROM awards a" + _AWARD_JOINS


async def results(conn: Conn, round_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM round_results WHERE round_id = $1 ORDER BY rank",
                            round_id)


async def insert_award(conn: Conn, award_id: uuid.UUID, rnd: asyncpg.Record,
                       result: asyncpg.Record, fields: dict[str, Any], awarded_at: datetime,
                       ranking_entries: int) -> asyncpg.Record:
    """Insert the award and read it back as `get_award` does, in one statement, with the
    first `ranking_entries` entries of the round's ranking as the award.published event
    carries them (`ranking`: JSON built by the database, numeric(16,2) as text always
    the two-place decimal string of the contract) and the size of the whole ranking
    (`ranking_size`)."""
    row = await conn.fetchrow(
        """
        WITH a AS (
            INSERT INTO awards (id, round_id, pool_id, rank, supplier_id, status, amount,
                                evaluated_amount, awarded_at, accept_by, method,
                                justification, abnormally_low, rotation_period)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $14, $9, $10, $11, $12, $13)
            RETURNING *
        )
        SELECT """ + _AWARD_COLUMNS + """,
               coalesce((SELECT json_agg(json_build_object(
                   'supplier_id', y.supplier_id, 'amount', y.amount::text,
                   'evaluated_amount', y.evaluated_amount::text, 'rank', y.rank)
                   ORDER BY y.rank)
                 FROM (SELECT * FROM round_results WHERE round_id = $2
                        ORDER BY rank LIMIT $15) y), '[]'::json)::text AS ranking,
               (SELECT count(*) FROM round_results WHERE round_id = $2) AS ranking_size
          FROM a""" + _AWARD_JOINS,
        award_id, rnd["id"], rnd["pool_id"], result["rank"], result["supplier_id"],
        fields["status"], result["amount"], result["evaluated_amount"], fields["accept_by"],
        fields["method"], fields["justification"], fields["abnormally_low"],
        fields["rotation_period"], awarded_at, ranking_entries)
    assert row is not None
    return row


async def insert_result(conn: Conn, round_id: uuid.UUID, member: asyncpg.Record,
                        amount: Decimal) -> asyncpg.Record:
    """A fixed-amount round's next ranking row (direct selection, rotation): the
    supplier offered the award, at the round's amount, ranked after those before."""
    row = await conn.fetchrow(
        """
        INSERT INTO round_results (round_id, rank, supplier_id, name, credit_code, kind, size,
                                   amount, evaluated_amount, final_bid_at)
        SELECT $1, coalesce(max(rank), 0) + 1, $2, $3, $4, $5, $6, $7, $7, clock_timestamp()
          FROM round_results WHERE round_id = $1
        RETURNING *
        """, round_id, member["supplier_id"], member["name"], member["credit_code"],
        member["kind"], member["size"], amount)
    assert row is not None
    return row


async def unawarded_prices(conn: Conn, round_id: uuid.UUID, rank: int,
                           ) -> Prices:
    """The valid bids of the round's bidders not yet awarded, other than `rank`'s: their
    number, mean and lowest evaluated price (the inputs of `domain.abnormally_low`)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS n, avg(x.evaluated_amount) AS mean, min(x.evaluated_amount) AS low
          FROM round_results x
         WHERE x.round_id = $1 AND x.rank <> $2 AND x.skipped_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM awards a
                            WHERE a.round_id = x.round_id AND a.supplier_id = x.supplier_id)
        """, round_id, rank)
    assert row is not None
    return int(row["n"]), row["mean"], row["low"]


async def get_award(conn: Conn, award_id: uuid.UUID, *, lock: bool = False,
                    ) -> asyncpg.Record | None:
    suffix = " FOR UPDATE OF a" if lock else ""
    return await conn.fetchrow(AWARD_SELECT + " WHERE a.id = $1" + suffix, award_id)


async def live_award(conn: Conn, round_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        AWARD_SELECT + " WHERE a.round_id = $1 ORDER BY a.rank DESC LIMIT 1", round_id)


async def list_awards(conn: Conn, *, pool_id: uuid.UUID | None, buyer_org: str | None,
                      after: tuple[datetime, uuid.UUID] | None, limit: int,
                      ) -> list[asyncpg.Record]:
    return await newest_first(conn, AWARD_SELECT, [
        ("a.pool_id = {}", pool_id), ("r.buyer_org = {}", buyer_org),
    ], ("a.awarded_at", "a.id"), after, limit)


async def decide_award(conn: Conn, award_id: uuid.UUID, status: str, reason: str | None,
                       reason_code: str | None = None, note: str | None = None) -> datetime:
    at: datetime = await conn.fetchval(
        "UPDATE awards SET status = $2, decided_at = clock_timestamp(), decision_reason = $3,"
        " reason_code = $4, note = $5 WHERE id = $1 RETURNING decided_at",
        award_id, status, reason, reason_code, note)
    return at


async def confirm_award(conn: Conn, award_id: uuid.UUID, accept_by: datetime, note: str,
                        ) -> datetime:
    """A reviewed award confirmed: published, its acceptance window starting now."""
    at: datetime = await conn.fetchval(
        "UPDATE awards SET status = 'published', accept_by = $2, note = $3"
        " WHERE id = $1 RETURNING clock_timestamp()", award_id, accept_by, note)
    return at


async def awards_of_round(conn: Conn, round_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(AWARD_SELECT + " WHERE a.round_id = $1 ORDER BY a.awarded_at",
                            round_id)


# Every bid of the round that was answered 201 (superseded and invalidated too), with the
# fields its receipt's leaf is computed from (the amount still sealed), in Merkle order
# (trust.md 5: by `submitted_at`, then by bid id as lowercase text, which is the order of
# the uuid's bytes). Column order is relied on by `commitment._leaves`.
COMMITTED_BIDS = (
    "SELECT id, round_id, supplier_id, amount_ct, legacy_amount, submitted_at"
    " FROM bids WHERE round_id = $1 ORDER BY submitted_at, id")


async def store_commitment(conn: Conn, round_id: uuid.UUID, root: str, size: int) -> None:
    await conn.execute("UPDATE rounds SET bids_root = $2, bids_tree_size = $3 WHERE id = $1",
                       round_id, root, size)


async def stamp_awards_audit_head(conn: Conn, award_ids: list[uuid.UUID],
                                  notice_ids: list[uuid.UUID], seq: int, hash_: str) -> None:
    """The audit head of the transaction that published these awards, written into them
    and their result notices (none yet when the head is taken before the notice is
    written), in one statement."""
    await conn.execute(
        """
        WITH noticed AS (
            UPDATE notices SET body = jsonb_set(body, '{award,audit_head}',
                                                jsonb_build_object('seq', $3::bigint,
                                                                   'hash', $4::text))
             WHERE id = ANY($2::uuid[]) AND body ? 'award'
        )
        UPDATE awards SET audit_seq = $3, audit_hash = $4 WHERE id = ANY($1::uuid[])
        """, award_ids, notice_ids, seq, hash_)
