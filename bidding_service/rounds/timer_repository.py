"""SQL of the round timer: what is due, claiming it, and recording failures."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.db import Conn


async def next_deadline(conn: Conn) -> tuple[datetime, datetime | None]:
    """The database clock now, and the earliest pending deadline (open, close, expiry,
    or the next retry of a close or expiry that failed)."""
    row = await conn.fetchrow(
        """
        SELECT clock_timestamp() AS now, least(
            (SELECT min(opens_at) FROM rounds WHERE status = 'scheduled'),
            (SELECT min(closes_at) FROM rounds WHERE status IN ('scheduled', 'open')
                AND next_close_attempt_at IS NULL),
            (SELECT min(next_close_attempt_at) FROM rounds
              WHERE status IN ('scheduled', 'open') AND next_close_attempt_at IS NOT NULL),
            (SELECT min(accept_by) FROM awards WHERE status = 'published'
                AND next_expiry_attempt_at IS NULL),
            (SELECT min(next_expiry_attempt_at) FROM awards
              WHERE status = 'published' AND next_expiry_attempt_at IS NOT NULL)) AS due
        """)
    assert row is not None
    return row["now"], row["due"]


async def open_due(conn: Conn) -> int:
    result: str = await conn.execute(
        "UPDATE rounds SET status = 'open' WHERE status = 'scheduled'"
        " AND opens_at <= clock_timestamp() AND closes_at > clock_timestamp()")
    return int(result.split()[-1])


async def rounds_due(conn: Conn, limit: int) -> list[uuid.UUID]:
    """Rounds past their close, except those backing off after a failed close."""
    rows = await conn.fetch(
        "SELECT id FROM rounds WHERE status IN ('scheduled', 'open')"
        " AND closes_at <= clock_timestamp()"
        " AND (next_close_attempt_at IS NULL OR next_close_attempt_at <= clock_timestamp())"
        " ORDER BY closes_at LIMIT $1", limit)
    return [r["id"] for r in rows]


async def claim_next_due(conn: Conn, *, max_invited: int | None = None,
                         skip: list[uuid.UUID] | None = None,
                         ) -> tuple[uuid.UUID, int] | None:
    """Claim the earliest due round no other process holds, for closing in `conn`'s
    transaction: its id and number of invited suppliers; None when there is none left
    (with `max_invited`: none that small; never one of `skip`, the rounds this
    transaction closed already).

    The due query itself takes the claim, so processes closing at the same moment never
    try the same round: each takes the next one nobody holds, and no list goes stale
    between the query and the close. `FOR NO KEY UPDATE SKIP LOCKED`: a round being
    closed by another timer is skipped; bids' key-share locks do not conflict with it,
    so a storm of (late) bids cannot make the close skip the round forever. The close
    then upgrades to `FOR UPDATE`, waiting for those bids."""
    row = await conn.fetchrow(
        "SELECT id, invited_count FROM rounds WHERE status IN ('scheduled', 'open')"
        " AND closes_at <= clock_timestamp()"
        " AND (next_close_attempt_at IS NULL OR next_close_attempt_at <= clock_timestamp())"
        " AND ($1::integer IS NULL OR invited_count <= $1)"
        " AND ($2::uuid[] IS NULL OR id <> ALL($2))"
        " ORDER BY closes_at LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED", max_invited, skip)
    return None if row is None else (row["id"], int(row["invited_count"]))


async def claim_due_round(conn: Conn, round_id: uuid.UUID) -> bool:
    """Claim this round for closing if it is due and no other process holds it."""
    found = await conn.fetchval(
        "SELECT true FROM rounds WHERE id = $1 AND status IN ('scheduled', 'open')"
        " AND closes_at <= clock_timestamp() FOR NO KEY UPDATE SKIP LOCKED", round_id)
    return found is not None


async def awards_expired(conn: Conn, limit: int) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT id FROM awards WHERE status = 'published' AND accept_by <= clock_timestamp()"
        " AND (next_expiry_attempt_at IS NULL OR next_expiry_attempt_at <= clock_timestamp())"
        " ORDER BY accept_by LIMIT $1", limit)
    return [r["id"] for r in rows]


async def claim_award(conn: Conn, award_id: uuid.UUID) -> bool:
    """Claim a published award for expiry, or False when another process holds it."""
    row = await conn.fetchval(
        "SELECT true FROM awards WHERE id = $1 AND status = 'published'"
        " FOR UPDATE SKIP LOCKED", award_id)
    return row is not None


async def record_close_failure(conn: Conn, round_id: uuid.UUID, code: str, base: float,
                               cap: float) -> tuple[int, datetime] | None:
    """Count a failed close and schedule its retry (exponential backoff, capped)."""
    row = await conn.fetchrow(
        """
        UPDATE rounds
           SET close_attempts = close_attempts + 1, last_close_error = $2,
               next_close_attempt_at = clock_timestamp() + make_interval(
                   secs => least($4::float8, $3::float8 * power(2, least(close_attempts, 30))))
         WHERE id = $1 AND status IN ('scheduled', 'open')
        RETURNING close_attempts, next_close_attempt_at
        """, round_id, code, base, cap)
    return None if row is None else (row["close_attempts"], row["next_close_attempt_at"])


async def record_expiry_failure(conn: Conn, award_id: uuid.UUID, code: str, base: float,
                                cap: float) -> tuple[int, datetime] | None:
    row = await conn.fetchrow(
        """
        UPDATE awards
           SET expiry_attempts = expiry_attempts + 1, last_expiry_error = $2,
               next_expiry_attempt_at = clock_timestamp() + make_interval(
                   secs => least($4::float8, $3::float8 * power(2, least(expiry_attempts, 30))))
         WHERE id = $1 AND status = 'published'
        RETURNING expiry_attempts, next_expiry_attempt_at
        """, award_id, code, base, cap)
    return None if row is None else (row["expiry_attempts"], row["next_expiry_attempt_at"])


async def count_failing_rounds(conn: Conn) -> int:
    n: int = await conn.fetchval(
        "SELECT count(*) FROM rounds WHERE status IN ('scheduled', 'open')"
        " AND close_attempts > 0")
    return n
