"""Use cases of the bidding service: one async function per command or query."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
import structlog

from bidding_service import amounts, eligibility, repo_timer
from bidding_service import repository as repo
from bidding_service.commitment import commit_round
from bidding_service.domain import (
    BIDDING_STATUSES,
    PUBLIC_STATUSES,
    AwardStatus,
    Candidate,
    Disclosure,
    Extension,
    LaunchTerms,
    RoundStatus,
    bid_refusal,
    check_bid_amount,
    check_launch,
    extends_close,
    in_extension_window,
    own_rank,
    required_decrement,
)
from bidding_service.schemas import LaunchRound
from bidding_service.sealed import Sealer
from shared.auth import Principal, Role
from shared.db import Conn
from shared.idempotency import Outcome, once
from shared.metrics import Metrics
from shared.problems import conflict, forbidden, not_found, unauthorized, unprocessable
from shared.types import format_money
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)

SOURCE = "/bidding-service"
# award.published carries the head of the ranking; the rest is paged at its ranking_url.
EVENT_RANKING_ENTRIES = 100


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Decimal | None) -> str | None:
    return format_money(value) if value is not None else None


def _extension(r: asyncpg.Record) -> Extension | None:
    if r["ext_window_seconds"] is None:
        return None
    return Extension(r["ext_window_seconds"], r["ext_extend_seconds"], r["ext_max_extensions"])


def round_public(r: asyncpg.Record) -> dict[str, Any]:
    """The round without any bid information: what everyone entitled to it may see."""
    ext = _extension(r)
    return {
        "id": str(r["id"]),
        "pool": {"id": str(r["pool_id"]), "code": r["pool_code"], "name": r["pool_name"]},
        "title": r["title"],
        "description": r["description"],
        "buyer": {"org": r["buyer_org"], "name": r["buyer_name"]},
        "budget_line": r["budget_line"],
        "ceiling_price": _money(r["ceiling_price"]),
        "opens_at": _iso(r["opens_at"]),
        "closes_at": _iso(r["closes_at"]),
        "min_bids": r["min_bids"],
        "sme_price_deduction": str(r["sme_price_deduction"].normalize()),
        "disclosure": r["disclosure"],
        "min_decrement": _money(r["min_decrement"]),
        "extension": None if ext is None else {
            "window_seconds": ext.window_seconds, "extend_seconds": ext.extend_seconds,
            "max_extensions": ext.max_extensions},
        "extensions_used": r["extensions_used"],
        "acceptance_seconds": r["acceptance_seconds"],
        "status": r["status"],
        "status_reason": r["status_reason"],
        "invited_count": r["invited_count"],
        "launched_at": _iso(r["launched_at"]),
        "closed_at": _iso(r["closed_at"]),
        "bids_root": r["bids_root"],
        "bids_tree_size": r["bids_tree_size"],
    }


def award_public(a: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(a["id"]),
        "round_id": str(a["round_id"]),
        "pool_id": str(a["pool_id"]),
        "status": a["status"],
        "supplier": {"id": str(a["supplier_id"]), "name": a["supplier_name"],
                     "credit_code": a["credit_code"], "kind": a["kind"], "size": a["size"]},
        "amount": _money(a["amount"]),
        "evaluated_amount": _money(a["evaluated_amount"]),
        "currency": "CNY",
        "buyer": {"org": a["buyer_org"], "name": a["buyer_name"]},
        "budget_line": a["budget_line"],
        "rank": a["rank"],
        "bid_count": a["bid_count"],
        "invited_count": a["invited_count"],
        "awarded_at": _iso(a["awarded_at"]),
        "accept_by": _iso(a["accept_by"]),
        "decided_at": _iso(a["decided_at"]),
        "decision_reason": a["decision_reason"],
        "bids_root": a["bids_root"],
        "bids_tree_size": a["bids_tree_size"],
        "audit_head": None if a["audit_seq"] is None else {
            "seq": a["audit_seq"], "hash": a["audit_hash"]},
    }


def _ranking_public(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [{"rank": x["rank"], "supplier_id": str(x["supplier_id"]), "supplier_name": x["name"],
             "amount": _money(x["amount"]), "evaluated_amount": _money(x["evaluated_amount"]),
             "skipped_reason": x["skipped_reason"]}
            for x in rows]


# ---------------------------------------------------------------- launch


async def launch_round(db: asyncpg.Pool, cmd: LaunchRound, caller: Principal,
                       min_duration_seconds: int, idempotency_key: str | None,
                       fingerprint: str) -> Outcome:
    async with UnitOfWork(db, SOURCE) as uow:
        async def action() -> Outcome:
            conn = uow.conn
            await eligibility.lock_for_launch(conn, cmd.pool_id)
            pool = await repo.get_pool(conn, cmd.pool_id)
            if pool is None:
                raise unprocessable("no such pool is known to the bidding service",
                                    [{"loc": ["pool_id"], "msg": "unknown pool"}],
                                    slug="unknown-pool")
            invited = await repo.admitted_members(conn, cmd.pool_id)
            now, today = await repo.clock(conn)
            terms = LaunchTerms(cmd.ceiling_price, cmd.opens_at, cmd.closes_at, cmd.min_bids)
            opens_at = check_launch(terms, pool, len(invited), now, min_duration_seconds,
                                    today=today)
            round_id = uuid.uuid4()
            ext = cmd.extension
            await repo.insert_round(conn, {
                "id": round_id, "pool_id": pool.pool_id, "pool_code": pool.code,
                "pool_name": pool.name, "title": cmd.title, "description": cmd.description,
                "buyer_org": cmd.buyer.org, "buyer_name": cmd.buyer.name,
                "budget_line": cmd.budget_line, "ceiling_price": cmd.ceiling_price,
                "opens_at": opens_at, "closes_at": cmd.closes_at, "min_bids": cmd.min_bids,
                "sme_price_deduction": cmd.sme_price_deduction,
                "disclosure": cmd.disclosure.value, "min_decrement": cmd.min_decrement,
                "extension": None if ext is None else Extension(
                    ext.window_seconds, ext.extend_seconds, ext.max_extensions),
                "acceptance_seconds": cmd.acceptance_seconds,
                "status": (RoundStatus.OPEN if opens_at <= now else RoundStatus.SCHEDULED).value,
                "launched_by": caller.sub,
            }, invited)
            row = await repo.get_round(conn, round_id)
            assert row is not None
            body = round_public(row)
            uow.emit("round.launched", round_id, {
                **body, "invited_supplier_ids": [str(m["supplier_id"]) for m in invited]})
            uow.audit(caller.sub, caller.role.value, "round.launched", f"/v1/rounds/{round_id}",
                      {"pool_id": str(pool.pool_id), "invited": len(invited)})
            log.info("round_launched", round_id=str(round_id), invited=len(invited))
            return Outcome(201, {**body, "bid_count": 0, "bidder_count": 0},
                           f"/v1/rounds/{round_id}")

        return await once(uow, caller.caller_key, idempotency_key, fingerprint, action)


# ---------------------------------------------------------------- bids


async def submit_bid(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal, amount: Decimal,
                     idempotency_key: str | None, fingerprint: str, metrics: Metrics,
                     sealer: Sealer) -> Outcome:
    """Take a bid iff it commits while the round is open by the database clock."""
    supplier_id = caller.supplier_id
    assert supplier_id is not None
    async with UnitOfWork(db, SOURCE) as uow:
        async def action() -> Outcome:
            conn = uow.conn
            # Key-share lock: many bids at once, but the close (FOR UPDATE) waits for all
            # of them, and bids arriving after the close see it closed.
            r = await conn.fetchrow(
                "SELECT status, pool_id, opens_at, closes_at, ceiling_price, min_decrement,"
                " ext_window_seconds, ext_extend_seconds, ext_max_extensions, extensions_used,"
                " best_ct FROM rounds WHERE id = $1 FOR KEY SHARE", round_id)
            if r is None:
                raise not_found("the round")
            decrement = required_decrement(r["min_decrement"])
            if r["status"] not in BIDDING_STATUSES:
                raise await _refusal(conn, sealer, round_id, supplier_id, amount, decrement,
                                     False, pool_id=r["pool_id"])
            check_bid_amount(amount, r["ceiling_price"])
            ext = _extension(r)
            best: Decimal | None = None
            window = False
            bid_id = uuid.uuid4()
            # The previous own amount is decrypted under the invitation's row lock.
            lowered = await amounts.lower_own_bid(conn, sealer, round_id, supplier_id, bid_id,
                                                  amount, decrement)
            if lowered is not None and ext is not None \
                    and r["extensions_used"] < ext.max_extensions:
                now = await repo.now(conn)
                window = in_extension_window(ext, r["closes_at"], now)
                best = await amounts.best_before(conn, sealer, round_id, r["best_ct"], amount)
            submitted = None if lowered is None else await repo.place_bid(
                conn, round_id, supplier_id, bid_id, lowered.amount_ct, lowered.previous_bid_id,
                r["opens_at"], r["closes_at"], caller.sub, r["pool_id"])
            if submitted is None:
                raise await _refusal(conn, sealer, round_id, supplier_id, amount, decrement,
                                     True, r["opens_at"], r["closes_at"], pool_id=r["pool_id"])
            if window and extends_close(ext, r["extensions_used"], r["closes_at"], submitted,
                                        amount, best):
                assert ext is not None
                moved = await repo.extend_round(conn, round_id, ext.extend_seconds)
                if moved is not None:
                    uow.emit("round.extended", round_id, {
                        "round_id": str(round_id), "closes_at": _iso(moved["closes_at"]),
                        "extensions_used": moved["extensions_used"]})
                    log.info("round_extended", round_id=str(round_id),
                             extensions_used=moved["extensions_used"])
            body = {"id": str(bid_id), "round_id": str(round_id),
                    "supplier_id": str(supplier_id), "amount": format_money(amount),
                    "submitted_at": submitted.isoformat(), "valid": True}
            return Outcome(201, body, f"/v1/rounds/{round_id}/bids/{bid_id}")

        try:
            outcome = await once(uow, caller.caller_key, idempotency_key, fingerprint, action,
                                 sealer=sealer)
        except Exception as exc:
            metrics.bids.labels(outcome=getattr(exc, "slug", "error")).inc()
            raise
    metrics.bids.labels(outcome="accepted").inc()
    return outcome


async def _refusal(conn: Conn, sealer: Sealer, round_id: uuid.UUID, supplier_id: uuid.UUID,
                   amount: Decimal, decrement: Decimal, status_open: bool,
                   opens_at: datetime | None = None, closes_at: datetime | None = None,
                   *, pool_id: uuid.UUID) -> Exception:
    inv = await repo.invitation(conn, round_id, supplier_id)
    excluded = inv is not None and (
        inv["status"] == "excluded" or await eligibility.not_admitted(conn, pool_id, supplier_id))
    now = await repo.now(conn)
    open_now = status_open and opens_at is not None and closes_at is not None \
        and opens_at <= now < closes_at
    return bid_refusal(invited=inv is not None,
                       excluded=excluded,
                       open_now=open_now,
                       previous=amounts.last_amount(sealer, inv) if inv else None,
                       amount=amount, decrement=decrement)


# ---------------------------------------------------------------- close + evaluate


async def close_round(db: asyncpg.Pool, round_id: uuid.UUID, metrics: Metrics,
                      sealer: Sealer) -> bool:
    """Close a round whose time is up, evaluate it and award it, exactly once.

    `FOR UPDATE` waits for every bid transaction holding its key-share lock, so all bids
    that were answered 201 are committed before evaluation reads them; several
    processes racing here serialise on the lock and only the first finds it open.
    """
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        if not await repo_timer.claim_round(conn, round_id):
            return False  # closed already, or another process is closing it
        r = await repo.get_round(conn, round_id, lock="FOR UPDATE")
        if r is None or r["status"] not in BIDDING_STATUSES:
            return False
        now = await repo.now(conn)
        if r["closes_at"] > now:
            return False  # extended meanwhile
        metrics.timer_lateness.labels(action="close").observe(
            (now - r["closes_at"]).total_seconds())
        bids, bidders = await repo.bid_counts(conn, round_id)
        # Sealed amounts are decrypted here, in memory, and ranked by the domain rule.
        ranked = await amounts.ranking(conn, sealer, round_id, r["sme_price_deduction"])
        valid_bidders = len(ranked)
        committed = (await commit_round(uow, sealer, round_id,
                                        release_audit=True)).event_fields()
        uow.emit("round.closed", round_id, {"round_id": str(round_id), "closed_at": now.isoformat(),
                                            "bid_count": bids, "bidder_count": bidders,
                                            **committed})
        uow.audit("round-timer", "system", "round.closed", f"/v1/rounds/{round_id}",
                  {"bid_count": bids, "bidder_count": bidders, **committed})
        if valid_bidders < r["min_bids"]:
            await repo.mark_closed(conn, round_id, RoundStatus.FAILED, "insufficient_bids",
                                   now, bids, bidders)
            uow.emit("round.failed", round_id, {"round_id": str(round_id),
                                                "reason": "insufficient_bids"})
            log.info("round_failed", round_id=str(round_id), reason="insufficient_bids")
            return True
        await repo.mark_closed(conn, round_id, RoundStatus.AWARDED, None, now, bids, bidders)
        await amounts.store_ranking(conn, round_id, ranked)
        await _publish_award(uow, r, 1, check_eligibility=False)
        log.info("round_awarded", round_id=str(round_id), bidders=bidders)
        return True


async def _publish_award(uow: UnitOfWork, r: asyncpg.Record, rank: int, *,
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


# ---------------------------------------------------------------- acceptance


async def accept_award(db: asyncpg.Pool, award_id: uuid.UUID, caller: Principal,
                       ) -> dict[str, Any]:
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        award = await _own_award(conn, award_id, caller)
        now = await repo.now(conn)
        if now >= award["accept_by"]:
            raise conflict("the acceptance window has passed", slug="acceptance-closed")
        at = await repo.decide_award(conn, award_id, AwardStatus.ACCEPTED, None)
        await repo.set_status(conn, award["round_id"], RoundStatus.ACCEPTED)
        uow.emit("award.accepted", award_id, {
            "award_id": str(award_id), "round_id": str(award["round_id"]),
            "supplier_id": str(award["supplier_id"]), "at": at.isoformat()})
        uow.audit(caller.sub, caller.role.value, "award.accepted", f"/v1/awards/{award_id}")
        fresh = await repo.get_award(conn, award_id)
        assert fresh is not None
        return award_public(fresh)


async def decline_award(db: asyncpg.Pool, award_id: uuid.UUID, caller: Principal,
                        reason: str) -> dict[str, Any]:
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        award = await _own_award(conn, award_id, caller)
        await _refuse(uow, award, AwardStatus.DECLINED, reason)
        uow.audit(caller.sub, caller.role.value, "award.declined", f"/v1/awards/{award_id}",
                  {"reason": reason})
        fresh = await repo.get_award(conn, award_id)
        assert fresh is not None
        return award_public(fresh)


async def expire_award(db: asyncpg.Pool, award_id: uuid.UUID, metrics: Metrics) -> bool:
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        if not await repo_timer.claim_award(conn, award_id):
            return False  # decided already, or another process holds it
        award = await repo.get_award(conn, award_id, lock=True)
        if award is None or award["status"] != AwardStatus.PUBLISHED:
            return False
        now = await repo.now(conn)
        if now < award["accept_by"]:
            return False
        metrics.timer_lateness.labels(action="expire").observe(
            (now - award["accept_by"]).total_seconds())
        await _refuse(uow, award, AwardStatus.EXPIRED, "acceptance window passed")
        uow.audit("round-timer", "system", "award.expired", f"/v1/awards/{award_id}")
        return True


async def _own_award(conn: Conn, award_id: uuid.UUID, caller: Principal,
                     ) -> asyncpg.Record:
    award = await repo.get_award(conn, award_id, lock=True)
    if award is None:
        raise not_found("the award")
    if award["supplier_id"] != caller.supplier_id:
        raise forbidden("only the awarded supplier may answer this award")
    if award["status"] != AwardStatus.PUBLISHED:
        raise conflict(f"the award is already {award['status']}", slug="award-decided")
    return award


async def _refuse(uow: UnitOfWork, award: asyncpg.Record, status: AwardStatus,
                  reason: str) -> None:
    """Decline or expiry: record it, then award the next-ranked bidder or fail the round."""
    conn = uow.conn
    r = await repo.get_round(conn, award["round_id"], lock="FOR UPDATE")
    assert r is not None
    at = await repo.decide_award(conn, award["id"], status, reason)
    uow.emit(f"award.{status.value}", award["id"], {
        "award_id": str(award["id"]), "round_id": str(award["round_id"]),
        "supplier_id": str(award["supplier_id"]), "at": at.isoformat(), "reason": reason})
    if await _publish_award(uow, r, award["rank"] + 1):
        await repo.set_status(conn, r["id"], RoundStatus.REAWARDED)
    else:
        await repo.set_status(conn, r["id"], RoundStatus.FAILED, "no_acceptance")
        uow.emit("round.failed", r["id"], {"round_id": str(r["id"]), "reason": "no_acceptance"})
    log.info("award_refused", round_id=str(r["id"]), award_id=str(award["id"]),
             status=status.value)


# ---------------------------------------------------------------- cancel


async def cancel_round(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal,
                       reason: str, sealer: Sealer) -> dict[str, Any]:
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        r = await repo.get_round(conn, round_id, lock="FOR UPDATE")
        if r is None:
            raise not_found("the round")
        now = await repo.now(conn)
        if r["status"] not in BIDDING_STATUSES or now >= r["closes_at"]:
            raise conflict("only a round that has not closed can be cancelled",
                           slug="round-not-cancellable")
        await repo.set_status(conn, round_id, RoundStatus.CANCELLED, reason)
        # The commitment is published; the bids and their audit entries stay sealed.
        committed = (await commit_round(uow, sealer, round_id,
                                        release_audit=False)).event_fields()
        uow.emit("round.cancelled", round_id, {"round_id": str(round_id), "reason": reason,
                                               **committed})
        uow.audit(caller.sub, caller.role.value, "round.cancelled", f"/v1/rounds/{round_id}",
                  {"reason": reason})
        fresh = await repo.get_round(conn, round_id)
        assert fresh is not None
        return round_public(fresh)


# ---------------------------------------------------------------- views


def _may_see_round(r: asyncpg.Record, caller: Principal | None, invited: bool) -> None:
    if r["status"] in PUBLIC_STATUSES:
        return
    if caller is None:
        raise unauthorized("this round is not public until its result is published")
    if caller.role is Role.PROCUREMENT_CENTER:
        return
    if caller.role is Role.BUYER and caller.org == r["buyer_org"]:
        return
    if caller.role is Role.SUPPLIER and invited:
        return
    raise forbidden("you may not see this round")


async def round_view(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal | None,
                     sealer: Sealer) -> dict[str, Any]:
    async with db.acquire() as conn:
        r = await repo.get_round(conn, round_id)
        if r is None:
            raise not_found("the round")
        inv = None
        if caller is not None and caller.role is Role.SUPPLIER:
            assert caller.supplier_id is not None
            inv = await repo.invitation(conn, round_id, caller.supplier_id)
        _may_see_round(r, caller, inv is not None)
        return await _render_round(conn, r, caller, inv, sealer)


async def _render_round(conn: Conn, r: asyncpg.Record, caller: Principal | None,
                        inv: asyncpg.Record | None, sealer: Sealer) -> dict[str, Any]:
    body = round_public(r)
    sealed = _sealed(r)
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
                              "amount": _money(amounts.last_amount(sealer, inv)),
                              "submitted_at": _iso(inv["last_bid_at"])}
            if r["disclosure"] == Disclosure.RANK and inv["status"] == "invited":
                body["rank"] = await _own_rank(conn, r, inv, sealer)
    if r["status"] in PUBLIC_STATUSES:
        award = await repo.live_award(conn, r["id"])
        body["award"] = award_public(award) if award is not None else None
        body["ranking"] = _ranking_public(await repo.results(conn, r["id"]))
    return body


def _sealed(r: asyncpg.Record) -> bool:
    """Bids (and who made them) are sealed while open, and for good once cancelled."""
    return r["status"] in BIDDING_STATUSES or r["status"] == RoundStatus.CANCELLED


def close_health(r: asyncpg.Record) -> dict[str, Any]:
    """The timer's record of failed closes, for the center (codes only, no data)."""
    return {"close_attempts": r["close_attempts"], "last_close_error": r["last_close_error"],
            "next_close_attempt_at": _iso(r["next_close_attempt_at"])}


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
        live: dict[uuid.UUID, tuple[int, int]] = {}
        if caller.role is not Role.SUPPLIER:
            live = await repo.bid_counts_many(
                conn, [r["id"] for r in rows[:limit] if r["bid_count"] is None])
        for r in rows[:limit]:
            inv = None
            if supplier_id is not None:
                inv = await repo.invitation(conn, r["id"], supplier_id)
            body = round_public(r)
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


async def list_bids(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal,
                    after: tuple[datetime, uuid.UUID] | None, limit: int, sealer: Sealer,
                    ) -> tuple[list[dict[str, Any]], tuple[datetime, uuid.UUID] | None]:
    async with db.acquire() as conn:
        r = await repo.get_round(conn, round_id)
        if r is None:
            raise not_found("the round")
        supplier_filter: uuid.UUID | None = None
        if caller.role is Role.SUPPLIER:
            assert caller.supplier_id is not None
            if await repo.invitation(conn, round_id, caller.supplier_id) is None:
                raise forbidden("you are not invited to this round")
            supplier_filter = caller.supplier_id
        elif caller.role in (Role.PROCUREMENT_CENTER, Role.BUYER):
            if caller.role is Role.BUYER and caller.org != r["buyer_org"]:
                raise forbidden("this round is not your organisation's")
            if _sealed(r):
                raise conflict("bids are sealed until the round closes", slug="sealed")
        else:
            raise forbidden("your role may not read bids")
        rows = await repo.supplier_bids(conn, round_id, supplier_filter, after, limit)
    items = [_bid_public(b, sealer) for b in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return items, (last["submitted_at"], last["id"]) if last is not None else None


def _bid_public(b: asyncpg.Record, sealer: Sealer) -> dict[str, Any]:
    return {"id": str(b["id"]), "round_id": str(b["round_id"]),
            "supplier_id": str(b["supplier_id"]),
            "amount": _money(amounts.bid_amount(sealer, b)),
            "submitted_at": _iso(b["submitted_at"]), "valid": b["valid"]}


async def get_bid(db: asyncpg.Pool, round_id: uuid.UUID, bid_id: uuid.UUID, caller: Principal,
                  sealer: Sealer) -> dict[str, Any]:
    """Whether a bid id exists is itself sealed: a supplier asking for someone else's bid
    gets the same 404 as for no bid, and the center and buyer get 409 for a sealed round
    before the bid is even looked up."""
    async with db.acquire() as conn:
        r = await repo.get_round(conn, round_id)
        if r is None:
            raise not_found("the bid")
        owner: uuid.UUID | None = None
        if caller.role is Role.SUPPLIER:
            assert caller.supplier_id is not None
            owner = caller.supplier_id
        elif caller.role is Role.PROCUREMENT_CENTER or (
                caller.role is Role.BUYER and caller.org == r["buyer_org"]):
            if _sealed(r):
                raise conflict("bids are sealed until the round closes", slug="sealed")
        else:
            raise forbidden("you may not see this bid")
        b = await conn.fetchrow(
            "SELECT * FROM bids WHERE id = $1 AND round_id = $2"
            " AND ($3::uuid IS NULL OR supplier_id = $3)", bid_id, round_id, owner)
        if b is None:
            raise not_found("the bid")
        return _bid_public(b, sealer)


async def get_award(db: asyncpg.Pool, award_id: uuid.UUID) -> dict[str, Any]:
    async with db.acquire() as conn:
        a = await repo.get_award(conn, award_id)
    if a is None:
        raise not_found("the award")
    return award_public(a)


async def list_awards(db: asyncpg.Pool, *, pool_id: uuid.UUID | None, buyer_org: str | None,
                      after: tuple[datetime, uuid.UUID] | None, limit: int,
                      ) -> tuple[list[dict[str, Any]], tuple[datetime, uuid.UUID] | None]:
    async with db.acquire() as conn:
        rows = await repo.list_awards(conn, pool_id=pool_id, buyer_org=buyer_org, after=after,
                                      limit=limit)
    last = rows[limit - 1] if len(rows) > limit else None
    return [award_public(a) for a in rows[:limit]], \
        (last["awarded_at"], last["id"]) if last is not None else None


async def eligible(db: asyncpg.Pool, pool_id: uuid.UUID) -> dict[str, Any]:
    async with db.acquire() as conn:
        ids, as_of = await repo.eligible(conn, pool_id)
    return {"pool_id": str(pool_id), "supplier_ids": [str(i) for i in ids],
            "as_of": as_of.isoformat()}
