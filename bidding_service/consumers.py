"""pool.* events -> the bidding service's copy of pools and memberships."""

from __future__ import annotations

import uuid

import structlog

from bidding_service import repository as repo
from shared.db import Conn
from shared.events import CloudEvent

log = structlog.get_logger(__name__)

EXCLUDING = frozenset({"suspended", "removed"})


async def on_pool_event(conn: Conn, event: CloudEvent) -> None:
    """Apply one pool.* event (called inside the inbox transaction)."""
    if event.type in ("pool.created", "pool.updated", "pool.terminated"):
        await repo.upsert_pool(conn, event.data)
        return
    if not event.type.startswith("pool.member."):
        return
    data = event.data
    applied = await repo.upsert_membership(conn, data)
    if not applied:
        log.info("membership_event_stale", event_id=str(event.id), type=event.type)
        return
    if data["status"] in EXCLUDING:
        rounds = await repo.exclude_from_open_rounds(
            conn, uuid.UUID(str(data["pool_id"])), uuid.UUID(str(data["supplier"]["id"])),
            f"membership {data['status']}")
        if rounds:
            log.info("bids_invalidated", supplier_id=str(data["supplier"]["id"]),
                     rounds=[str(r) for r in rounds])
