"""SQL of rounds: the clock, launch, listing, counts, status changes, extensions."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg

from bidding_service.rounds.domain import Extension
from shared.db import JURISDICTION_TZ_SETTING, LOCAL_TODAY_SQL, Conn, newest_first


async def now(conn: Conn) -> datetime:
    """The database clock: it alone decides what is open."""
    value: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return value


async def clock(conn: Conn) -> tuple[datetime, date]:
    """The database clock and today's date in the jurisdiction (JURISDICTION_TZ)."""
    row = await conn.fetchrow(f"SELECT clock_timestamp() AS now, {LOCAL_TODAY_SQL} AS today")
    assert row is not None
    return row["now"], row["today"]


async def clock_zone(conn: Conn) -> tuple[datetime, str]:
    """The database clock and the jurisdiction's time zone name (JURISDICTION_TZ)."""
    row = await conn.fetchrow(
        f"SELECT clock_timestamp() AS now, current_setting('{JURISDICTION_TZ_SETTING}') AS tz")
    assert row is not None
    return row["now"], row["tz"]


async def insert_round(conn: Conn, r: dict[str, Any], invited: list[asyncpg.Record]) -> None:
    """A new round and its invitations; a fixed-amount round (direct selection,
    rotation) is inserted closed, with no bids (`closed_at`, counts 0)."""
    ext: Extension | None = r["extension"]
    await conn.execute(
        """
        INSERT INTO rounds (id, pool_id, pool_code, pool_name, title, description, buyer_org,
            buyer_name, budget_line, ceiling_price, opens_at, closes_at,
            min_bids, sme_price_deduction, disclosure, min_decrement, ext_window_seconds,
            ext_extend_seconds, ext_max_extensions, acceptance_seconds, status,
            invited_count, launched_by, method, justification, abnormal_price_review,
            acceptance_working_days, enquiries_until, closed_at, bid_count, bidder_count)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29,
                CASE WHEN $29::timestamptz IS NULL THEN NULL ELSE 0 END,
                CASE WHEN $29::timestamptz IS NULL THEN NULL ELSE 0 END)
        """,
        r["id"], r["pool_id"], r["pool_code"], r["pool_name"], r["title"], r["description"],
        r["buyer_org"], r["buyer_name"], r["budget_line"], r["ceiling_price"], r["opens_at"],
        r["closes_at"], r["min_bids"], r["sme_price_deduction"], r["disclosure"],
        r["min_decrement"], ext.window_seconds if ext else None,
        ext.extend_seconds if ext else None, ext.max_extensions if ext else None,
        r["acceptance_seconds"], r["status"], r.get("invited_count", len(invited)),
        r["launched_by"], r.get("method", "price_competition"), r.get("justification"),
        r.get("abnormal_price_review", False), r.get("acceptance_working_days"),
        r.get("enquiries_until"), r.get("closed_at"),
    )
    await conn.copy_records_to_table(
        "invitations",
        records=[(r["id"], m["supplier_id"], m["name"], m["credit_code"], m["kind"], m["size"])
                 for m in invited],
        columns=["round_id", "supplier_id", "name", "credit_code", "kind", "size"],
    )


async def get_round(conn: Conn, round_id: uuid.UUID, *, lock: str = "") -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM rounds WHERE id = $1 {lock}", round_id)


async def lock_for_close(conn: Conn, round_id: uuid.UUID,
                         ) -> tuple[asyncpg.Record, datetime, str] | None:
    """The round's row `FOR UPDATE`, with the database clock read after the lock was
    granted (it may wait for bids in flight) and the jurisdiction's time zone name."""
    row = await conn.fetchrow(
        f"SELECT r.*, clock_timestamp() AS clock_now,"
        f" current_setting('{JURISDICTION_TZ_SETTING}') AS clock_zone"
        " FROM (SELECT * FROM rounds WHERE id = $1 FOR UPDATE) r", round_id)
    if row is None:
        return None
    return row, row["clock_now"], row["clock_zone"]


async def list_rounds(conn: Conn, *, status: str | None, pool_id: uuid.UUID | None,
                      buyer_org: str | None, supplier_id: uuid.UUID | None,
                      after: tuple[datetime, uuid.UUID] | None, limit: int,
                      ) -> list[asyncpg.Record]:
    return await newest_first(conn, "SELECT r.* FROM rounds r", [
        ("r.status = {}", status), ("r.pool_id = {}", pool_id), ("r.buyer_org = {}", buyer_org),
        ("EXISTS (SELECT 1 FROM invitations i WHERE i.round_id = r.id"
         " AND i.supplier_id = {})", supplier_id),
    ], ("r.launched_at", "r.id"), after, limit)


async def bid_counts(conn: Conn, round_id: uuid.UUID) -> tuple[int, int]:
    """Every bid answered 201, invalidated or not: a count that dropped when a supplier is
    suspended would tell who had bid (trust.md section 2)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS bids, count(DISTINCT supplier_id) AS bidders FROM bids"
        " WHERE round_id = $1", round_id)
    assert row is not None
    return int(row["bids"]), int(row["bidders"])


async def bid_counts_many(conn: Conn, round_ids: list[uuid.UUID],
                          ) -> dict[uuid.UUID, tuple[int, int]]:
    """`bid_counts` of several rounds in one query (a page of a listing)."""
    rows = await conn.fetch(
        "SELECT round_id, count(*) AS bids, count(DISTINCT supplier_id) AS bidders FROM bids"
        " WHERE round_id = ANY($1::uuid[]) GROUP BY round_id", round_ids)
    return {r["round_id"]: (int(r["bids"]), int(r["bidders"])) for r in rows}


async def mark_closed(conn: Conn, round_id: uuid.UUID, status: str, reason: str | None,
                      closed_at: datetime, bid_count: int, bidder_count: int,
                      bids_root: str | None = None, bids_tree_size: int | None = None,
                      ) -> None:
    """The round closed (with its bids' commitment, when the close computed one)."""
    await conn.execute(
        "UPDATE rounds SET status = $2, status_reason = $3, closed_at = $4, bid_count = $5,"
        " bidder_count = $6, bids_root = coalesce($7, bids_root),"
        " bids_tree_size = coalesce($8, bids_tree_size) WHERE id = $1",
        round_id, status, reason, closed_at, bid_count, bidder_count, bids_root,
        bids_tree_size)


async def set_status(conn: Conn, round_id: uuid.UUID, status: str, reason: str | None = None,
                     reason_code: str | None = None) -> None:
    await conn.execute("UPDATE rounds SET status = $2, status_reason = coalesce($3, status_reason),"
                       " reason_code = coalesce($4, reason_code) WHERE id = $1",
                       round_id, status, reason, reason_code)


async def add_invitation(conn: Conn, round_id: uuid.UUID, member: asyncpg.Record) -> None:
    """A supplier offered a fixed-amount round (rotation) may see it."""
    await conn.execute(
        "INSERT INTO invitations (round_id, supplier_id, name, credit_code, kind, size)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING", round_id,
        member["supplier_id"], member["name"], member["credit_code"], member["kind"],
        member["size"])


async def open_after_budget(conn: Conn, round_id: uuid.UUID, status: str,
                            opens_at: datetime) -> None:
    """A `pending_budget` round reserved: `open` now or `scheduled` for `opens_at`."""
    await conn.execute("UPDATE rounds SET status = $2, opens_at = $3 WHERE id = $1"
                       " AND status = 'pending_budget'", round_id, status, opens_at)


async def extend_round(conn: Conn, round_id: uuid.UUID, extend_seconds: int,
                       ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        UPDATE rounds
           SET closes_at = greatest(closes_at,
                                    clock_timestamp() + make_interval(secs => $2)),
               extensions_used = extensions_used + 1
         WHERE id = $1 AND status IN ('scheduled', 'open')
           AND extensions_used < ext_max_extensions AND clock_timestamp() < closes_at
        RETURNING closes_at, extensions_used
        """, round_id, extend_seconds)


async def count_rounds_by_status(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM rounds GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}
