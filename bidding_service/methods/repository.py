"""SQL of the rotation order (spec methods.md): per pool, an explicit position or the
order of admission, the current period, and who was served in it."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.db import Conn


async def lock_rotation(conn: Conn, pool_id: uuid.UUID) -> int:
    """The pool's current period, its row locked for this transaction: rotation awards of
    one pool are chosen one at a time (two launched at once never get the same supplier)."""
    await conn.execute("INSERT INTO rotations (pool_id) VALUES ($1) ON CONFLICT DO NOTHING",
                       pool_id)
    period: int = await conn.fetchval(
        "SELECT period FROM rotations WHERE pool_id = $1 FOR UPDATE", pool_id)
    return period


async def current_period(conn: Conn, pool_id: uuid.UUID) -> int:
    period: int | None = await conn.fetchval(
        "SELECT period FROM rotations WHERE pool_id = $1", pool_id)
    return period or 1


async def set_period(conn: Conn, pool_id: uuid.UUID, period: int) -> None:
    await conn.execute("UPDATE rotations SET period = $2 WHERE pool_id = $1", pool_id, period)


async def order(conn: Conn, pool_id: uuid.UUID, period: int, round_id: uuid.UUID | None,
                ) -> list[asyncpg.Record]:
    """The rotation order with, per member: admitted now (`eligible`), served in
    `period` (an award of that period not cancelled by the center), and already offered
    round `round_id`; plus what an award needs of the supplier."""
    return await conn.fetch(
        """
        SELECT m.supplier_id, coalesce(e.status = 'admitted', false) AS eligible,
               e.status, e.name, e.credit_code, e.kind, e.size,
               EXISTS (SELECT 1 FROM awards a
                        WHERE a.pool_id = m.pool_id AND a.supplier_id = m.supplier_id
                          AND a.rotation_period = $2 AND a.status <> 'cancelled') AS served,
               ($3::uuid IS NOT NULL AND EXISTS (
                   SELECT 1 FROM round_results x
                    WHERE x.round_id = $3 AND x.supplier_id = m.supplier_id)) AS offered
          FROM rotation_members m
          LEFT JOIN eligibility e ON e.pool_id = m.pool_id AND e.supplier_id = m.supplier_id
         WHERE m.pool_id = $1
         ORDER BY m.position NULLS LAST, m.admitted_at, m.supplier_id
        """, pool_id, period, round_id)


async def add_member(conn: Conn, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                     admitted_at: datetime) -> None:
    """A member admitted: appended at the end of the order (once)."""
    await conn.execute(
        "INSERT INTO rotation_members (pool_id, supplier_id, admitted_at) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING", pool_id, supplier_id, admitted_at)


async def set_order(conn: Conn, pool_id: uuid.UUID, supplier_ids: list[uuid.UUID]) -> None:
    """The center's order: these first, in this order; every other member after them."""
    await conn.execute("UPDATE rotation_members SET position = NULL WHERE pool_id = $1",
                       pool_id)
    await conn.executemany(
        "UPDATE rotation_members SET position = $3 WHERE pool_id = $1 AND supplier_id = $2",
        [(pool_id, s, i) for i, s in enumerate(supplier_ids, start=1)])


async def invited_supplier_ids(conn: Conn, round_id: uuid.UUID) -> list[uuid.UUID]:
    """The suppliers a fixed-amount round was launched for (a direct selection: one)."""
    rows = await conn.fetch("SELECT supplier_id FROM invitations WHERE round_id = $1"
                            " ORDER BY supplier_id", round_id)
    return [r["supplier_id"] for r in rows]
