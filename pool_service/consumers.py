"""Handlers of the events this service consumes: `award.*` from the bidding service.

Each runs inside the inbox transaction of shared.inbox.InboxConsumer, so a
redelivered event changes nothing the second time. The queue also carries the other
events of a round's partition (round.*, budget.*) so the consumer sees every `sequence`
and applies award events in order (docs/reliability.md); those are taken and ignored.
"""

from __future__ import annotations

from typing import Any

import structlog

from pool_service import service
from shared.db import Conn
from shared.events import CloudEvent
from shared.uow import write_audit

log = structlog.get_logger(__name__)

_OUTCOMES = {"award.accepted": "accepted", "award.declined": "declined",
             "award.expired": "expired"}


def _org(buyer: Any) -> tuple[str | None, str | None]:
    """The buyer's org code and name, whichever of the usual spellings the event uses."""
    if isinstance(buyer, str):
        return buyer, None
    if isinstance(buyer, dict):
        org = buyer.get("org") or buyer.get("code") or buyer.get("org_code")
        name = buyer.get("name")
        return (str(org) if org else None), (str(name) if name else None)
    return None, None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def handle_award_event(conn: Conn, event: CloudEvent) -> None:
    data = event.data
    if event.type == "award.published":
        org, name = _org(data.get("buyer"))
        pool = _mapping(data.get("pool"))
        supplier = _mapping(data.get("supplier"))
        award = service.AwardPublished.model_validate({
            **data,
            "pool_id": data.get("pool_id") or pool.get("id"),
            "supplier_id": data.get("supplier_id") or supplier.get("id"),
            "buyer_org": data.get("buyer_org") or org,
            "buyer_name": data.get("buyer_name") or name,
        })
        await service.record_award(conn, award)
        await write_audit(conn, "bidding-events", "system", "award.recorded",
                          f"/v1/awards/{award.id}", {"supplier_id": str(award.supplier_id)})
    elif event.type in _OUTCOMES:
        outcome = service.AwardOutcome.model_validate(data)
        await service.record_award_outcome(conn, _OUTCOMES[event.type], outcome)
        await write_audit(conn, "bidding-events", "system", f"award.{_OUTCOMES[event.type]}",
                          f"/v1/awards/{data.get('award_id')}", {"event_id": str(event.id)})
    else:
        # round.*/budget.*, or a new award event type this version does not know. Taking
        # it (rather than dead-lettering) keeps the queue moving; the inbox keeps its id.
        log.debug("event_ignored", type=event.type, event_id=str(event.id))
