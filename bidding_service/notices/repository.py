"""SQL of the public notices: the notices table, and what of a round they show."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Conn

# The round's public identity. `method` comes from the round row when it has the column
# (methods other than price competition), else every round is a price competition.
ROUND_IDENTITY = """
    SELECT r.id, r.pool_id, r.pool_code, r.pool_name, r.title, r.description, r.buyer_org,
           r.buyer_name, r.ceiling_price::text AS ceiling_price, r.opens_at, r.closes_at,
           r.extensions_used, r.status, r.min_decrement::text AS min_decrement,
           r.ext_window_seconds, r.ext_extend_seconds, r.ext_max_extensions,
           coalesce(to_jsonb(r) ->> 'method', 'price_competition') AS method
      FROM rounds r WHERE r.id = $1
"""


async def round_identity(conn: Conn, round_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(ROUND_IDENTITY, round_id)


async def insert_notice(conn: Conn, notice_id: uuid.UUID, kind: str, r: asyncpg.Record,
                        published_at: datetime, body: dict[str, Any]) -> bool:
    """One notice; False when a notice of that id exists already (nothing changes)."""
    status: str = await conn.execute(
        """
        INSERT INTO notices (id, kind, round_id, pool_id, pool_code, pool_name, title, buyer,
                             method, published_at, body)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (id) DO NOTHING
        """,
        notice_id, kind, r["id"], r["pool_id"], r["pool_code"], r["pool_name"], r["title"],
        {"org": r["buyer_org"], "name": r["buyer_name"]}, r["method"], published_at, body)
    return status.endswith(" 1")


async def has_notice(conn: Conn, round_id: uuid.UUID, kind: str | None = None) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM notices WHERE round_id = $1"
        " AND ($2::text IS NULL OR kind = $2))", round_id, kind))


async def list_notices(conn: Conn, *, kind: str | None, pool_id: uuid.UUID | None,
                       round_id: uuid.UUID | None, after: tuple[datetime, uuid.UUID] | None,
                       limit: int,
                       ) -> list[asyncpg.Record]:
    """Newest first; `limit + 1` rows so the caller knows whether more exist."""
    return await conn.fetch(
        """
        SELECT * FROM notices
         WHERE ($1::text IS NULL OR kind = $1) AND ($2::uuid IS NULL OR pool_id = $2)
           AND ($3::timestamptz IS NULL OR (published_at, id) < ($3, $4::uuid))
           AND ($6::uuid IS NULL OR round_id = $6)
         ORDER BY published_at DESC, id DESC
         LIMIT $5
        """, kind, pool_id, after[0] if after else None, after[1] if after else None,
        limit + 1, round_id)


async def ranking_page(conn: Conn, round_id: uuid.UUID, after_rank: int, limit: int,
                       ) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT rank, supplier_id, name, amount, evaluated_amount, skipped_reason"
        "  FROM round_results WHERE round_id = $1 AND rank > $2 ORDER BY rank LIMIT $3",
        round_id, after_rank, limit + 1)


async def ranking_size(conn: Conn, round_id: uuid.UUID) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM round_results WHERE round_id = $1", round_id))
