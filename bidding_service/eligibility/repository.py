"""SQL of the event-fed pool and membership copy, and of the checks consulting it: on
the bid path, around launches and for fallback awards."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from bidding_service.eligibility.domain import PoolTerms
from shared.db import Conn
from shared.uow import write_audit


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


async def upsert_pool(conn: Conn, data: dict[str, Any]) -> None:
    """Apply a pool.* event unless we already hold that version or a newer one."""
    await conn.execute(
        """
        INSERT INTO pools (pool_id, code, name, terminated, valid_from, valid_to,
                           price_ceiling, max_round_budget, version)
        VALUES ($1, $2, $3, $4, $5::text::date, $6::text::date, $7::text::numeric,
                $8::text::numeric, $9)
        ON CONFLICT (pool_id) DO UPDATE SET
            code = EXCLUDED.code, name = EXCLUDED.name, terminated = EXCLUDED.terminated,
            valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,
            price_ceiling = EXCLUDED.price_ceiling,
            max_round_budget = EXCLUDED.max_round_budget, version = EXCLUDED.version,
            updated_at = clock_timestamp()
        WHERE pools.version < EXCLUDED.version
        """,
        uuid.UUID(str(data["id"])), data["code"], data["name"],
        data.get("status") == "terminated", str(data["valid_from"])[:10],
        str(data["valid_to"])[:10], str(data["price_ceiling"]),
        str(data["max_round_budget"]), int(data.get("version", 0)),
    )


async def upsert_membership(conn: Conn, data: dict[str, Any]) -> bool:
    """Apply a pool.member.* event; False when it is older than what we hold."""
    supplier = data["supplier"]
    row = await conn.fetchrow(
        """
        INSERT INTO eligibility (pool_id, supplier_id, status, name, credit_code, kind, size,
                                 version, changed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::timestamptz)
        ON CONFLICT (pool_id, supplier_id) DO UPDATE SET
            status = EXCLUDED.status, name = EXCLUDED.name,
            credit_code = EXCLUDED.credit_code, kind = EXCLUDED.kind, size = EXCLUDED.size,
            version = EXCLUDED.version, changed_at = EXCLUDED.changed_at,
            updated_at = clock_timestamp()
        WHERE eligibility.version < EXCLUDED.version
        RETURNING true
        """,
        uuid.UUID(str(data["pool_id"])), uuid.UUID(str(supplier["id"])), data["status"],
        supplier["name"], supplier["credit_code"], supplier["kind"], supplier["size"],
        int(data["version"]), str(data["at"]),
    )
    return row is not None


async def exclude_from_open_rounds(conn: Conn, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                                   reason: str) -> list[uuid.UUID]:
    """Invalidate a suspended/removed supplier's bids in the pool's rounds still open.

    Each round row is key-share locked like a bid does, so a close either happens
    before (the bids were evaluated, correctly) or waits for this to commit.
    """
    rounds = await conn.fetch(
        "SELECT id FROM rounds WHERE pool_id = $1 AND status IN ('scheduled', 'open')"
        " ORDER BY id FOR KEY SHARE", pool_id)
    affected: list[uuid.UUID] = []
    for r in rounds:
        hit = await conn.fetchval(
            "UPDATE invitations SET status = 'excluded', excluded_reason = $3,"
            " excluded_at = clock_timestamp()"
            " WHERE round_id = $1 AND supplier_id = $2 AND status = 'invited' RETURNING true",
            r["id"], supplier_id, reason)
        if hit:
            await conn.execute(
                "UPDATE bids SET valid = false, invalidated_reason = $3"
                " WHERE round_id = $1 AND supplier_id = $2 AND valid", r["id"], supplier_id,
                reason)
            # The round's sealed best price may have been this bid: recompute it when needed.
            await conn.execute("UPDATE rounds SET best_ct = NULL WHERE id = $1", r["id"])
            await write_audit(conn, "pool-events", "system", "invitation.excluded",
                              f"/v1/rounds/{r['id']}",
                              {"supplier_id": str(supplier_id), "reason": reason})
            affected.append(r["id"])
    return affected


async def get_pool(conn: Conn, pool_id: uuid.UUID) -> PoolTerms | None:
    row = await conn.fetchrow("SELECT * FROM pools WHERE pool_id = $1", pool_id)
    if row is None:
        return None
    return PoolTerms(row["pool_id"], row["code"], row["name"], row["terminated"],
                     row["valid_from"], row["valid_to"], row["price_ceiling"],
                     row["max_round_budget"])


async def member(conn: Conn, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                 ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT supplier_id, status, name, credit_code, kind, size FROM eligibility"
        " WHERE pool_id = $1 AND supplier_id = $2", pool_id, supplier_id)


async def admitted_members(conn: Conn, pool_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT supplier_id, name, credit_code, kind, size FROM eligibility"
        " WHERE pool_id = $1 AND status = 'admitted' ORDER BY supplier_id", pool_id)


async def eligible(conn: Conn, pool_id: uuid.UUID) -> tuple[list[uuid.UUID], datetime]:
    rows = await conn.fetch(
        "SELECT supplier_id FROM eligibility WHERE pool_id = $1 AND status = 'admitted'"
        " ORDER BY supplier_id", pool_id)
    as_of = await conn.fetchval(
        "SELECT coalesce(max(updated_at), clock_timestamp()) FROM eligibility"
        " WHERE pool_id = $1", pool_id)
    return [r["supplier_id"] for r in rows], as_of
