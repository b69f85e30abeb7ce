"""The bidding service's OCDS releases: each round a call-off of its pool's framework.

A projection of the service's own events (transparency.md, "OCDS 1.1"):
`round.launched` -> `tender` (not while `pending_budget`: then `publish_round_tender`
when the round leaves it); `round.extended` -> `tenderUpdate` (the new end of the
tender period); `round.cancelled` / `round.failed` -> `tenderUpdate` with status
`cancelled` / `unsuccessful`; `award.published` -> `award` (pending); `award.accepted`,
`.declined`, `.expired`, `.rejected`, `.cancelled`, `.confirmed` -> `awardUpdate`.
No bid amount of any round is ever read here: only ceilings and awards."""

from __future__ import annotations

import uuid
from typing import Any

from bidding_service.ocds.awards import OUTCOME_STATUS, award_release, award_update
from bidding_service.ocds.tender import PENDING_BUDGET, round_tender_release, tender_update
from shared.db import Conn
from shared.events import CloudEvent
from shared.ocds.projection import Context, ReleaseWriter
from shared.ocds.releases import Release
from shared.settings import ServiceSettings
from shared.types import utcnow


async def releases_of(_conn: Conn, event: CloudEvent, context: Context) -> list[Release]:
    """The releases one bidding service event makes."""
    data, release_id, date = event.data, str(event.id), event.time.isoformat()
    if event.type == "round.launched":
        if data.get("status") == PENDING_BUDGET:
            return []  # published when the budget handshake lets it go
        return [round_tender_release(data, context, release_id, date)]
    if event.type == "round.extended":
        return [tender_update(context, data["round_id"], release_id, date,
                              tenderPeriod={"endDate": data["closes_at"]})]
    if event.type == "round.cancelled":
        return [tender_update(context, data["round_id"], release_id, date,
                              status="cancelled",
                              statusDetails=data.get("reason_code") or data.get("reason"))]
    if event.type == "round.failed":
        return [tender_update(context, data["round_id"], release_id, date,
                              status="unsuccessful", statusDetails=data.get("reason"))]
    if event.type == "award.published":
        return [award_release(data, context, release_id, date)]
    if event.type in OUTCOME_STATUS:
        return [award_update(event.type, data, context, release_id, date)]
    return []


# The writer of the app built last (`release_writer`), for `publish_round_tender`.
_WRITERS: list[ReleaseWriter] = []


def release_writer(settings: ServiceSettings) -> ReleaseWriter:
    """The service's release writer (register it with `shared.uow.register_projection`)."""
    writer = ReleaseWriter(Context(settings.ocid_prefix, settings.zone), releases_of)
    _WRITERS[:] = [writer]
    return writer


async def publish_round_tender(conn: Conn, round_: dict[str, Any]) -> None:
    """Write a round's `tender` release now, in `conn`'s transaction: call it where a
    round leaves `pending_budget` (finance.md), with the round as `round.launched`
    carries it (with `method`) and its new status. Nothing happens before an app was
    built (no writer)."""
    if not _WRITERS:
        return
    writer = _WRITERS[0]
    release = round_tender_release(round_, writer.context, str(uuid.uuid4()),
                                   utcnow().isoformat())
    await writer.write(conn, [release])
