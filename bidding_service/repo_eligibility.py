"""SQL consulting the event-fed eligibility copy: on the bid path, around launches and
for fallback awards."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Conn


def admitted_now(pool: str, supplier: str) -> str:
    """The SQL condition "this supplier is admitted in this pool by our copy right now":
    one primary-key probe, to be and-ed into the bid's own statement."""
    return (f"EXISTS (SELECT 1 FROM eligibility e WHERE e.pool_id = {pool}"
            f" AND e.supplier_id = {supplier} AND e.status = 'admitted')")


async def membership_status(conn: Conn, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                            ) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM eligibility WHERE pool_id = $1 AND supplier_id = $2",
        pool_id, supplier_id)
    return status


async def lock_pool_copy(conn: Conn, pool_id: uuid.UUID, mode: str) -> None:
    """Serialise launches (`FOR SHARE`) with membership changes (`FOR UPDATE`) on the
    pool's row: a launch either sees a suspension or the suspension's consumer sees the
    launched round, never neither."""
    assert mode in ("FOR SHARE", "FOR UPDATE")
    await conn.execute(f"SELECT 1 FROM pools WHERE pool_id = $1 {mode}", pool_id)


async def skip_unadmitted(conn: Conn, round_id: uuid.UUID, pool_id: uuid.UUID,
                          from_rank: int) -> tuple[asyncpg.Record | None, list[asyncpg.Record]]:
    """The first result at `from_rank` or below whose supplier is admitted now, and the
    ranks passed over on the way (marked skipped, with the membership status as reason)."""
    found: int | None = await conn.fetchval(
        f"""
        SELECT x.rank FROM round_results x
         WHERE x.round_id = $1 AND x.rank >= $3 AND x.skipped_at IS NULL
           AND {admitted_now('$2', 'x.supplier_id')}
         ORDER BY x.rank LIMIT 1
        """, round_id, pool_id, from_rank)
    skipped = await conn.fetch(
        """
        UPDATE round_results x
           SET skipped_at = clock_timestamp(),
               skipped_reason = 'membership ' || coalesce(
                   (SELECT e.status FROM eligibility e
                     WHERE e.pool_id = $2 AND e.supplier_id = x.supplier_id), 'unknown')
         WHERE x.round_id = $1 AND x.rank >= $3 AND ($4::int IS NULL OR x.rank < $4)
           AND x.skipped_at IS NULL
        RETURNING x.rank, x.supplier_id, x.skipped_reason
        """, round_id, pool_id, from_rank, found)
    if found is None:
        return None, list(skipped)
    row = await conn.fetchrow("SELECT * FROM round_results WHERE round_id = $1 AND rank = $2",
                              round_id, found)
    return row, list(skipped)
