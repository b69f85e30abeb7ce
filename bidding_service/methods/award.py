"""A direct selection or rotation round launched under the budget handshake gets its
award only once finance has reserved its amount (finance.md 2): who gets it is decided
then (a rotation picks its supplier at that moment)."""

from __future__ import annotations

import asyncpg

# The module, not the function: the pipeline imports the budget loop, which imports this.
from bidding_service.awards import pipeline
from bidding_service.awards import repository as awards_repo
from bidding_service.eligibility import repository as eligibility_repo
from bidding_service.methods import repository as repo
from bidding_service.methods import rotation
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds.domain import Method, RoundStatus
from shared.uow import UnitOfWork


async def award_reserved(uow: UnitOfWork, r: asyncpg.Record) -> bool:
    """Award round `r` now; False when nobody may have it any more (the direct
    selection's supplier is no longer admitted, or no rotation member is eligible)."""
    conn = uow.conn
    period: int | None = None
    if Method(r["method"]) is Method.DIRECT_SELECTION:
        (supplier_id,) = await repo.invited_supplier_ids(conn, r["id"])
        member = await eligibility_repo.member(conn, r["pool_id"], supplier_id)
        if member is None or member["status"] != "admitted":
            return False
    else:
        chosen = await rotation.choose(conn, r["pool_id"], r["id"])
        if chosen is None:
            return False
        member, period = chosen.member, chosen.period
    result = await awards_repo.insert_result(conn, r["id"], member, r["ceiling_price"])
    await rounds_repo.mark_closed(conn, r["id"], RoundStatus.AWARDED, None,
                                  await rounds_repo.now(conn), 0, 0)
    fresh = await rounds_repo.get_round(conn, r["id"])
    assert fresh is not None
    await pipeline.publish_award(uow, fresh, result, rotation_period=period)
    return True
