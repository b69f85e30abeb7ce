"""pool.* events -> the bidding service's copy of pools and memberships."""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog

from bidding_service.eligibility import repository as repo
from bidding_service.eligibility.domain import EXCLUDING
from bidding_service.methods import repository as rotation_repo
from shared.db import Conn
from shared.events import CloudEvent

log = structlog.get_logger(__name__)

async def on_pool_event(conn: Conn, event: CloudEvent) -> None:
    """Apply one pool.* event (called inside the inbox transaction)."""
    if event.type in ("pool.created", "pool.updated", "pool.terminated"):
        await repo.upsert_pool(conn, event.data)
        return
    if not event.type.startswith("pool.member."):
        return
    data = event.data
    pool_id = uuid.UUID(str(data["pool_id"]))
    # Waits for launches reading this pool's members (they hold it FOR SHARE), so the
    # exclusion below sees every round a launch could have invited this supplier to.
    await repo.lock_pool_copy(conn, pool_id, "FOR UPDATE")
    applied = await repo.upsert_membership(conn, data)
    if not applied:
        log.info("membership_event_stale", event_id=str(event.id), type=event.type)
        return
    if data["status"] == "admitted":
        # A new member joins the end of the pool's rotation order (once).
        await rotation_repo.add_member(conn, pool_id, uuid.UUID(str(data["supplier"]["id"])),
                                       datetime.fromisoformat(str(data["at"])))
    if data["status"] in EXCLUDING:
        rounds = await repo.exclude_from_open_rounds(
            conn, pool_id, uuid.UUID(str(data["supplier"]["id"])),
            f"membership {data['status']}")
        # Never the supplier or the rounds here: with the rounds still open, this line
        # would tell log readers which invitations (and so whose bids) were touched.
        log.info("open_round_invitations_excluded", pool_id=str(pool_id), rounds=len(rounds))
