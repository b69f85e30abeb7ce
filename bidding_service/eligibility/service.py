"""Current eligibility on the bid path, around launches and for fallback awards, and the
event-fed copy as the center may read it."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import structlog

from bidding_service.eligibility import repository as repo
from shared.db import Conn
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)


async def lock_for_launch(conn: Conn, pool_id: uuid.UUID) -> None:
    """Taken before a launch reads the members: a suspension being applied is waited
    for (the launch then sees it), and one arriving later waits for the launch to commit
    (its exclusion then sees the new round)."""
    await repo.lock_pool_copy(conn, pool_id, "FOR SHARE")


async def not_admitted(conn: Conn, pool_id: uuid.UUID, supplier_id: uuid.UUID) -> bool:
    """Invited, but the eligibility copy no longer admits it (a launch raced a suspension,
    or the suspension's event is being applied right now)."""
    return await repo.membership_status(conn, pool_id, supplier_id) != "admitted"


async def next_admitted_result(uow: UnitOfWork, r: asyncpg.Record, rank: int,
                               ) -> asyncpg.Record | None:
    """The next result still admitted now; the ones passed over are recorded with why."""
    await repo.lock_pool_copy(uow.conn, r["pool_id"], "FOR SHARE")
    result, skipped = await repo.skip_unadmitted(uow.conn, r["id"], r["pool_id"],
                                                             rank)
    for x in skipped:
        uow.audit("bidding-service", "system", "award.skipped", f"/v1/rounds/{r['id']}",
                  {"rank": x["rank"], "supplier_id": str(x["supplier_id"]),
                   "reason": x["skipped_reason"]})
    if skipped:
        log.info("award_ranks_skipped", round_id=str(r["id"]),
                 ranks=[x["rank"] for x in skipped])
    return result


async def eligible(db: asyncpg.Pool, pool_id: uuid.UUID) -> dict[str, Any]:
    async with db.acquire() as conn:
        ids, as_of = await repo.eligible(conn, pool_id)
    return {"pool_id": str(pool_id), "supplier_ids": [str(i) for i in ids],
            "as_of": as_of.isoformat()}
