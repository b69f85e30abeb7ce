"""The pool service's SQL. Every query of the service lives here; nothing else uses asyncpg."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg

from pool_service.domain import Transition
from shared.db import LOCAL_TODAY_SQL, Conn

Row = asyncpg.Record

# Mirrors domain.pool_status, for filtering lists in SQL ($1 is "today").
_POOL_STATUS_SQL = """CASE WHEN terminated_at IS NOT NULL THEN 'terminated'
    WHEN $1::date > valid_to THEN 'expired'
    WHEN $1::date < valid_from THEN 'upcoming' ELSE 'active' END"""

_MEMBER_SELECT = """
SELECT m.*, s.name AS supplier_name, s.credit_code, s.kind, s.size,
       r.rating_average, r.rating_count, a.refusals
FROM memberships m
JOIN suppliers s ON s.id = m.supplier_id
LEFT JOIN LATERAL (
    SELECT round(avg(score), 2) AS rating_average, count(*) AS rating_count
    FROM ratings WHERE pool_id = m.pool_id AND supplier_id = m.supplier_id) r ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS refusals FROM awards
    WHERE pool_id = m.pool_id AND supplier_id = m.supplier_id
      AND status IN ('declined', 'expired')) a ON true
"""


# Every function takes the connection first (inside a unit of work when it changes
# anything), as in the bidding service's repositories.
Db = Conn | asyncpg.Pool

async def clock(conn: Db) -> tuple[datetime, date]:
    """The database's time and today's date in the jurisdiction."""
    row = await conn.fetchrow(
        f"SELECT clock_timestamp() AS now, {LOCAL_TODAY_SQL} AS today")
    assert row is not None
    return row["now"], row["today"]

# ------------------------------------------------------------ suppliers

async def insert_supplier(conn: Db, name: str, credit_code: str, kind: str, size: str,
                          contact: dict[str, Any] | None) -> Row | None:
    """The new supplier, or None when its credit code is already registered."""
    return await conn.fetchrow(
        "INSERT INTO suppliers (id, name, credit_code, kind, size, contact)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (credit_code) DO NOTHING RETURNING *",
        uuid.uuid4(), name, credit_code, kind, size, contact)

async def get_supplier(conn: Db, supplier_id: uuid.UUID) -> Row | None:
    return await conn.fetchrow("SELECT * FROM suppliers WHERE id = $1", supplier_id)

async def list_suppliers(conn: Db, credit_code: str | None, after: tuple[str, uuid.UUID] | None,
                         limit: int) -> list[Row]:
    return await conn.fetch(
        "SELECT * FROM suppliers"
        " WHERE ($1::text IS NULL OR credit_code = $1)"
        "   AND ($2::text IS NULL OR (name, id) > ($2, $3::uuid))"
        " ORDER BY name, id LIMIT $4",
        credit_code, after[0] if after else None, after[1] if after else None, limit)

# ------------------------------------------------------------ pools

async def insert_pool(conn: Db, fields: dict[str, Any]) -> Row | None:
    """The new pool, or None when its code is taken."""
    return await conn.fetchrow(
        "INSERT INTO pools (id, code, name, category, jurisdiction, description,"
        " valid_from, valid_to, price_ceiling, max_round_budget)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (code) DO NOTHING RETURNING *",
        uuid.uuid4(), fields["code"], fields["name"], fields["category"],
        fields["jurisdiction"], fields.get("description"), fields["valid_from"],
        fields["valid_to"], fields["price_ceiling"], fields["max_round_budget"])

async def get_pool(conn: Db, pool_id: uuid.UUID, *, for_update: bool = False) -> Row | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM pools WHERE id = $1{lock}", pool_id)

async def list_pools(conn: Db, today: date, *, category: str | None, status: str | None,
                     jurisdiction: str | None, after_code: str | None,
                     limit: int) -> list[Row]:
    return await conn.fetch(
        "SELECT * FROM pools"
        " WHERE ($2::text IS NULL OR category = $2)"
        "   AND ($3::text IS NULL OR jurisdiction = $3)"
        f"  AND ($4::text IS NULL OR {_POOL_STATUS_SQL} = $4)"
        "   AND ($5::text IS NULL OR code > $5)"
        " ORDER BY code LIMIT $6",
        today, category, jurisdiction, status, after_code, limit)

async def update_pool(conn: Db, pool_id: uuid.UUID, changes: dict[str, Any]) -> Row:
    """Apply `changes` (column -> value; names come from code, never from callers)."""
    columns = list(changes)
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
    row = await conn.fetchrow(
        f"UPDATE pools SET {sets}, version = version + 1, updated_at = clock_timestamp()"
        " WHERE id = $1 RETURNING *", pool_id, *(changes[c] for c in columns))
    assert row is not None
    return row

async def terminate_pool(conn: Db, pool_id: uuid.UUID, reason: str) -> Row:
    row = await conn.fetchrow(
        "UPDATE pools SET terminated_at = clock_timestamp(), termination_reason = $2,"
        " version = version + 1, updated_at = clock_timestamp()"
        " WHERE id = $1 RETURNING *", pool_id, reason)
    assert row is not None
    return row

async def adjust_admitted(conn: Db, pool_id: uuid.UUID, delta: int) -> Row:
    """Locks the pool row (after the membership row: always in that order) and moves
    its admitted count and peak; returns the pool as it now is."""
    row = await conn.fetchrow(
        "UPDATE pools SET admitted_count = admitted_count + $2,"
        " peak_admitted_count = greatest(peak_admitted_count, admitted_count + $2)"
        " WHERE id = $1 RETURNING *", pool_id, delta)
    assert row is not None
    return row

# ------------------------------------------------------------ memberships

async def lock_membership(conn: Db, pool_id: uuid.UUID, supplier_id: uuid.UUID) -> Row | None:
    return await conn.fetchrow(
        "SELECT * FROM memberships WHERE pool_id = $1 AND supplier_id = $2 FOR UPDATE",
        pool_id, supplier_id)

async def due_suspension(conn: Db) -> Row | None:
    """One timed suspension whose `until` has passed, locked; others skip it."""
    return await conn.fetchrow(
        "SELECT * FROM memberships"
        " WHERE status = 'suspended' AND until IS NOT NULL AND until <= clock_timestamp()"
        " ORDER BY until LIMIT 1 FOR UPDATE SKIP LOCKED")

async def create_membership(conn: Db, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                            change: Transition) -> Row | None:
    """Insert the first membership row (version 1), or None when a concurrent request
    created it first: the insert waits for that one to commit and then does nothing."""
    return await conn.fetchrow(
        "INSERT INTO memberships (id, pool_id, supplier_id, status, since, reason,"
        " ground, until, version) VALUES ($1, $2, $3, $4, clock_timestamp(), $5, $6,"
        " $7, 1) ON CONFLICT (pool_id, supplier_id) DO NOTHING RETURNING *",
        uuid.uuid4(), pool_id, supplier_id, change.to_status.value, change.reason,
        change.ground, change.until)

async def save_transition(conn: Db, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                          current: Row, change: Transition, actor: str,
                          actor_role: str) -> Row:
    """Write the membership's new state and its history row; returns the membership."""
    row = await conn.fetchrow(
        "UPDATE memberships SET status = $2, since = clock_timestamp(), reason = $3,"
        " ground = $4, until = $5, version = version + 1 WHERE id = $1 RETURNING *",
        current["id"], change.to_status.value, change.reason, change.ground,
        change.until)
    assert row is not None
    await add_history(conn, row, change, actor, actor_role)
    return row

async def add_history(conn: Db, row: Row, change: Transition, actor: str,
                      actor_role: str) -> None:
    """The history row of the membership version `row` (just written)."""
    await conn.execute(
        "INSERT INTO membership_history (membership_id, version, pool_id, supplier_id,"
        " action, from_status, to_status, reason, ground, until, actor, actor_role, at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        row["id"], row["version"], row["pool_id"], row["supplier_id"],
        change.action.value, change.from_status, change.to_status.value, change.reason,
        change.ground, change.until, actor, actor_role, row["since"])

async def get_member(conn: Db, pool_id: uuid.UUID, supplier_id: uuid.UUID) -> Row | None:
    return await conn.fetchrow(
        _MEMBER_SELECT + " WHERE m.pool_id = $1 AND m.supplier_id = $2",
        pool_id, supplier_id)

async def list_members(conn: Db, pool_id: uuid.UUID, status: str | None,
                       after: tuple[str, uuid.UUID] | None, limit: int) -> list[Row]:
    return await conn.fetch(
        _MEMBER_SELECT
        + " WHERE m.pool_id = $1 AND ($2::text IS NULL OR m.status = $2)"
          "   AND ($3::text IS NULL OR (s.name, s.id) > ($3, $4::uuid))"
          " ORDER BY s.name, s.id LIMIT $5",
        pool_id, status, after[0] if after else None, after[1] if after else None, limit)

async def history(conn: Db, pool_id: uuid.UUID, supplier_id: uuid.UUID, after_version: int,
                  limit: int) -> list[Row]:
    return await conn.fetch(
        "SELECT * FROM membership_history WHERE pool_id = $1 AND supplier_id = $2"
        " AND version > $3 ORDER BY version LIMIT $4",
        pool_id, supplier_id, after_version, limit)

# ------------------------------------------------------------ awards and ratings

async def record_award(conn: Db, award: dict[str, Any]) -> None:
    """Store a published award; a refusal that arrived first keeps its status."""
    await conn.execute(
        "INSERT INTO awards (id, round_id, supplier_id, pool_id, buyer_org, buyer_name,"
        " amount, currency, awarded_at, status, status_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'published', $9)"
        " ON CONFLICT (id) DO UPDATE SET pool_id = EXCLUDED.pool_id,"
        " buyer_org = EXCLUDED.buyer_org, buyer_name = EXCLUDED.buyer_name,"
        " amount = EXCLUDED.amount, currency = EXCLUDED.currency,"
        " awarded_at = EXCLUDED.awarded_at",
        award["id"], award["round_id"], award["supplier_id"], award["pool_id"],
        award["buyer_org"], award["buyer_name"], award["amount"], award["currency"],
        award["awarded_at"])

async def record_award_outcome(conn: Db, award_id: uuid.UUID, round_id: uuid.UUID,
                               supplier_id: uuid.UUID, status: str, at: datetime | None,
                               reason: str | None) -> None:
    await conn.execute(
        "INSERT INTO awards (id, round_id, supplier_id, status, status_at, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,"
        " status_at = EXCLUDED.status_at, reason = EXCLUDED.reason",
        award_id, round_id, supplier_id, status, at, reason)

async def get_award(conn: Db, award_id: uuid.UUID) -> Row | None:
    return await conn.fetchrow("SELECT * FROM awards WHERE id = $1", award_id)

async def list_awards(conn: Db, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                      after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Row]:
    return await conn.fetch(
        "SELECT * FROM awards WHERE pool_id = $1 AND supplier_id = $2"
        " AND ($3::timestamptz IS NULL OR (recorded_at, id) > ($3, $4::uuid))"
        " ORDER BY recorded_at, id LIMIT $5",
        pool_id, supplier_id, after[0] if after else None, after[1] if after else None,
        limit)

async def insert_rating(conn: Db, award: Row, rated_by: str, score: int,
                        comment: str | None) -> Row | None:
    """The new rating, or None when that award was already rated."""
    return await conn.fetchrow(
        "INSERT INTO ratings (id, award_id, pool_id, supplier_id, buyer_org, rated_by,"
        " score, comment) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (award_id) DO NOTHING RETURNING *",
        uuid.uuid4(), award["id"], award["pool_id"], award["supplier_id"],
        award["buyer_org"], rated_by, score, comment)

async def get_rating(conn: Db, rating_id: uuid.UUID) -> Row | None:
    return await conn.fetchrow("SELECT * FROM ratings WHERE id = $1", rating_id)

async def list_ratings(conn: Db, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                       after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Row]:
    return await conn.fetch(
        "SELECT * FROM ratings WHERE pool_id = $1 AND supplier_id = $2"
        " AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))"
        " ORDER BY created_at, id LIMIT $5",
        pool_id, supplier_id, after[0] if after else None, after[1] if after else None,
        limit)

