"""The one award pipeline: every award of every method is created here
(`publish_award`), and every award that ends without a contract (decline, expiry,
rejection, cancellation with `reaward_next`) passes the round on from here
(`award_next`): the next-ranked valid bidder of a price competition, the next supplier
in the rotation order, or nobody for a direct selection."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
import structlog

from bidding_service.awards import repository as repo
from bidding_service.awards.calendar import is_workday_or_weekday
from bidding_service.awards.domain import AwardStatus, Prices, abnormally_low
from bidding_service.awards.views import award_public
from bidding_service.budget import service as budget
from bidding_service.eligibility import service as eligibility
from bidding_service.methods import rotation
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds.domain import Method, RoundStatus, acceptance_deadline
from shared.db import Conn
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)

# award.published carries the head of the ranking; the rest is paged at its ranking_url.
EVENT_RANKING_ENTRIES = 100


def accept_by(r: asyncpg.Record, now: datetime, zone: str) -> datetime:
    """The acceptance deadline of an award of round `r` published (or confirmed) now."""
    return acceptance_deadline(now, ZoneInfo(zone), seconds=r["acceptance_seconds"],
                               working_days=r["acceptance_working_days"],
                               is_workday=is_workday_or_weekday)


async def publish_award(uow: UnitOfWork, r: asyncpg.Record, result: asyncpg.Record, *,
                        rotation_period: int | None = None,
                        head_at_commit: bool = False, prices: Prices | None = None,
                        clock: tuple[datetime, str] | None = None) -> dict[str, Any]:
    """Create the award of `result` (a row of the round's ranking), publish its notice;
    returns the award as the API shows it.

    A price competition's award is checked for an abnormally low price against the
    valid bids of the bidders not yet awarded in the round (`prices`, when the caller
    has them from the statement that stored the ranking; else asked here); with
    `abnormal_price_review` such an award waits for the center (`pending_review`, no
    acceptance window yet). The award is published at `clock` (the database's time and
    the jurisdiction's zone, when the caller has them from this transaction), or now.

    The award, its event and its notice carry the audit head with this transaction's
    entries. By default they are appended here and the chain stays locked to the commit;
    `head_at_commit` (the close) leaves the append to the commit, as late as it can be,
    and the head is written into the award, its event and its notice then (and into the
    returned dict: read it only after the commit)."""
    conn = uow.conn
    method = Method(r["method"])
    low: bool | None = None
    if method is Method.PRICE_COMPETITION:
        others, mean, lowest = prices if prices is not None \
            else await repo.unawarded_prices(conn, r["id"], result["rank"])
        low = abnormally_low(result["evaluated_amount"], others, mean, lowest)
    pending = bool(low) and r["abnormal_price_review"]
    now, zone = clock if clock is not None else await rounds_repo.clock_zone(conn)
    award_id = uuid.uuid4()
    award = await repo.insert_award(conn, award_id, r, result, {
        "status": (AwardStatus.PENDING_REVIEW if pending else AwardStatus.PUBLISHED).value,
        "accept_by": None if pending else accept_by(r, now, zone),
        "method": method.value, "justification": r["justification"],
        "abnormally_low": low, "rotation_period": rotation_period},
        now, EVENT_RANKING_ENTRIES)
    shown = award_public(award)
    data = {**shown,
            "pool": {"id": str(r["pool_id"]), "code": r["pool_code"], "name": r["pool_name"]},
            # Built by the database; embedded as is (100,000 bidders never pass through Python).
            "ranking": orjson.Fragment(award["ranking"]),
            "ranking_size": int(award["ranking_size"]),
            "ranking_url": f"/v1/rounds/{r['id']}/ranking"}
    if head_at_commit:
        event = uow.emit("award.published", award_id, data, audit_head=True)
        uow.at_audit_head(_stamp_awards, (award_id, event.id, shown))
    else:
        # The audit head with this transaction's entries (the close's bid entries among
        # them); taken last, so the chain's lock is held only to the commit, and the
        # award is not read again under it: the head is put into its view.
        seq, head_hash = await uow.flush_audit()
        await repo.stamp_awards_audit_head(conn, [award_id], [], seq, head_hash)
        shown["audit_head"] = data["audit_head"] = {"seq": seq, "hash": head_hash}
        uow.emit("award.published", award_id, data)
    if low:
        log.info("award_abnormally_low", round_id=str(r["id"]), award_id=str(award_id),
                 pending_review=pending)
    return shown


async def _stamp_awards(conn: Conn,
                        awards: list[tuple[uuid.UUID, uuid.UUID, dict[str, Any]]],
                        seq: int, head_hash: str) -> None:
    """The head at commit into the awards published by the transaction, their result
    notices (each notice's id is its award event's) and their returned views."""
    await repo.stamp_awards_audit_head(conn, [a[0] for a in awards], [a[1] for a in awards],
                                       seq, head_hash)
    for *_, shown in awards:
        shown["audit_head"] = {"seq": seq, "hash": head_hash}


async def award_next(uow: UnitOfWork, r: asyncpg.Record, after: asyncpg.Record) -> bool:
    """Award round `r` to whoever comes after award `after` by the round's method;
    False when nobody is left (the caller fails or cancels the round)."""
    method = Method(r["method"])
    if method is Method.PRICE_COMPETITION:
        result = await eligibility.next_admitted_result(uow, r, after["rank"] + 1)
        if result is None:
            return False
        await publish_award(uow, r, result)
        return True
    if method is Method.ROTATION:
        turn = await rotation.next_result(uow.conn, r)
        if turn is None:
            return False
        await publish_award(uow, r, turn.result, rotation_period=turn.period)
        return True
    return False  # direct selection: there is no runner-up


def decision_event(award: asyncpg.Record, at: datetime, **fields: Any) -> dict[str, Any]:
    """The data of award.declined/expired/cancelled/rejected/confirmed."""
    return {"award_id": str(award["id"]), "round_id": str(award["round_id"]),
            "supplier_id": str(award["supplier_id"]), "at": at.isoformat(),
            **{k: v for k, v in fields.items() if v is not None}}


async def pass_on(uow: UnitOfWork, award: asyncpg.Record, status: AwardStatus,
                  reason: str | None, **fields: Any) -> asyncpg.Record:
    """Record an award's end without a contract (declined, expired, rejected, cancelled
    with `reaward_next`), then award the next one by the round's method or fail the
    round. Returns the round row (locked)."""
    conn = uow.conn
    r = await rounds_repo.get_round(conn, award["round_id"], lock="FOR UPDATE")
    assert r is not None
    at = await repo.decide_award(conn, award["id"], status, reason, fields.get("reason_code"),
                                 fields.get("note"))
    uow.emit(f"award.{status.value}", award["id"],
             decision_event(award, at, reason=reason, **fields))
    if await award_next(uow, r, award):
        await rounds_repo.set_status(conn, r["id"], RoundStatus.REAWARDED)
    else:
        await rounds_repo.set_status(conn, r["id"], RoundStatus.FAILED, "no_acceptance")
        uow.emit("round.failed", r["id"], {"round_id": str(r["id"]), "reason": "no_acceptance"})
        await budget.round_ended(uow, r["id"], "no_acceptance")
    log.info("award_passed_on", round_id=str(r["id"]), award_id=str(award["id"]),
             status=status.value)
    return r
