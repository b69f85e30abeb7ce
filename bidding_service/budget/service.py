"""Use cases of the budget loop (finance.md): the reservation at launch, finance's
answers, the commit on acceptance, the one release, payments, the reply deadline.

The hooks other capabilities call, each inside their own unit of work:
- `request_reservation` (rounds/service.launch_round, BUDGET_REPLY_SECONDS)
- `round_released` the ONE place a round leaves `pending_budget` for good (see there)
- `award_accepted` (awards/service.accept_award): `budget.commit.requested`
- `round_ended` (a failed or cancelled round, a cancelled award): the one release
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import structlog

from bidding_service import ocds
from bidding_service.awards import repository as awards_repo
from bidding_service.awards.commitment import commit_round
from bidding_service.bids.sealed import Sealer
from bidding_service.budget import repository as repo
from bidding_service.budget.domain import (
    BUDGET_LATE,
    BUDGET_REFUSED,
    BUDGET_TIMEOUT,
    PRICE_COMPETITION,
    Effect,
    ReservationStatus,
    needs_release,
    on_committed,
    on_refused,
    on_released,
    on_reserved,
    opening,
    round_method,
)
from bidding_service.budget.views import money, reservation_public
from bidding_service.methods import award as methods_award
from bidding_service.notices import service as notices
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds.domain import RoundStatus
from bidding_service.rounds.views import round_public
from shared.db import Conn
from shared.errors import NotFound
from shared.metrics import Metrics
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)

# The bidding service's event source (as rounds/service.SOURCE, which imports this module).
SOURCE = "/bidding-service"
FINANCE = "finance"  # the actor of the audit entries of finance's answers


# ---------------------------------------------------------------- launch


def requested_amount(r: asyncpg.Record) -> Decimal:
    """finance.md 1: what a round reserves. The branch point of the methods."""
    # A price competition reserves its ceiling; a direct selection or rotation round
    # keeps its fixed award amount in the same column (methods/service.py).
    return Decimal(r["ceiling_price"])


async def request_reservation(uow: UnitOfWork, r: asyncpg.Record, reply_seconds: int,
                              actor: str, role: str) -> asyncpg.Record:
    """A round launched with BUDGET_RESERVATION=required (it is `pending_budget`): the
    reservation and `budget.reservation.requested`, with its `reply_by` deadline."""
    res = await repo.insert_reservation(uow.conn, uuid.uuid4(), r["id"], r["budget_line"],
                                        requested_amount(r), reply_seconds)
    uow.emit("budget.reservation.requested", r["id"], {
        "reservation_id": str(res["id"]), "round_id": str(r["id"]),
        "budget_line": r["budget_line"],
        "buyer": {"org": r["buyer_org"], "name": r["buyer_name"]},
        "amount": money(res["amount"]), "currency": res["currency"],
        "reply_by": res["reply_by"].isoformat()})
    uow.audit(actor, role, "budget.reservation.requested", _subject(res),
              {"round_id": str(r["id"]), "amount": money(res["amount"]),
               "budget_line": r["budget_line"], "reply_by": res["reply_by"].isoformat()})
    return res


async def round_released(uow: UnitOfWork, round_id: uuid.UUID) -> None:
    """THE one place a round leaves `pending_budget` to go ahead: a reserved price
    competition now `scheduled`/`open`, or a direct selection/rotation round awarded on
    its reservation. Whatever must happen exactly then (the public notices' and OCDS's
    "invitation/tender" releases) is called from here, in the same unit of work."""
    await notices.publish_invitation(uow.conn, round_id)
    r = await rounds_repo.get_round(uow.conn, round_id)
    assert r is not None
    await ocds.publish_round_tender(uow.conn, round_public(r))
    log.info("round_released_by_budget", round_id=str(round_id))


# ---------------------------------------------------------------- finance's answers


async def reserved(uow: UnitOfWork, reservation_id: uuid.UUID, round_id: uuid.UUID,
                   reserved_amount: Decimal, at: datetime, min_duration_seconds: int,
                   sealer: Sealer) -> Effect:
    res, r = await _locked(uow.conn, reservation_id, round_id)
    waiting = r["status"] == RoundStatus.PENDING_BUDGET
    effect = on_reserved(repo.as_reservation(res), reserved_amount, waiting)
    _audit_answer(uow, res, "budget.reserved", effect,
                  {"reserved_amount": money(reserved_amount), "at": at.isoformat()})
    if effect is Effect.IGNORE:
        return effect
    if effect is Effect.SHORT:
        res = await repo.update(uow.conn, res["id"], status=ReservationStatus.REFUSED.value,
                                reserved_amount=reserved_amount, answered_at=at,
                                reason=f"reserved {money(reserved_amount)} of "
                                       f"{money(res['amount'])}")
        await _cancel_pending(uow, r, BUDGET_REFUSED, res["reason"], sealer)
        await _request_release(uow, res, "reserved amount below the requested amount")
        return effect
    res = await repo.update(uow.conn, res["id"], status=ReservationStatus.RESERVED.value,
                            reserved_amount=reserved_amount, answered_at=at)
    if effect is Effect.LATE:
        # Recorded, the round left as it is, and released: no money stays blocked.
        await _request_release(uow, res, "round no longer waiting for the budget")
        return effect
    await _go_ahead(uow, r, res, min_duration_seconds, sealer)
    return effect


async def _go_ahead(uow: UnitOfWork, r: asyncpg.Record, res: asyncpg.Record,
                    min_duration_seconds: int, sealer: Sealer) -> None:
    """The reservation covers the round: what the round's method does next."""
    conn = uow.conn
    method = round_method(r.get("method"))
    if method != PRICE_COMPETITION:
        # finance.md 2: a direct selection or rotation round gets its award now (a
        # rotation picks its supplier at this moment), through the award pipeline.
        if not await methods_award.award_reserved(uow, r):
            await rounds_repo.set_status(conn, r["id"], RoundStatus.FAILED, "no_eligible_supplier")
            uow.emit("round.failed", r["id"], {"round_id": str(r["id"]),
                                                "reason": "no_eligible_supplier"})
            await _request_release(uow, res, "no eligible supplier when the budget was reserved")
            return
        await round_released(uow, r["id"])
        return
    now = await rounds_repo.now(conn)
    start = opening(r["opens_at"], r["closes_at"], now, min_duration_seconds)
    if start is None:
        await _cancel_pending(uow, r, BUDGET_LATE, "reserved too late to leave the round "
                              f"{min_duration_seconds} s before its close", sealer)
        await _request_release(uow, res, BUDGET_LATE)
        return
    status = RoundStatus.OPEN if start.open_now else RoundStatus.SCHEDULED
    await rounds_repo.open_after_budget(conn, r["id"], status, start.opens_at)
    uow.audit(FINANCE, "system", f"round.{status.value}", f"/v1/rounds/{r['id']}",
              {"reservation_id": str(res["id"]), "opens_at": start.opens_at.isoformat()})
    await round_released(uow, r["id"])


async def refused(uow: UnitOfWork, reservation_id: uuid.UUID, round_id: uuid.UUID,
                  reason: str, at: datetime, sealer: Sealer) -> Effect:
    res, r = await _locked(uow.conn, reservation_id, round_id)
    effect = on_refused(repo.as_reservation(res), r["status"] == RoundStatus.PENDING_BUDGET)
    _audit_answer(uow, res, "budget.refused", effect, {"reason": reason, "at": at.isoformat()})
    if effect is Effect.IGNORE:
        return effect
    await repo.update(uow.conn, res["id"], status=ReservationStatus.REFUSED.value,
                      reason=reason, answered_at=at)
    if effect is Effect.REFUSE:
        await _cancel_pending(uow, r, BUDGET_REFUSED, reason, sealer)
    return effect


async def committed(uow: UnitOfWork, reservation_id: uuid.UUID, award_id: uuid.UUID,
                    committed_amount: Decimal, released_amount: Decimal, at: datetime,
                    ) -> Effect:
    res = await _reservation(uow.conn, reservation_id)
    effect = on_committed(repo.as_reservation(res), award_id)
    _audit_answer(uow, res, "budget.committed", effect, {
        "award_id": str(award_id), "committed_amount": money(committed_amount),
        "released_amount": money(released_amount), "at": at.isoformat()})
    if effect is Effect.COMMITTED:
        await repo.update(uow.conn, res["id"], status=ReservationStatus.COMMITTED.value,
                          committed_amount=committed_amount, released_amount=released_amount,
                          committed_award_id=award_id)
    return effect


async def released(uow: UnitOfWork, reservation_id: uuid.UUID, released_amount: Decimal,
                   at: datetime) -> Effect:
    res = await _reservation(uow.conn, reservation_id)
    effect = on_released(repo.as_reservation(res))
    _audit_answer(uow, res, "budget.released", effect,
                  {"released_amount": money(released_amount), "at": at.isoformat()})
    if effect is Effect.RELEASED:
        total = (res["released_amount"] or Decimal(0)) + released_amount
        fields: dict[str, Any] = {"released_amount": total}
        if res["committed_amount"] is not None:
            # A committed reservation released (its award cancelled): nothing stays
            # committed of what came back.
            fields["committed_amount"] = max(Decimal(0), (res["reserved_amount"]
                                                          or Decimal(0)) - total)
        fields["status"] = ReservationStatus.RELEASED.value
        await repo.update(uow.conn, res["id"], **fields)
    return effect


async def payment_recorded(uow: UnitOfWork, payment_id: str, award_id: uuid.UUID,
                           round_id: uuid.UUID, amount: Decimal, paid_at: datetime) -> bool:
    """finance.md 5: a payment on an accepted award, recorded once (even above the
    award's amount: the award then shows `overpaid`)."""
    award = await repo.award_for_payment(uow.conn, award_id)
    if award is None or award["round_id"] != round_id:
        raise NotFound("the award of this payment")
    if award["status"] != "accepted":
        raise NotFound("an accepted award for this payment")
    fresh = await repo.insert_payment(uow.conn, payment_id, award_id, round_id, amount,
                                      paid_at)
    if fresh:
        uow.audit(FINANCE, "system", "payment.recorded", f"/v1/awards/{award_id}",
                  {"payment_id": payment_id, "amount": money(amount),
                   "paid_at": paid_at.isoformat()})
    return fresh


# ---------------------------------------------------------------- the round's end


async def award_accepted(uow: UnitOfWork, award_id: uuid.UUID) -> None:
    """finance.md 3: commit the reservation to the accepted award's amount (replacing an
    earlier commit of the same reservation after a corrected award)."""
    award = await awards_repo.get_award(uow.conn, award_id)
    assert award is not None
    res = await repo.of_round(uow.conn, award["round_id"], lock=True)
    if res is None:
        return  # launched with BUDGET_RESERVATION=off
    res = await repo.update(uow.conn, res["id"], commit_award_id=award_id,
                            commit_requested_at=await rounds_repo.now(uow.conn))
    uow.emit("budget.commit.requested", award["round_id"], {
        "reservation_id": str(res["id"]), "round_id": str(award["round_id"]),
        "award_id": str(award_id), "amount": money(award["amount"]),
        "supplier": {"id": str(award["supplier_id"]), "name": award["supplier_name"],
                     "credit_code": award["credit_code"]}})
    uow.audit("bidding-service", "system", "budget.commit.requested", _subject(res),
              {"award_id": str(award_id), "amount": money(award["amount"])})


async def round_ended(uow: UnitOfWork, round_id: uuid.UUID, reason: str) -> None:
    """The round ended without an accepted award (failed, cancelled, or its accepted
    award cancelled without `reaward_next`): release its reservation, exactly once."""
    res = await repo.of_round(uow.conn, round_id, lock=True)
    if res is None or not needs_release(repo.as_reservation(res)):
        return
    await _request_release(uow, res, reason)


async def _request_release(uow: UnitOfWork, res: asyncpg.Record, reason: str) -> None:
    if res["release_requested_at"] is not None:
        return
    amount = (res["reserved_amount"] or Decimal(0)) - (res["released_amount"] or Decimal(0))
    res = await repo.update(uow.conn, res["id"], release_requested_at=await rounds_repo.now(
        uow.conn), release_reason=reason, release_amount=amount)
    uow.emit("budget.release.requested", res["round_id"], {
        "reservation_id": str(res["id"]), "round_id": str(res["round_id"]),
        "amount": money(amount), "reason": reason})
    uow.audit("bidding-service", "system", "budget.release.requested", _subject(res),
              {"amount": money(amount), "reason": reason})


async def _cancel_pending(uow: UnitOfWork, r: asyncpg.Record, code: str, detail: str,
                          sealer: Sealer) -> None:
    """End a `pending_budget` round: `cancelled` with the budget's reason code."""
    await rounds_repo.set_status(uow.conn, r["id"], RoundStatus.CANCELLED, code)
    committed_fields = (await commit_round(uow, sealer, r["id"])).event_fields()
    uow.emit("round.cancelled", r["id"], {"round_id": str(r["id"]), "reason": code,
                                          "detail": detail, **committed_fields})
    uow.audit("bidding-service", "system", "round.cancelled", f"/v1/rounds/{r['id']}",
              {"reason": code, "detail": detail})
    log.info("round_cancelled_by_budget", round_id=str(r["id"]), reason=code)


# ---------------------------------------------------------------- the reply deadline


async def time_out(db: asyncpg.Pool, reservation_id: uuid.UUID, metrics: Metrics,
                   sealer: Sealer) -> bool:
    """No answer by `reply_by`: the reservation `timed_out` and its round, if it still
    waits, `cancelled` (`budget_timeout`). Claimed with SKIP LOCKED, exactly once."""
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        waiting = await repo.get(conn, reservation_id)
        if waiting is None:
            return False
        # The round first, as the answers take them (no deadlock with a late answer).
        r = await rounds_repo.get_round(conn, waiting["round_id"], lock="FOR UPDATE")
        assert r is not None
        res = await repo.claim_waiting(conn, reservation_id)
        if res is None:
            return False  # answered meanwhile, or another process holds it
        now = await rounds_repo.now(conn)
        metrics.timer_lateness.labels(action="budget_timeout").observe(
            (now - res["reply_by"]).total_seconds())
        await repo.update(conn, res["id"], status=ReservationStatus.TIMED_OUT.value)
        uow.audit("round-timer", "system", "budget.timed_out", _subject(res),
                  {"reply_by": res["reply_by"].isoformat()})
        if r["status"] == RoundStatus.PENDING_BUDGET:
            await _cancel_pending(uow, r, BUDGET_TIMEOUT, "no answer from finance by "
                                  f"{res['reply_by'].isoformat()}", sealer)
        return True


# ---------------------------------------------------------------- queries


async def budget_of(conn: Conn, round_id: uuid.UUID) -> dict[str, Any] | None:
    """The round's `budget` block (None: launched with BUDGET_RESERVATION=off)."""
    res = await repo.of_round(conn, round_id)
    return None if res is None else reservation_public(res, in_round=True)


async def budgets_of(conn: Conn, round_ids: list[uuid.UUID],
                     ) -> dict[uuid.UUID, dict[str, Any] | None]:
    found = await repo.of_rounds(conn, round_ids)
    return {rid: reservation_public(found[rid], in_round=True) if rid in found else None
            for rid in round_ids}


async def payments_of(conn: Conn, awards: list[dict[str, Any]]) -> None:
    """Add `amount_paid`, `payments` and `overpaid` to award bodies, in place."""
    paid = await repo.payments(conn, [uuid.UUID(a["id"]) for a in awards])
    for a in awards:
        rows = paid.get(uuid.UUID(a["id"]), [])
        total = sum((p["amount"] for p in rows), Decimal(0))
        a["amount_paid"] = money(total)
        a["payments"] = [{"payment_id": p["payment_id"], "amount": money(p["amount"]),
                          "paid_at": p["paid_at"].isoformat()} for p in rows]
        a["overpaid"] = total > Decimal(a["amount"])


async def list_reservations(db: asyncpg.Pool, *, status: str | None, budget_line: str | None,
                            after: tuple[datetime, uuid.UUID] | None, limit: int,
                            ) -> tuple[list[dict[str, Any]], tuple[datetime, uuid.UUID] | None]:
    async with db.acquire() as conn:
        rows = await repo.list_reservations(conn, status=status, budget_line=budget_line,
                                            after=after, limit=limit)
    last = rows[limit - 1] if len(rows) > limit else None
    return [reservation_public(r) for r in rows[:limit]], \
        (last["requested_at"], last["id"]) if last is not None else None


# ---------------------------------------------------------------- helpers


async def _reservation(conn: Conn, reservation_id: uuid.UUID) -> asyncpg.Record:
    res = await repo.get(conn, reservation_id, lock=True)
    if res is None:
        # Not ours (or not yet: never, a reservation is committed before its request is
        # sent): the consumer rejects it to the queue's .dlq.
        raise NotFound("the budget reservation")
    return res


async def _locked(conn: Conn, reservation_id: uuid.UUID, round_id: uuid.UUID,
                  ) -> tuple[asyncpg.Record, asyncpg.Record]:
    """The round, then its reservation, locked (the order every use case takes)."""
    r = await rounds_repo.get_round(conn, round_id, lock="FOR UPDATE")
    res = await repo.get(conn, reservation_id, lock=True)
    if r is None or res is None or res["round_id"] != round_id:
        raise NotFound("the budget reservation")
    return res, r


def _subject(res: asyncpg.Record) -> str:
    return f"/v1/budget/reservations/{res['id']}"


def _audit_answer(uow: UnitOfWork, res: asyncpg.Record, action: str, effect: Effect,
                  details: dict[str, Any]) -> None:
    uow.audit(FINANCE, "system", action, _subject(res),
              {"round_id": str(res["round_id"]), "effect": effect.value, **details})
