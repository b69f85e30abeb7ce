"""Use cases of a round's life: launch, cancel, and the round as each caller may see it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from bidding_service import SOURCE
from bidding_service.awards import repository as awards_repo
from bidding_service.awards.commitment import commit_round
from bidding_service.awards.domain import Candidate
from bidding_service.awards.views import award_public, ranking_public
from bidding_service.bids import amounts
from bidding_service.bids import repository as bids_repo
from bidding_service.bids.domain import own_rank
from bidding_service.bids.sealed import Sealer
from bidding_service.budget import service as budget
from bidding_service.eligibility import repository as eligibility_repo
from bidding_service.eligibility import service as eligibility
from bidding_service.methods import service as methods
from bidding_service.methods.service import acceptance, check_window
from bidding_service.rounds import repository as repo
from bidding_service.rounds.domain import (
    CANCELLABLE_STATUSES,
    Disclosure,
    Extension,
    LaunchTerms,
    Method,
    ReasonCode,
    RoundStatus,
    bids_sealed,
    check_launch,
    result_public,
)
from bidding_service.rounds.views import close_health, iso, money, round_public
from bidding_service.schemas import LaunchRound
from shared.auth import Principal, Role
from shared.db import Conn
from shared.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from shared.idempotency import Outcome, once
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)



async def launch_round(db: asyncpg.Pool, cmd: LaunchRound, caller: Principal,
                       min_duration_seconds: int, idempotency_key: str | None,
                       fingerprint: str, *, budget_reply_seconds: int | None = None,
                       ) -> Outcome:
    """Launch a round by its method: a price competition opens for bids; a direct
    selection or a rotation is awarded at once (`methods.service`). With
    `budget_reply_seconds` (BUDGET_RESERVATION=required) a price competition waits in
    `pending_budget` for finance's reservation, answered within that many seconds."""
    if cmd.method is not Method.PRICE_COMPETITION:
        return await methods.launch(db, cmd, caller, idempotency_key, fingerprint,
                                    budget_reply_seconds=budget_reply_seconds)
    assert cmd.ceiling_price is not None and cmd.closes_at is not None
    ceiling, closes_at = cmd.ceiling_price, cmd.closes_at
    async with UnitOfWork(db, SOURCE) as uow:
        async def action() -> Outcome:
            conn = uow.conn
            await eligibility.lock_for_launch(conn, cmd.pool_id)
            pool = await eligibility_repo.get_pool(conn, cmd.pool_id)
            if pool is None:
                raise Invalid("no such pool is known to the bidding service",
                                    [{"loc": ["pool_id"], "msg": "unknown pool"}],
                                    slug="unknown-pool")
            invited = await eligibility_repo.admitted_members(conn, cmd.pool_id)
            now, today = await repo.clock(conn)
            terms = LaunchTerms(ceiling, cmd.opens_at, closes_at, cmd.min_bids)
            opens_at = check_launch(terms, pool, len(invited), now, min_duration_seconds,
                                    today=today)
            await check_window(conn, cmd, closes_at)
            round_id = uuid.uuid4()
            ext = cmd.extension
            status = RoundStatus.OPEN if opens_at <= now else RoundStatus.SCHEDULED
            if budget_reply_seconds is not None:
                status = RoundStatus.PENDING_BUDGET
            await repo.insert_round(conn, {
                "id": round_id, "pool_id": pool.pool_id, "pool_code": pool.code,
                "pool_name": pool.name, "title": cmd.title, "description": cmd.description,
                "buyer_org": cmd.buyer.org, "buyer_name": cmd.buyer.name,
                "budget_line": cmd.budget_line, "ceiling_price": ceiling,
                "opens_at": opens_at, "closes_at": closes_at, "min_bids": cmd.min_bids,
                "sme_price_deduction": cmd.sme_price_deduction,
                "disclosure": cmd.disclosure.value, "min_decrement": cmd.min_decrement,
                "extension": None if ext is None else Extension(
                    ext.window_seconds, ext.extend_seconds, ext.max_extensions),
                **acceptance(cmd),
                "abnormal_price_review": cmd.abnormal_price_review,
                "enquiries_until": cmd.enquiries_until,
                "status": status.value,
                "launched_by": caller.sub,
            }, invited)
            row = await repo.get_round(conn, round_id)
            assert row is not None
            body = round_public(row)
            uow.emit("round.launched", round_id, {
                **body, "invited_supplier_ids": [str(m["supplier_id"]) for m in invited]})
            uow.audit(caller.sub, caller.role.value, "round.launched", f"/v1/rounds/{round_id}",
                      {"pool_id": str(pool.pool_id), "invited": len(invited)})
            reservation = None
            if budget_reply_seconds is not None:
                reservation = await budget.request_reservation(
                    uow, row, budget_reply_seconds, caller.sub, caller.role.value)
            log.info("round_launched", round_id=str(round_id), invited=len(invited))
            return Outcome(201, {**body, "bid_count": 0, "bidder_count": 0,
                                 "budget": await budget.budget_of(conn, round_id)
                                 if reservation is not None else None},
                           f"/v1/rounds/{round_id}")

        return await once(uow, caller.caller_key, idempotency_key, fingerprint, action)


async def cancel_round(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal,
                       reason_code: ReasonCode, reason: str, sealer: Sealer) -> dict[str, Any]:
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        r = await repo.get_round(conn, round_id, lock="FOR UPDATE")
        if r is None:
            raise NotFound("the round")
        now = await repo.now(conn)
        # A round waiting for its budget has not begun (a direct selection or rotation
        # round waiting for it has no close of its own): the center may cancel it.
        waiting = r["status"] == RoundStatus.PENDING_BUDGET
        if r["status"] not in CANCELLABLE_STATUSES or (now >= r["closes_at"] and not waiting):
            raise Conflict("only a round that has not closed can be cancelled",
                           slug="round-not-cancellable")
        await repo.set_status(conn, round_id, RoundStatus.CANCELLED, reason,
                              reason_code.value)
        # The commitment is published; the bids and their audit entries stay sealed.
        committed = (await commit_round(uow, sealer, round_id)).event_fields()
        uow.emit("round.cancelled", round_id, {"round_id": str(round_id), "reason": reason,
                                               "reason_code": reason_code.value,
                                               **committed})
        uow.audit(caller.sub, caller.role.value, "round.cancelled", f"/v1/rounds/{round_id}",
                  {"reason": reason, "reason_code": reason_code.value})
        await budget.round_ended(uow, round_id, "round cancelled")
        fresh = await repo.get_round(conn, round_id)
        assert fresh is not None
        return {**round_public(fresh), "budget": await budget.budget_of(conn, round_id)}


def _may_see_round(r: asyncpg.Record, caller: Principal | None, invited: bool) -> None:
    if result_public(r["status"], r["closed_at"] is not None):
        return
    if caller is None:
        raise Unauthenticated("this round is not public until its result is published")
    if caller.role is Role.PROCUREMENT_CENTER:
        return
    if caller.role is Role.BUYER and caller.org == r["buyer_org"]:
        return
    if caller.role is Role.SUPPLIER and invited:
        return
    raise Forbidden("you may not see this round")


async def round_view(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal | None,
                     sealer: Sealer) -> dict[str, Any]:
    async with db.acquire() as conn:
        r = await repo.get_round(conn, round_id)
        if r is None:
            raise NotFound("the round")
        inv = None
        if caller is not None and caller.role is Role.SUPPLIER:
            assert caller.supplier_id is not None
            inv = await bids_repo.invitation(conn, round_id, caller.supplier_id)
        _may_see_round(r, caller, inv is not None)
        return await _render_round(conn, r, caller, inv, sealer)


async def _render_round(conn: Conn, r: asyncpg.Record, caller: Principal | None,
                        inv: asyncpg.Record | None, sealer: Sealer) -> dict[str, Any]:
    body = round_public(r)
    body["budget"] = await budget.budget_of(conn, r["id"])
    sealed = sealed_round(r)
    staff = caller is not None and caller.role in (Role.PROCUREMENT_CENTER, Role.BUYER)
    if caller is not None and caller.role is Role.PROCUREMENT_CENTER:
        body.update(close_health(r))
    if staff or not sealed:
        if r["bid_count"] is not None:
            body["bid_count"], body["bidder_count"] = r["bid_count"], r["bidder_count"]
        else:
            body["bid_count"], body["bidder_count"] = await repo.bid_counts(conn, r["id"])
    if inv is not None:
        body["my_status"] = inv["status"]
        if inv["last_bid_id"] is not None:
            body["my_bid"] = {"id": str(inv["last_bid_id"]),
                              "amount": money(amounts.last_amount(sealer, inv)),
                              "submitted_at": iso(inv["last_bid_at"])}
            if r["disclosure"] == Disclosure.RANK and inv["status"] == "invited":
                body["rank"] = await _own_rank(conn, r, inv, sealer)
    if result_public(r["status"], r["closed_at"] is not None):
        award = await awards_repo.live_award(conn, r["id"])
        body["award"] = None
        if award is not None:
            body["award"] = award_public(award)
            await budget.payments_of(conn, [body["award"]])
        body["ranking"] = ranking_public(await awards_repo.results(conn, r["id"]))
    return body


def sealed_round(r: asyncpg.Record) -> bool:
    """Bids (and who made them) are sealed while open, and for good once cancelled."""
    return bids_sealed(r["status"], r["closed_at"] is not None)


async def _own_rank(conn: Conn, r: asyncpg.Record, inv: asyncpg.Record, sealer: Sealer,
                    ) -> int:
    others = [c for c in await amounts.candidates(conn, sealer, r["id"], legacy_ok=True)
              if c.supplier_id != inv["supplier_id"]]
    last = amounts.last_amount(sealer, inv)
    assert last is not None
    mine = Candidate(inv["supplier_id"], inv["name"], inv["credit_code"], inv["kind"],
                     inv["size"], last, inv["last_bid_at"])
    return own_rank(mine, others, r["sme_price_deduction"])


async def list_rounds(db: asyncpg.Pool, caller: Principal, *, status: str | None,
                      pool_id: uuid.UUID | None, after: tuple[datetime, uuid.UUID] | None,
                      limit: int) -> tuple[list[dict[str, Any]], tuple[datetime, uuid.UUID] | None]:
    buyer_org = caller.org if caller.role is Role.BUYER else None
    supplier_id = caller.supplier_id if caller.role is Role.SUPPLIER else None
    async with db.acquire() as conn:
        rows = await repo.list_rounds(conn, status=status, pool_id=pool_id, buyer_org=buyer_org,
                                      supplier_id=supplier_id, after=after, limit=limit)
        items = []
        budgets = await budget.budgets_of(conn, [r["id"] for r in rows[:limit]])
        live: dict[uuid.UUID, tuple[int, int]] = {}
        if caller.role is not Role.SUPPLIER:
            live = await repo.bid_counts_many(
                conn, [r["id"] for r in rows[:limit] if r["bid_count"] is None])
        for r in rows[:limit]:
            inv = None
            if supplier_id is not None:
                inv = await bids_repo.invitation(conn, r["id"], supplier_id)
            body = round_public(r)
            body["budget"] = budgets[r["id"]]
            if caller.role is not Role.SUPPLIER:
                counted = (r["bid_count"], r["bidder_count"]) if r["bid_count"] is not None \
                    else live.get(r["id"], (0, 0))
                body["bid_count"], body["bidder_count"] = counted
            if caller.role is Role.PROCUREMENT_CENTER:
                body.update(close_health(r))
            if inv is not None:
                body["my_status"] = inv["status"]
            items.append(body)
    last = rows[limit - 1] if len(rows) > limit else None
    return items, (last["launched_at"], last["id"]) if last is not None else None
