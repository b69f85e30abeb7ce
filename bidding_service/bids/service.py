"""Use cases of the bid path: submit a bid (sealed), and read bids back."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import structlog

from bidding_service import SOURCE
from bidding_service.bids import amounts
from bidding_service.bids import repository as repo
from bidding_service.bids.domain import bid_refusal, check_bid_amount, required_decrement
from bidding_service.bids.sealed import Sealer
from bidding_service.eligibility import service as eligibility
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds.domain import BIDDING_STATUSES, extends_close
from bidding_service.rounds.service import sealed_round
from bidding_service.rounds.views import extension, iso, money
from shared.auth import Principal, Role
from shared.db import Conn
from shared.errors import Conflict, Forbidden, NotFound
from shared.idempotency import Outcome, once
from shared.metrics import Metrics
from shared.types import format_money
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)


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
                raise NotFound("the round")
            decrement = required_decrement(r["min_decrement"])
            if r["status"] not in BIDDING_STATUSES:
                raise await _refusal(conn, sealer, round_id, supplier_id, amount, decrement,
                                     False, pool_id=r["pool_id"])
            check_bid_amount(amount, r["ceiling_price"])
            ext = extension(r)
            best: Decimal | None = None
            # Whether the best before this bid is known (the round can still be extended);
            # whether the bid falls in the last window is judged by its own commit time.
            best_known = False
            bid_id = uuid.uuid4()
            # The previous own amount is decrypted under the invitation's row lock.
            lowered = await amounts.lower_own_bid(conn, sealer, round_id, supplier_id, bid_id,
                                                  amount, decrement)
            if lowered is not None and ext is not None \
                    and r["extensions_used"] < ext.max_extensions:
                best_known = True
                best = await amounts.best_before(conn, sealer, round_id, r["best_ct"], amount)
            submitted = None if lowered is None else await repo.place_bid(
                conn, round_id, supplier_id, bid_id, lowered.amount_ct, lowered.previous_bid_id,
                r["opens_at"], r["closes_at"], caller.sub, r["pool_id"])
            if submitted is None:
                raise await _refusal(conn, sealer, round_id, supplier_id, amount, decrement,
                                     True, r["opens_at"], r["closes_at"], pool_id=r["pool_id"])
            if best_known and extends_close(ext, r["extensions_used"], r["closes_at"], submitted,
                                        amount, best):
                assert ext is not None
                moved = await rounds_repo.extend_round(conn, round_id, ext.extend_seconds)
                if moved is not None:
                    uow.emit("round.extended", round_id, {
                        "round_id": str(round_id), "closes_at": iso(moved["closes_at"]),
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
    now = await rounds_repo.now(conn)
    open_now = status_open and opens_at is not None and closes_at is not None \
        and opens_at <= now < closes_at
    return bid_refusal(invited=inv is not None,
                       excluded=excluded,
                       open_now=open_now,
                       previous=amounts.last_amount(sealer, inv) if inv else None,
                       amount=amount, decrement=decrement)


async def list_bids(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal,
                    after: tuple[datetime, uuid.UUID] | None, limit: int, sealer: Sealer,
                    ) -> tuple[list[dict[str, Any]], tuple[datetime, uuid.UUID] | None]:
    async with db.acquire() as conn:
        r = await rounds_repo.get_round(conn, round_id)
        if r is None:
            raise NotFound("the round")
        supplier_filter: uuid.UUID | None = None
        if caller.role is Role.SUPPLIER:
            assert caller.supplier_id is not None
            if await repo.invitation(conn, round_id, caller.supplier_id) is None:
                raise Forbidden("you are not invited to this round")
            supplier_filter = caller.supplier_id
        elif caller.role in (Role.PROCUREMENT_CENTER, Role.BUYER):
            if caller.role is Role.BUYER and caller.org != r["buyer_org"]:
                raise Forbidden("this round is not your organisation's")
            if sealed_round(r):
                raise Conflict("bids are sealed until the round closes", slug="sealed")
        else:
            raise Forbidden("your role may not read bids")
        rows = await repo.supplier_bids(conn, round_id, supplier_filter, after, limit)
    items = [_bid_public(b, sealer) for b in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return items, (last["submitted_at"], last["id"]) if last is not None else None


def _bid_public(b: asyncpg.Record, sealer: Sealer) -> dict[str, Any]:
    return {"id": str(b["id"]), "round_id": str(b["round_id"]),
            "supplier_id": str(b["supplier_id"]),
            "amount": money(amounts.bid_amount(sealer, b)),
            "submitted_at": iso(b["submitted_at"]), "valid": b["valid"]}


async def get_bid(db: asyncpg.Pool, round_id: uuid.UUID, bid_id: uuid.UUID, caller: Principal,
                  sealer: Sealer) -> dict[str, Any]:
    """Whether a bid id exists is itself sealed: a supplier asking for someone else's bid
    gets the same 404 as for no bid, and the center and buyer get 409 for a sealed round
    before the bid is even looked up."""
    async with db.acquire() as conn:
        r = await rounds_repo.get_round(conn, round_id)
        if r is None:
            raise NotFound("the bid")
        owner: uuid.UUID | None = None
        if caller.role is Role.SUPPLIER:
            assert caller.supplier_id is not None
            owner = caller.supplier_id
        elif caller.role is Role.PROCUREMENT_CENTER or (
                caller.role is Role.BUYER and caller.org == r["buyer_org"]):
            if sealed_round(r):
                raise Conflict("bids are sealed until the round closes", slug="sealed")
        else:
            raise Forbidden("you may not see this bid")
        b = await conn.fetchrow(
            "SELECT * FROM bids WHERE id = $1 AND round_id = $2"
            " AND ($3::uuid IS NULL OR supplier_id = $3)", bid_id, round_id, owner)
        if b is None:
            raise NotFound("the bid")
        return _bid_public(b, sealer)
