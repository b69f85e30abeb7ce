"""SQL of budget reservations and payments."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from bidding_service.budget.domain import Reservation, ReservationStatus
from shared.db import Conn, newest_first


def as_reservation(row: asyncpg.Record) -> Reservation:
    return Reservation(ReservationStatus(row["status"]), row["amount"], row["reserved_amount"],
                       row["committed_amount"], row["released_amount"],
                       row["release_requested_at"] is not None, row["commit_award_id"],
                       row["committed_award_id"])


async def insert_reservation(conn: Conn, reservation_id: uuid.UUID, round_id: uuid.UUID,
                             budget_line: str, amount: Decimal, reply_seconds: int,
                             ) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO budget_reservations (id, round_id, budget_line, amount, reply_by)"
        " VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(secs => $5))"
        " RETURNING *", reservation_id, round_id, budget_line, amount, reply_seconds)
    assert row is not None
    return row


async def get(conn: Conn, reservation_id: uuid.UUID, *, lock: bool = False,
              ) -> asyncpg.Record | None:
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchrow("SELECT * FROM budget_reservations WHERE id = $1" + suffix,
                               reservation_id)


async def of_round(conn: Conn, round_id: uuid.UUID, *, lock: bool = False,
                   ) -> asyncpg.Record | None:
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchrow(
        "SELECT * FROM budget_reservations WHERE round_id = $1" + suffix, round_id)


async def of_rounds(conn: Conn, round_ids: list[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT * FROM budget_reservations WHERE round_id = ANY($1::uuid[])", round_ids)
    return {r["round_id"]: r for r in rows}


async def update(conn: Conn, reservation_id: uuid.UUID, **fields: Any) -> asyncpg.Record:
    """Set `fields` (column names of this module's own choosing, never input)."""
    names = sorted(fields)
    sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
    row = await conn.fetchrow(
        f"UPDATE budget_reservations SET {sets}, updated_at = clock_timestamp()"
        " WHERE id = $1 RETURNING *", reservation_id, *(fields[n] for n in names))
    assert row is not None
    return row


async def waiting_due(conn: Conn, limit: int) -> list[uuid.UUID]:
    """Reservations past `reply_by` with no answer, except those backing off."""
    rows = await conn.fetch(
        "SELECT id FROM budget_reservations WHERE status = 'requested'"
        " AND reply_by <= clock_timestamp()"
        " AND (next_timeout_attempt_at IS NULL OR next_timeout_attempt_at <= clock_timestamp())"
        " ORDER BY reply_by LIMIT $1", limit)
    return [r["id"] for r in rows]


async def next_reply_by(conn: Conn) -> datetime | None:
    due: datetime | None = await conn.fetchval(
        "SELECT min(coalesce(next_timeout_attempt_at, reply_by)) FROM budget_reservations"
        " WHERE status = 'requested'")
    return due


async def claim_waiting(conn: Conn, reservation_id: uuid.UUID) -> asyncpg.Record | None:
    """Claim an unanswered reservation past its `reply_by`, or None when it was answered
    meanwhile or another process holds it (`SKIP LOCKED`, as the close claims a round)."""
    return await conn.fetchrow(
        "SELECT * FROM budget_reservations WHERE id = $1 AND status = 'requested'"
        " AND reply_by <= clock_timestamp() FOR UPDATE SKIP LOCKED", reservation_id)


async def record_timeout_failure(conn: Conn, reservation_id: uuid.UUID, code: str,
                                 base: float, cap: float) -> tuple[int, datetime] | None:
    row = await conn.fetchrow(
        """
        UPDATE budget_reservations
           SET timeout_attempts = timeout_attempts + 1, last_timeout_error = $2,
               next_timeout_attempt_at = clock_timestamp() + make_interval(
                   secs => least($4::float8, $3::float8 * power(2, least(timeout_attempts, 30))))
         WHERE id = $1 AND status = 'requested'
        RETURNING timeout_attempts, next_timeout_attempt_at
        """, reservation_id, code, base, cap)
    return None if row is None else (row["timeout_attempts"], row["next_timeout_attempt_at"])


async def list_reservations(conn: Conn, *, status: str | None, budget_line: str | None,
                            after: tuple[datetime, uuid.UUID] | None, limit: int,
                            ) -> list[asyncpg.Record]:
    return await newest_first(conn, "SELECT * FROM budget_reservations", [
        ("status = {}", status), ("budget_line = {}", budget_line),
    ], ("requested_at", "id"), after, limit)


async def insert_payment(conn: Conn, payment_id: str, award_id: uuid.UUID,
                         round_id: uuid.UUID, amount: Decimal, paid_at: datetime) -> bool:
    """Record a payment once; False when its id is already recorded."""
    done = await conn.fetchval(
        "INSERT INTO award_payments (payment_id, award_id, round_id, amount, paid_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_id) DO NOTHING RETURNING true",
        payment_id, award_id, round_id, amount, paid_at)
    return bool(done)


async def payments(conn: Conn, award_ids: list[uuid.UUID],
                   ) -> dict[uuid.UUID, list[asyncpg.Record]]:
    rows = await conn.fetch(
        "SELECT * FROM award_payments WHERE award_id = ANY($1::uuid[])"
        " ORDER BY paid_at, payment_id", award_ids)
    found: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for r in rows:
        found.setdefault(r["award_id"], []).append(r)
    return found


async def award_for_payment(conn: Conn, award_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, round_id, status, amount FROM awards WHERE id = $1 FOR SHARE", award_id)
