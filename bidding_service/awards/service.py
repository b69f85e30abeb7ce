"""Use cases of evaluation and awards: the close, acceptance, decline, expiry, notices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from bidding_service import SOURCE
from bidding_service.awards import repository as repo
from bidding_service.awards.domain import CANCELLABLE, AwardStatus
from bidding_service.awards.pipeline import accept_by, decision_event, pass_on, publish_award
from bidding_service.awards.tally import tally
from bidding_service.awards.views import award_public
from bidding_service.bids import amounts
from bidding_service.bids.sealed import Sealer
from bidding_service.budget import service as budget
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds import timer_repository
from bidding_service.rounds.domain import BIDDING_STATUSES, Method, ReasonCode, RoundStatus
from shared.auth import Principal
from shared.db import Conn
from shared.errors import Conflict, Forbidden, NotFound
from shared.metrics import Metrics
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)


class CloseFailed(Exception):
    """The close of a claimed round failed (rolled back); the cause is `__cause__`."""

    def __init__(self, round_id: uuid.UUID) -> None:
        super().__init__(f"the close of round {round_id} failed")
        self.round_id = round_id


class BatchFailed(Exception):
    """A transaction closing several rounds failed (all rolled back): close them one by
    one to find the failing one (`close_due_round`); the cause is `__cause__`."""

    def __init__(self, round_ids: list[uuid.UUID]) -> None:
        super().__init__(f"the close of {len(round_ids)} rounds together failed")
        self.round_ids = round_ids


# Rounds closed in one transaction when many are due at once: they share its commit, its
# one append to the audit chain and its outbox write. Only rounds of up to BATCH_INVITED
# invited suppliers join another (a big round closes alone, delaying no small one), and
# no more than BATCH_ROUNDS (each waits for the last of its transaction).
BATCH_ROUNDS = 4
BATCH_INVITED = 500


async def close_next_due(db: asyncpg.Pool, metrics: Metrics, sealer: Sealer,
                         ) -> list[uuid.UUID]:
    """Claim the earliest due round nobody holds and close it, with up to BATCH_ROUNDS - 1
    more small due rounds in the same transaction; the rounds' ids, empty when none was
    due. A failed close raises `CloseFailed` (one round) or `BatchFailed` (several), its
    cause chained, so the timer can find and record the failing round."""
    claimed: list[uuid.UUID] = []
    try:
        async with UnitOfWork(db, SOURCE) as uow:
            await close_due(uow, metrics, sealer, claimed)
        return claimed
    except Exception as exc:
        if not claimed:
            raise
        if len(claimed) == 1:
            raise CloseFailed(claimed[0]) from exc
        raise BatchFailed(claimed) from exc


async def close_due(uow: UnitOfWork, metrics: Metrics, sealer: Sealer,
                    claimed: list[uuid.UUID]) -> None:
    """`close_next_due` in `uow`: each round claimed is added to `claimed` before its
    close starts."""
    due = await timer_repository.claim_next_due(uow.conn)
    invited = 0
    while due is not None:
        claimed.append(due[0])
        invited += due[1]
        await close_round(uow, due[0], metrics, sealer)
        if len(claimed) >= BATCH_ROUNDS or invited >= BATCH_INVITED:
            return
        due = await timer_repository.claim_next_due(
            uow.conn, max_invited=BATCH_INVITED - invited, skip=claimed)


async def close_due_round(db: asyncpg.Pool, round_id: uuid.UUID, metrics: Metrics,
                          sealer: Sealer) -> bool:
    """Close this round alone if it is due and nobody holds it (after `BatchFailed`);
    False when it was not to be closed. A failed close raises `CloseFailed`."""
    try:
        async with UnitOfWork(db, SOURCE) as uow:
            if not await timer_repository.claim_due_round(uow.conn, round_id):
                return False
            await close_round(uow, round_id, metrics, sealer)
            return True
    except Exception as exc:
        raise CloseFailed(round_id) from exc


async def close_round(uow: UnitOfWork, round_id: uuid.UUID, metrics: Metrics,
                         sealer: Sealer) -> bool:
    """Close a claimed round whose time is up, evaluate it and award it, exactly once.

    `FOR UPDATE` waits for every bid transaction holding its key-share lock, so all bids
    that were answered 201 are committed before evaluation reads them; several
    processes racing here serialise on the lock and only the first finds it open.
    """
    conn = uow.conn
    locked = await rounds_repo.lock_for_close(conn, round_id)
    if locked is None or locked[0]["status"] not in BIDDING_STATUSES:
        return False
    r, now, zone = locked
    if r["closes_at"] > now:
        return False  # extended meanwhile
    metrics.timer_lateness.labels(action="close").observe(
        (now - r["closes_at"]).total_seconds())
    # One pass over the bids: sealed amounts decrypted here, in memory, the commitment
    # computed, the valid bidders' last bids ranked by the domain rule.
    counted = await tally(conn, sealer, round_id)
    bids, bidders, commitment = counted.bids, counted.bidders, counted.commitment
    ranked = await amounts.rank(counted.candidates, r["sme_price_deduction"])
    del counted.candidates
    valid_bidders = len(ranked)
    # The bid entries join the trail now, in Merkle order, before the close's own.
    uow.audit_entries(counted.entries)
    committed = commitment.event_fields()
    uow.emit("round.closed", round_id, {"round_id": str(round_id), "closed_at": now.isoformat(),
                                        "bid_count": bids, "bidder_count": bidders,
                                        **committed})
    uow.audit("round-timer", "system", "round.closed", f"/v1/rounds/{round_id}",
              {"bid_count": bids, "bidder_count": bidders, **committed})
    if valid_bidders < r["min_bids"]:
        await rounds_repo.mark_closed(conn, round_id, RoundStatus.FAILED, "insufficient_bids",
                                      now, bids, bidders, commitment.root, commitment.size)
        uow.emit("round.failed", round_id, {"round_id": str(round_id),
                                            "reason": "insufficient_bids"})
        await budget.round_ended(uow, round_id, "insufficient_bids")
        log.info("round_failed", round_id=str(round_id), reason="insufficient_bids")
        return True
    await rounds_repo.mark_closed(conn, round_id, RoundStatus.AWARDED, None, now, bids, bidders,
                                  commitment.root, commitment.size)
    stored = await amounts.store_ranking(conn, round_id, ranked)
    del ranked
    # Rank 1 unchecked: the ranking holds only bidders still invited, and suspensions
    # wait for the close on the round's key-share lock.
    assert stored.first is not None
    await publish_award(uow, r, stored.first, head_at_commit=True, prices=stored.prices,
                        clock=(now, zone))
    log.info("round_awarded", round_id=str(round_id), bidders=bidders)
    return True


async def accept_award(db: asyncpg.Pool, award_id: uuid.UUID, caller: Principal,
                       ) -> dict[str, Any]:
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        award = await _own_award(conn, award_id, caller)
        now = await rounds_repo.now(conn)
        if now >= award["accept_by"]:
            raise Conflict("the acceptance window has passed", slug="acceptance-closed")
        at = await repo.decide_award(conn, award_id, AwardStatus.ACCEPTED, None)
        await rounds_repo.set_status(conn, award["round_id"], RoundStatus.ACCEPTED)
        uow.emit("award.accepted", award_id, {
            "award_id": str(award_id), "round_id": str(award["round_id"]),
            "supplier_id": str(award["supplier_id"]), "at": at.isoformat()})
        uow.audit(caller.sub, caller.role.value, "award.accepted", f"/v1/awards/{award_id}")
        await budget.award_accepted(uow, award_id)
        fresh = await repo.get_award(conn, award_id)
        assert fresh is not None
        return await _with_payments(conn, award_public(fresh))


async def decline_award(db: asyncpg.Pool, award_id: uuid.UUID, caller: Principal,
                        reason: str) -> dict[str, Any]:
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        award = await _own_award(conn, award_id, caller)
        await pass_on(uow, award, AwardStatus.DECLINED, reason)
        uow.audit(caller.sub, caller.role.value, "award.declined", f"/v1/awards/{award_id}",
                  {"reason": reason})
        fresh = await repo.get_award(conn, award_id)
        assert fresh is not None
        return await _with_payments(conn, award_public(fresh))


async def expire_award(db: asyncpg.Pool, award_id: uuid.UUID, metrics: Metrics) -> bool:
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        if not await timer_repository.claim_award(conn, award_id):
            return False  # decided already, or another process holds it
        award = await repo.get_award(conn, award_id, lock=True)
        if award is None or award["status"] != AwardStatus.PUBLISHED:
            return False
        now = await rounds_repo.now(conn)
        if now < award["accept_by"]:
            return False
        metrics.timer_lateness.labels(action="expire").observe(
            (now - award["accept_by"]).total_seconds())
        await pass_on(uow, award, AwardStatus.EXPIRED, "acceptance window passed")
        uow.audit("round-timer", "system", "award.expired", f"/v1/awards/{award_id}")
        return True


async def _with_payments(conn: Conn, body: dict[str, Any]) -> dict[str, Any]:
    """The award as HTTP shows it: with what finance reported paid (finance.md 5)."""
    await budget.payments_of(conn, [body])
    return body


async def _own_award(conn: Conn, award_id: uuid.UUID, caller: Principal,
                     ) -> asyncpg.Record:
    award = await repo.get_award(conn, award_id, lock=True)
    if award is None:
        raise NotFound("the award")
    if award["supplier_id"] != caller.supplier_id:
        raise Forbidden("only the awarded supplier may answer this award")
    if award["status"] == AwardStatus.PENDING_REVIEW:
        raise Conflict("the award waits for the center's review of its abnormally low price",
                       slug="pending-review")
    if award["status"] != AwardStatus.PUBLISHED:
        raise Conflict(f"the award is already {award['status']}", slug="award-decided")
    return award


async def cancel_award(db: asyncpg.Pool, award_id: uuid.UUID, caller: Principal,
                       reason_code: ReasonCode, reason: str, reaward_next: bool,
                       ) -> dict[str, Any]:
    """The center corrects a wrong award, on the record: the award is `cancelled`; with
    `reaward_next` the next bidder (or the next in the rotation) gets a new award, else
    the round is cancelled. Never a refusal by the supplier."""
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        award = await repo.get_award(conn, award_id, lock=True)
        if award is None:
            raise NotFound("the award")
        if award["status"] not in CANCELLABLE:
            raise Conflict(f"the award is {award['status']}: only a published, pending or "
                           "accepted award can be cancelled", slug="award-not-cancellable")
        if reaward_next and award["method"] == Method.DIRECT_SELECTION:
            raise Conflict("a direct selection has no runner-up to award: cancel it without "
                           "reaward_next", slug="no-runner-up")
        if reaward_next:
            await pass_on(uow, award, AwardStatus.CANCELLED, reason,
                          reason_code=reason_code.value)
        else:
            r = await rounds_repo.get_round(conn, award["round_id"], lock="FOR UPDATE")
            assert r is not None
            at = await repo.decide_award(conn, award_id, AwardStatus.CANCELLED, reason,
                                         reason_code.value)
            uow.emit("award.cancelled", award_id, decision_event(
                award, at, reason=reason, reason_code=reason_code.value))
            await rounds_repo.set_status(conn, r["id"], RoundStatus.CANCELLED, reason,
                                         reason_code.value)
            uow.emit("round.cancelled", r["id"], {
                "round_id": str(r["id"]), "reason": reason, "reason_code": reason_code.value,
                "bids_root": r["bids_root"], "bids_tree_size": r["bids_tree_size"]})
        uow.audit(caller.sub, caller.role.value, "award.cancelled", f"/v1/awards/{award_id}",
                  {"reason_code": reason_code.value, "reason": reason,
                   "reaward_next": reaward_next})
        fresh = await repo.get_award(conn, award_id)
        assert fresh is not None
        return award_public(fresh)


async def review_award(db: asyncpg.Pool, award_id: uuid.UUID, caller: Principal,
                       confirm: bool, note: str) -> dict[str, Any]:
    """The center's decision on an abnormally low price: `confirm` publishes the award
    (its acceptance window starts now); `reject` passes the round to the next bidder."""
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        award = await repo.get_award(conn, award_id, lock=True)
        if award is None:
            raise NotFound("the award")
        if award["status"] != AwardStatus.PENDING_REVIEW:
            raise Conflict(f"the award is {award['status']}: only an award pending review "
                           "can be reviewed", slug="not-pending-review")
        if confirm:
            r = await rounds_repo.get_round(conn, award["round_id"])
            assert r is not None
            now, zone = await rounds_repo.clock_zone(conn)
            by = accept_by(r, now, zone)
            at = await repo.confirm_award(conn, award_id, by, note)
            uow.emit("award.confirmed", award_id, decision_event(
                award, at, note=note, accept_by=by.isoformat()))
        else:
            await pass_on(uow, award, AwardStatus.REJECTED, None, note=note)
        uow.audit(caller.sub, caller.role.value,
                  "award.confirmed" if confirm else "award.rejected", f"/v1/awards/{award_id}",
                  {"note": note})
        fresh = await repo.get_award(conn, award_id)
        assert fresh is not None
        return award_public(fresh)


async def get_award(db: asyncpg.Pool, award_id: uuid.UUID) -> dict[str, Any]:
    async with db.acquire() as conn:
        a = await repo.get_award(conn, award_id)
        if a is None:
            raise NotFound("the award")
        return await _with_payments(conn, award_public(a))


async def list_awards(db: asyncpg.Pool, *, pool_id: uuid.UUID | None, buyer_org: str | None,
                      after: tuple[datetime, uuid.UUID] | None, limit: int,
                      ) -> tuple[list[dict[str, Any]], tuple[datetime, uuid.UUID] | None]:
    async with db.acquire() as conn:
        rows = await repo.list_awards(conn, pool_id=pool_id, buyer_org=buyer_org, after=after,
                                      limit=limit)
        items = [award_public(a) for a in rows[:limit]]
        await budget.payments_of(conn, items)
    last = rows[limit - 1] if len(rows) > limit else None
    return items, \
        (last["awarded_at"], last["id"]) if last is not None else None
