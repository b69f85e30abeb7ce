"""Finance's answers and payments (finance.md 2-5) -> the budget use cases.

Order: finance's events carry `partitionkey` (the round id) and a `sequence` of
finance's own source, but the bidding service does not list that source in
`ordered_sources`, so they are applied as they come. Each answer is an answer to a
request this service made, and `budget.domain` checks it against the reservation's
state: an answer arrives only after its request, a second answer to a settled
reservation changes nothing (`Effect.IGNORE`), payments are a set keyed by their id.
Holding answers for a finance system's gapless numbering would let one lost number
block a round's opening for `EVENT_HOLD_SECONDS` and buy nothing the state does not
already decide. A duplicate delivery (same event id) is stopped by the inbox.

An answer naming a reservation (or award) this service does not know raises
`NotFound`: the inbox consumer rejects it without requeueing, to the queue's `.dlq`.
"""

from __future__ import annotations

import uuid

import structlog
from pydantic import BaseModel, ConfigDict, Field

from bidding_service.bids.sealed import Sealer
from bidding_service.budget import service
from shared.db import Conn
from shared.events import CloudEvent
from shared.inbox import Handler
from shared.types import Money, Text, Timestamp
from shared.uow import JoinedUnit

log = structlog.get_logger(__name__)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")

    reservation_id: uuid.UUID
    at: Timestamp


class Reserved(_Answer):
    round_id: uuid.UUID
    reserved_amount: Money


class Refused(_Answer):
    round_id: uuid.UUID
    reason: Text = Field(max_length=2000)


class Committed(_Answer):
    award_id: uuid.UUID
    committed_amount: Money
    released_amount: Money


class Released(_Answer):
    released_amount: Money


class PaymentRecorded(BaseModel):
    model_config = ConfigDict(extra="allow")

    payment_id: Text = Field(min_length=1, max_length=200)
    award_id: uuid.UUID
    round_id: uuid.UUID
    amount: Money
    paid_at: Timestamp


def budget_consumer(min_duration_seconds: int, sealer: Sealer) -> Handler:
    """The handler of the budget answers queue (inside the inbox's transaction)."""

    async def on_budget_event(conn: Conn, event: CloudEvent) -> None:
        uow = JoinedUnit(conn, service.SOURCE)
        data = event.data
        if event.type == "budget.reserved":
            a = Reserved.model_validate(data)
            effect = await service.reserved(uow, a.reservation_id, a.round_id,
                                            a.reserved_amount, a.at, min_duration_seconds,
                                            sealer)
        elif event.type == "budget.refused":
            b = Refused.model_validate(data)
            effect = await service.refused(uow, b.reservation_id, b.round_id, b.reason, b.at,
                                           sealer)
        elif event.type == "budget.committed":
            c = Committed.model_validate(data)
            effect = await service.committed(uow, c.reservation_id, c.award_id,
                                             c.committed_amount, c.released_amount, c.at)
        elif event.type == "budget.released":
            d = Released.model_validate(data)
            effect = await service.released(uow, d.reservation_id, d.released_amount, d.at)
        elif event.type == "payment.recorded":
            p = PaymentRecorded.model_validate(data)
            await service.payment_recorded(uow, p.payment_id, p.award_id, p.round_id,
                                           p.amount, p.paid_at)
            await uow.flush()
            return
        else:
            log.debug("event_ignored", type=event.type, event_id=str(event.id))
            return
        log.info("budget_answer", type=event.type, event_id=str(event.id),
                 round_id=event.partitionkey, effect=effect.value)
        await uow.flush()

    return on_budget_event
