"""Use cases of direct selection (直接选定) and rotation (顺序轮候): rounds awarded at
launch through the one award pipeline, and the pools' rotation orders."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from bidding_service import SOURCE
from bidding_service.awards import repository as awards_repo
from bidding_service.awards.calendar import is_workday
from bidding_service.awards.pipeline import publish_award
from bidding_service.awards.views import ranking_public
from bidding_service.budget import service as budget
from bidding_service.eligibility import repository as eligibility_repo
from bidding_service.eligibility import service as eligibility
from bidding_service.methods import repository as repo
from bidding_service.methods import rotation
from bidding_service.methods.domain import check_direct_member, next_turn
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds.domain import (
    DEFAULT_ACCEPTANCE_SECONDS,
    Method,
    RoundStatus,
    acceptance_deadline,
    check_amount_bounds,
    check_pool_active,
)
from bidding_service.rounds.views import round_public
from bidding_service.schemas import LaunchRound
from shared.auth import Principal
from shared.db import Conn
from shared.errors import Conflict, Invalid, NotFound
from shared.idempotency import Outcome, once
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)

MEMBER_STATUSES = ("admitted", "suspended")


def acceptance(cmd: LaunchRound) -> dict[str, Any]:
    """The round's acceptance window: working days, or seconds (default 3 days)."""
    if cmd.acceptance_working_days is not None:
        return {"acceptance_seconds": None,
                "acceptance_working_days": cmd.acceptance_working_days}
    return {"acceptance_seconds": cmd.acceptance_seconds or DEFAULT_ACCEPTANCE_SECONDS,
            "acceptance_working_days": None}


async def check_window(conn: Conn, cmd: LaunchRound, from_: datetime) -> None:
    """A window in working days must lie within the official calendar's known years
    (counted from `from_`, when the first award can be published): else 422."""
    if cmd.acceptance_working_days is None:
        return
    _, zone = await rounds_repo.clock_zone(conn)
    try:
        acceptance_deadline(from_, ZoneInfo(zone), seconds=None,
                            working_days=cmd.acceptance_working_days, is_workday=is_workday)
    except OverflowError:
        raise Invalid("the acceptance window would end after the last representable date",
                      [{"loc": ["acceptance_working_days"], "msg": "window out of range"}],
                      slug="calendar-unknown") from None


async def launch(db: asyncpg.Pool, cmd: LaunchRound, caller: Principal,
                 idempotency_key: str | None, fingerprint: str, *,
                 budget_reply_seconds: int | None = None) -> Outcome:
    """A direct selection or a rotation: the round is created awarded, with its one
    award (no invitation notice: the result notice is its publication). With
    `budget_reply_seconds` (BUDGET_RESERVATION=required) it waits in `pending_budget`
    and gets its award when finance reserves the amount (`methods.award`)."""
    assert cmd.amount is not None
    amount = cmd.amount
    async with UnitOfWork(db, SOURCE) as uow:
        async def action() -> Outcome:
            conn = uow.conn
            await eligibility.lock_for_launch(conn, cmd.pool_id)
            pool = await eligibility_repo.get_pool(conn, cmd.pool_id)
            if pool is None:
                raise Invalid("no such pool is known to the bidding service",
                              [{"loc": ["pool_id"], "msg": "unknown pool"}],
                              slug="unknown-pool")
            now, today = await rounds_repo.clock(conn)
            check_pool_active(pool, today)
            check_amount_bounds(amount, pool, "amount")
            await check_window(conn, cmd, now)
            period: int | None = None
            pending = budget_reply_seconds is not None
            if cmd.method is Method.DIRECT_SELECTION:
                assert cmd.supplier_id is not None
                member = await eligibility_repo.member(conn, cmd.pool_id, cmd.supplier_id)
                check_direct_member(None if member is None else member["status"])
                assert member is not None
                invited = [member]
            elif pending:
                invited = []  # the rotation picks its supplier once the budget is reserved
            else:
                chosen = await rotation.choose(conn, cmd.pool_id, None)
                if chosen is None:
                    raise Conflict("no member of the pool is eligible for a rotation award",
                                   slug="nobody-eligible")
                member, period = chosen.member, chosen.period
                invited = [member]
            round_id = uuid.uuid4()
            status = RoundStatus.PENDING_BUDGET if pending else RoundStatus.AWARDED
            await rounds_repo.insert_round(conn, {
                "id": round_id, "pool_id": pool.pool_id, "pool_code": pool.code,
                "pool_name": pool.name, "title": cmd.title, "description": cmd.description,
                "buyer_org": cmd.buyer.org, "buyer_name": cmd.buyer.name,
                "budget_line": cmd.budget_line, "ceiling_price": amount,
                "opens_at": now, "closes_at": now, "closed_at": None if pending else now,
                "min_bids": 1, "sme_price_deduction": 0, "disclosure": "sealed",
                "min_decrement": None, "extension": None, **acceptance(cmd),
                "status": status.value, "launched_by": caller.sub,
                "method": cmd.method.value, "justification": cmd.justification,
                "invited_count": 1,
            }, invited)
            r = await rounds_repo.get_round(conn, round_id)
            assert r is not None
            body = round_public(r)
            uow.emit("round.launched", round_id, {
                **body, "invited_supplier_ids": [str(m["supplier_id"]) for m in invited]})
            uow.audit(caller.sub, caller.role.value, "round.launched", f"/v1/rounds/{round_id}",
                      {"pool_id": str(pool.pool_id), "method": cmd.method.value})
            if budget_reply_seconds is not None:
                await budget.request_reservation(uow, r, budget_reply_seconds, caller.sub,
                                                 caller.role.value)
                log.info("round_launched", round_id=str(round_id), method=cmd.method.value,
                         status=status.value)
                return Outcome(201, {**body, "bid_count": 0, "bidder_count": 0,
                                     "budget": await budget.budget_of(conn, round_id)},
                               f"/v1/rounds/{round_id}")
            result = await awards_repo.insert_result(conn, round_id, invited[0], amount)
            shown = await publish_award(uow, r, result, rotation_period=period)
            log.info("round_launched", round_id=str(round_id), method=cmd.method.value)
            results = await awards_repo.results(conn, round_id)
            return Outcome(201, {**body, "bid_count": 0, "bidder_count": 0,
                                 "award": shown,
                                 "ranking": ranking_public(results),
                                 "budget": None},
                           f"/v1/rounds/{round_id}")

        return await once(uow, caller.caller_key, idempotency_key, fingerprint, action)


async def rotation_view(db: asyncpg.Pool, pool_id: uuid.UUID) -> dict[str, Any]:
    """The pool's rotation order, who was served in the current period, and who the rule
    gives the next rotation award to."""
    async with db.acquire() as conn:
        if await eligibility_repo.get_pool(conn, pool_id) is None:
            raise NotFound("the pool")
        return await _view(conn, pool_id)


async def _view(conn: Conn, pool_id: uuid.UUID) -> dict[str, Any]:
    period = await repo.current_period(conn, pool_id)
    rows = await repo.order(conn, pool_id, period, None)
    choice = next_turn(rotation.turns(rows))
    return {"pool_id": str(pool_id), "period": period,
            "order": [{"supplier_id": str(x["supplier_id"]), "served": x["served"]}
                      for x in rows],
            "next_supplier_id": None if choice.supplier_id is None else str(choice.supplier_id)}


async def set_rotation(db: asyncpg.Pool, pool_id: uuid.UUID, order: list[uuid.UUID],
                       caller: Principal) -> dict[str, Any]:
    """The center sets the order: every id a member of the pool, each once; members not
    named (and those admitted later) follow in their order of admission."""
    if len(set(order)) != len(order):
        raise Invalid("each supplier may appear once in the order",
                      [{"loc": ["order"], "msg": "a supplier id is repeated"}])
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        if await eligibility_repo.get_pool(conn, pool_id) is None:
            raise NotFound("the pool")
        await repo.lock_rotation(conn, pool_id)
        for i, supplier_id in enumerate(order):
            m = await eligibility_repo.member(conn, pool_id, supplier_id)
            if m is None or m["status"] not in MEMBER_STATUSES:
                raise Invalid(f"supplier {supplier_id} is not an admitted member of the pool",
                              [{"loc": ["order", i], "msg": "not an admitted member"}],
                              slug="not-a-member")
            await repo.add_member(conn, pool_id, supplier_id, await rounds_repo.now(conn))
        await repo.set_order(conn, pool_id, order)
        uow.audit(caller.sub, caller.role.value, "rotation.set", f"/v1/pools/{pool_id}/rotation",
                  {"order": [str(s) for s in order]})
        return await _view(conn, pool_id)
