"""The one award pipeline: every award of every round is created here, and every
refusal (decline, expiry) passes the round on from here."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
import structlog

from bidding_service.awards import repository as repo
from bidding_service.awards.domain import AwardStatus
from bidding_service.awards.views import award_public
from bidding_service.budget import service as budget
from bidding_service.eligibility import service as eligibility
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds.domain import RoundStatus
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)

# award.published carries the head of the ranking; the rest is paged at its ranking_url.
EVENT_RANKING_ENTRIES = 100


async def publish_award(uow: UnitOfWork, r: asyncpg.Record, rank: int, *,
                         check_eligibility: bool = True) -> bool:
    """Award the round to the bidder at `rank` (for a fallback award: the first from
    there on still admitted in the pool); False when nobody is left.

    The close itself awards rank 1 unchecked: its ranking holds only bidders still
    invited, and suspensions wait for the close on the round's key-share lock.
    """
    conn = uow.conn
    if check_eligibility:
        result = await eligibility.next_admitted_result(uow, r, rank)
    else:
        result = await repo.result_at_rank(conn, r["id"], rank)
    if result is None:
        return False
    award_id = uuid.uuid4()
    await repo.insert_award(conn, award_id, r, result, r["acceptance_seconds"])
    ranking, ranking_size = await repo.ranking_json(conn, r["id"], EVENT_RANKING_ENTRIES)
    # The notice carries the audit head with this transaction's entries (the close's bid
    # entries among them); taken last, so the chain's lock is held only to the commit.
    await repo.set_award_audit_head(conn, award_id, *await uow.flush_audit())
    award = await repo.get_award(conn, award_id)
    assert award is not None
    uow.emit("award.published", award_id, {
        **award_public(award),
        "pool": {"id": str(r["pool_id"]), "code": r["pool_code"], "name": r["pool_name"]},
        # Built by the database; embedded as is (100,000 bidders never pass through Python).
        "ranking": orjson.Fragment(ranking),
        "ranking_size": ranking_size, "ranking_url": f"/v1/rounds/{r['id']}/ranking",
    })
    return True


async def pass_on(uow: UnitOfWork, award: asyncpg.Record, status: AwardStatus,
                  reason: str) -> None:
    """Decline or expiry: record it, then award the next-ranked bidder or fail the round."""
    conn = uow.conn
    r = await rounds_repo.get_round(conn, award["round_id"], lock="FOR UPDATE")
    assert r is not None
    at = await repo.decide_award(conn, award["id"], status, reason)
    uow.emit(f"award.{status.value}", award["id"], {
        "award_id": str(award["id"]), "round_id": str(award["round_id"]),
        "supplier_id": str(award["supplier_id"]), "at": at.isoformat(), "reason": reason})
    if await publish_award(uow, r, award["rank"] + 1):
        await rounds_repo.set_status(conn, r["id"], RoundStatus.REAWARDED)
    else:
        await rounds_repo.set_status(conn, r["id"], RoundStatus.FAILED, "no_acceptance")
        uow.emit("round.failed", r["id"], {"round_id": str(r["id"]), "reason": "no_acceptance"})
        await budget.round_ended(uow, r["id"], "no_acceptance")
    log.info("award_refused", round_id=str(r["id"]), award_id=str(award["id"]),
             status=status.value)
