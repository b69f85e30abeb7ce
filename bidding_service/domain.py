"""Pure rules of secondary price competition: launch checks, bids, evaluation, awards.

Nothing here touches the database, the broker or HTTP; the clock is always passed in
(it is the database's clock in production)."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from shared.problems import Problem, conflict, forbidden, unprocessable
from shared.vocabulary import SME_SIZES, SupplierKind

CENT = Decimal("0.01")


class RoundStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    AWARDED = "awarded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ACCEPTED = "accepted"
    REAWARDED = "reawarded"


BIDDING_STATUSES = (RoundStatus.SCHEDULED, RoundStatus.OPEN)
# Once a round reaches one of these, its result is public.
PUBLIC_STATUSES = (RoundStatus.AWARDED, RoundStatus.ACCEPTED, RoundStatus.REAWARDED,
                   RoundStatus.FAILED)


class AwardStatus(enum.StrEnum):
    PUBLISHED = "published"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"


class Disclosure(enum.StrEnum):
    SEALED = "sealed"
    RANK = "rank"


@dataclass(frozen=True)
class PoolTerms:
    """What the bidding service knows of a pool from its events."""

    pool_id: uuid.UUID
    code: str
    name: str
    terminated: bool
    valid_from: date
    valid_to: date
    price_ceiling: Decimal
    max_round_budget: Decimal

    def is_active(self, today: date) -> bool:
        return not self.terminated and self.valid_from <= today <= self.valid_to


@dataclass(frozen=True)
class Extension:
    window_seconds: int
    extend_seconds: int
    max_extensions: int


@dataclass(frozen=True)
class LaunchTerms:
    ceiling_price: Decimal
    opens_at: datetime | None
    closes_at: datetime
    min_bids: int


def check_launch(terms: LaunchTerms, pool: PoolTerms, invited: int, now: datetime,
                 min_duration_seconds: int, *, today: date) -> datetime:
    """Refuse a launch that breaks a rule of domain.md; returns the effective opens_at.

    `today` is the date in the jurisdiction (JURISDICTION_TZ), as the pool service sees it."""
    if not pool.is_active(today):
        raise conflict(f"pool {pool.code} is not active (terminated or outside its validity)",
                       slug="pool-not-active")
    if terms.ceiling_price > pool.max_round_budget:
        raise unprocessable(
            f"ceiling_price {terms.ceiling_price} exceeds the pool's max_round_budget "
            f"{pool.max_round_budget}: above it the buyer must run a full tender instead",
            [{"loc": ["ceiling_price"], "msg": "above max_round_budget: a full tender is "
              "required"}], slug="full-tender-required")
    if terms.ceiling_price > pool.price_ceiling:
        raise unprocessable(
            f"ceiling_price {terms.ceiling_price} exceeds the pool's price_ceiling "
            f"{pool.price_ceiling}",
            [{"loc": ["ceiling_price"], "msg": "above the pool's price_ceiling"}])
    opens_at = terms.opens_at if terms.opens_at is not None and terms.opens_at > now else now
    if terms.closes_at <= now:
        raise unprocessable("closes_at must be in the future",
                            [{"loc": ["closes_at"], "msg": "must be in the future"}])
    if terms.closes_at - opens_at < timedelta(seconds=min_duration_seconds):
        raise unprocessable(
            f"a round must last at least {min_duration_seconds} seconds",
            [{"loc": ["closes_at"], "msg": f"at least {min_duration_seconds} s after opening"}])
    if invited < terms.min_bids:
        raise conflict(
            f"only {invited} suppliers are admitted in the pool; a round needing "
            f"{terms.min_bids} bids could never succeed", slug="too-few-invited")
    return opens_at


def check_bid_amount(amount: Decimal, ceiling: Decimal) -> None:
    if amount <= 0:
        raise unprocessable("amount must be greater than zero",
                            [{"loc": ["amount"], "msg": "must be greater than 0"}])
    if amount > ceiling:
        raise unprocessable(f"amount exceeds the round's ceiling price {ceiling}",
                            [{"loc": ["amount"], "msg": "above ceiling_price"}])


def required_decrement(min_decrement: Decimal | None) -> Decimal:
    """How much lower than its own previous bid a supplier's next bid must be."""
    return min_decrement if min_decrement is not None and min_decrement > 0 else CENT


def bid_refusal(*, invited: bool, excluded: bool, open_now: bool, previous: Decimal | None,
                amount: Decimal, decrement: Decimal) -> Problem:
    """Why a bid the database refused was refused, in the contract's terms."""
    if not invited:
        return forbidden("you are not invited to this round")
    if excluded:
        return forbidden("your membership was suspended or removed: you may not bid in "
                         "this round")
    if not open_now:
        return conflict("the round is not open for bids", slug="round-not-open")
    if previous is not None and amount > previous - decrement:
        return unprocessable(
            f"each new bid must be at least {decrement} below your previous bid",
            [{"loc": ["amount"], "msg": "not below your previous bid by the minimum decrement"}],
            slug="bid-not-lower")
    return conflict("the bid could not be accepted; retry", slug="bid-conflict")


def extends_close(ext: Extension | None, extensions_used: int, closes_at: datetime,
                  now: datetime, amount: Decimal, best: Decimal | None) -> bool:
    """Anti-sniping: a bid improving the best price in the last window extends the close."""
    if ext is None or extensions_used >= ext.max_extensions:
        return False
    if now < closes_at - timedelta(seconds=ext.window_seconds):
        return False
    return best is None or amount < best


def in_extension_window(ext: Extension | None, closes_at: datetime, now: datetime) -> bool:
    return ext is not None and now >= closes_at - timedelta(seconds=ext.window_seconds)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A valid bidder at close: its last bid counts."""

    supplier_id: uuid.UUID
    name: str
    credit_code: str
    kind: str
    size: str
    amount: Decimal
    final_bid_at: datetime


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int
    candidate: Candidate
    evaluated_amount: Decimal


def evaluated_price(amount: Decimal, size: str, sme_deduction: Decimal) -> Decimal:
    if size in SME_SIZES and sme_deduction > 0:
        return amount * (1 - sme_deduction)
    return amount


def evaluate(candidates: list[Candidate], sme_deduction: Decimal) -> list[Ranked]:
    """Rank by evaluated price; ties go to social organizations, then the earlier final bid.

    Comparison uses the exact evaluated price; the published figure is rounded to cents.
    """
    def key(c: Candidate) -> tuple[Decimal, int, datetime, str]:
        return (evaluated_price(c.amount, c.size, sme_deduction),
                0 if c.kind == SupplierKind.SOCIAL_ORGANIZATION else 1,
                c.final_bid_at, str(c.supplier_id))

    # Each key once (100,000 bidders at a close): the exact evaluated price is its head.
    ordered = sorted(((key(c), c) for c in candidates), key=lambda kc: kc[0])
    return [Ranked(i, c, k[0].quantize(CENT, rounding=ROUND_HALF_UP))
            for i, (k, c) in enumerate(ordered, start=1)]


def own_rank(mine: Candidate, others: list[Candidate], sme_deduction: Decimal) -> int:
    """The rank a bidder sees with `disclosure: rank` (never others' prices)."""
    ranked = evaluate([*others, mine], sme_deduction)
    return next(r.rank for r in ranked if r.candidate.supplier_id == mine.supplier_id)


def accept_window(now: datetime, acceptance_seconds: int) -> datetime:
    return now + timedelta(seconds=acceptance_seconds)
