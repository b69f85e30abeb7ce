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
from bidding_service.bids.memory import BidMemory, LastBid, RoundTerms
from bidding_service.bids.sealed import SealedDataError, Sealer, bid_ad
from bidding_service.eligibility import service as eligibility
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds.domain import BIDDING_STATUSES, extends_close
from bidding_service.rounds.service import sealed_round
from bidding_service.rounds.views import extension, iso, money
from shared.auth import Principal, Role
from shared.db import Conn
from shared.errors import BidRefusal, BidRefused, Conflict, Forbidden, NotFound
from shared.idempotency import Outcome, answer_ad, once
from shared.metrics import Metrics
from shared.problems import unprocessable
from shared.types import format_money
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)


async def submit_bid(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal, amount: Decimal,
                     idempotency_key: str | None, fingerprint: str, metrics: Metrics,
                     sealer: Sealer, memory: BidMemory) -> Outcome:
    """Take a bid iff it commits while the round is open by the database clock.

    A round without anti-sniping takes an accepted bid in one statement (`take_bid`); a
    round that may still be extended needs the best price before the bid and the
    extension in the bid's transaction (`_submit_extending`)."""
    supplier_id = caller.supplier_id
    assert supplier_id is not None
    try:
        terms = await _terms(db, memory, round_id)
        if terms.extension is None:
            outcome = await _submit_direct(db, round_id, caller, supplier_id, amount,
                                           idempotency_key, fingerprint, sealer, memory, terms)
        else:
            outcome = await _submit_extending(db, round_id, caller, supplier_id, amount,
                                              idempotency_key, fingerprint, sealer)
    except Exception as exc:
        metrics.bids.labels(outcome=getattr(exc, "slug", "error")).inc()
        raise
    metrics.bids.labels(outcome="accepted").inc()
    return outcome


async def forget_closed_rounds(db: asyncpg.Pool, memory: BidMemory) -> int:
    """Drop from the process's memory the rounds that take no more bids; how many
    entries went."""
    remembered = memory.rounds()
    if not remembered:
        return 0
    async with db.acquire() as conn:
        closed = await repo.rounds_not_bidding(conn, list(remembered))
    return memory.forget_rounds(closed)


async def _terms(db: asyncpg.Pool, memory: BidMemory, round_id: uuid.UUID) -> RoundTerms:
    """The round's terms that never change after launch, read once per process."""
    terms = memory.terms.get(round_id)
    if terms is None:
        r = await db.fetchrow(
            "SELECT pool_id, ceiling_price, min_decrement, ext_window_seconds,"
            " ext_extend_seconds, ext_max_extensions FROM rounds WHERE id = $1", round_id)
        if r is None:
            raise NotFound("the round")
        terms = RoundTerms(r["pool_id"], r["ceiling_price"],
                           required_decrement(r["min_decrement"]), extension(r))
        memory.terms.put(round_id, terms)
    return terms


# A stale memory of the supplier's last bid costs one more statement; a bid that loses
# the compare-and-swap this many times in a row is answered 409 bid-conflict (retry).
ATTEMPTS = 4


async def _submit_direct(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal,
                         supplier_id: uuid.UUID, amount: Decimal, key: str | None,
                         fingerprint: str, sealer: Sealer, memory: BidMemory,
                         terms: RoundTerms) -> Outcome:
    async with db.acquire() as conn:
        if amount <= 0 or amount > terms.ceiling:
            await _refuse_if_not_bidding(conn, sealer, round_id, supplier_id, amount, terms)
            check_bid_amount(amount, terms.ceiling)
        bid_id = uuid.uuid4()
        location = f"/v1/rounds/{round_id}/bids/{bid_id}"
        body = {"id": str(bid_id), "round_id": str(round_id), "supplier_id": str(supplier_id),
                "amount": format_money(amount)}
        ad = answer_ad(caller.caller_key, key) if key is not None else b""
        # Without submitted_at, which the statement decides: a replay reads it from the bid.
        answer = sealer.seal_answer({**body, "valid": True}, ad) if key is not None else None
        amount_ct = sealer.seal_amount(amount, bid_ad(round_id, supplier_id, bid_id))
        known = memory.last_bid(round_id, supplier_id)
        for _ in range(ATTEMPTS):
            previous_id = known.bid_id if known is not None else None
            if known is not None and amount > known.amount - terms.decrement:
                # Not lower than the last bid: unless it repeats a request already answered.
                prior = await repo.stored_answer(conn, caller.caller_key, key) if key else None
                if prior is not None:
                    return await _replay(conn, prior, fingerprint, sealer, ad)
                raise await _refusal_now(conn, sealer, round_id, supplier_id, amount, terms,
                                         remembered=known.amount)
            try:
                taken = await repo.take_bid(conn, round_id, supplier_id, bid_id, amount_ct,
                                            previous_id, caller.sub, terms.pool_id,
                                            caller.caller_key, key,
                                            fingerprint if key is not None else None,
                                            answer, location)
            except asyncpg.UniqueViolationError:
                if key is None:
                    raise
                continue  # another request with this key committed first: look again
            if taken.prior is not None:
                assert key is not None
                return await _replay(conn, taken.prior, fingerprint, sealer, ad)
            if taken.submitted_at is not None:
                memory.accepted(round_id, supplier_id, LastBid(bid_id, amount))
                return Outcome(201, {**body, "submitted_at": taken.submitted_at.isoformat(),
                                     "valid": True}, location)
            inv = taken.invitation
            if inv is not None and inv["last_bid_id"] == previous_id:
                # The statement's snapshot agrees: look at what committed since.
                inv = await repo.invitation(conn, round_id, supplier_id)
            if inv is None or inv["status"] != "invited" or inv["last_bid_id"] == previous_id:
                raise await _refusal_now(conn, sealer, round_id, supplier_id, amount, terms)
            # Another bid of this supplier came first (another process; or this one
            # remembered none): check against it and try again.
            last = amounts.last_amount(sealer, inv, legacy_ok=False)
            known = None if last is None else LastBid(inv["last_bid_id"], last)
            if known is None:
                memory.forget_bid(round_id, supplier_id)
            else:
                memory.accepted(round_id, supplier_id, known)
    raise BidRefused(BidRefusal.RETRY, "the bid could not be accepted; retry",
                     slug="bid-conflict")


async def _replay(conn: Conn, prior: asyncpg.Record, fingerprint: str, sealer: Sealer,
                  ad: bytes) -> Outcome:
    if prior["request_hash"] != fingerprint:
        raise unprocessable("this Idempotency-Key was used with a different request",
                            slug="idempotency-key-reused")
    body = sealer.open_answer(prior["prior_body"], ad)
    if "submitted_at" not in body and prior["prior_status"] == 201:
        at = await repo.bid_time(conn, uuid.UUID(body["id"]))
        if at is None:
            raise SealedDataError("a stored answer names a bid that is not there")
        body = {k: body[k] for k in ("id", "round_id", "supplier_id", "amount")} | {
            "submitted_at": at.isoformat(), "valid": body["valid"]}
    return Outcome(prior["prior_status"], body, prior["prior_location"])


async def _refuse_if_not_bidding(conn: Conn, sealer: Sealer, round_id: uuid.UUID,
                                 supplier_id: uuid.UUID, amount: Decimal,
                                 terms: RoundTerms) -> None:
    """A round no longer taking bids refuses for that reason before judging the amount."""
    status = await conn.fetchval("SELECT status FROM rounds WHERE id = $1", round_id)
    if status not in BIDDING_STATUSES:
        raise await _refusal(conn, sealer, round_id, supplier_id, amount, terms.decrement,
                             False, pool_id=terms.pool_id)


async def _refusal_now(conn: Conn, sealer: Sealer, round_id: uuid.UUID,
                       supplier_id: uuid.UUID, amount: Decimal, terms: RoundTerms, *,
                       remembered: Decimal | None = None) -> Exception:
    """Why the bid was refused, from the round and invitation as they are now (the
    previous amount: the one this process took, when it remembers one)."""
    r = await conn.fetchrow("SELECT status, opens_at, closes_at FROM rounds WHERE id = $1",
                            round_id)
    if r is None:
        return NotFound("the round")
    return await _refusal(conn, sealer, round_id, supplier_id, amount, terms.decrement,
                          r["status"] in BIDDING_STATUSES, r["opens_at"], r["closes_at"],
                          pool_id=terms.pool_id, remembered=remembered)


async def _submit_extending(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal,
                            supplier_id: uuid.UUID, amount: Decimal,
                            idempotency_key: str | None, fingerprint: str, sealer: Sealer,
                            ) -> Outcome:
    """The bid on a round with anti-sniping, in a transaction: the bid, the best price
    before it and, for a new best in the last window, the extension commit together."""
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

        return await once(uow, caller.caller_key, idempotency_key, fingerprint, action,
                          sealer=sealer)


async def _refusal(conn: Conn, sealer: Sealer, round_id: uuid.UUID, supplier_id: uuid.UUID,
                   amount: Decimal, decrement: Decimal, status_open: bool,
                   opens_at: datetime | None = None, closes_at: datetime | None = None,
                   *, pool_id: uuid.UUID, remembered: Decimal | None = None) -> Exception:
    inv = await repo.invitation(conn, round_id, supplier_id)
    excluded = inv is not None and (
        inv["status"] == "excluded" or await eligibility.not_admitted(conn, pool_id, supplier_id))
    now = await rounds_repo.now(conn)
    open_now = status_open and opens_at is not None and closes_at is not None \
        and opens_at <= now < closes_at
    return bid_refusal(invited=inv is not None,
                       excluded=excluded,
                       open_now=open_now,
                       previous=remembered if remembered is not None
                       else amounts.last_amount(sealer, inv) if inv else None,
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
