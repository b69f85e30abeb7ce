"""Pure rules of a round's life: its statuses, the launch checks, anti-sniping.

Nothing here touches the database, the broker or HTTP; the clock is always passed in
(it is the database's clock in production)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from bidding_service.eligibility.domain import PoolTerms
from shared.errors import Conflict, Invalid


class RoundStatus(enum.StrEnum):
    # finance.md: launched with BUDGET_RESERVATION=required, waiting for the reservation.
    PENDING_BUDGET = "pending_budget"
    SCHEDULED = "scheduled"
    OPEN = "open"
    AWARDED = "awarded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ACCEPTED = "accepted"
    REAWARDED = "reawarded"


BIDDING_STATUSES = (RoundStatus.SCHEDULED, RoundStatus.OPEN)
# The center may cancel a round before its close, waiting for its budget or not.
CANCELLABLE_STATUSES = (RoundStatus.PENDING_BUDGET, *BIDDING_STATUSES)


# Once a round reaches one of these, its result is public.
PUBLIC_STATUSES = (RoundStatus.AWARDED, RoundStatus.ACCEPTED, RoundStatus.REAWARDED,
                   RoundStatus.FAILED)


class Disclosure(enum.StrEnum):
    SEALED = "sealed"
    RANK = "rank"


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
        raise Conflict(f"pool {pool.code} is not active (terminated or outside its validity)",
                       slug="pool-not-active")
    if terms.ceiling_price > pool.max_round_budget:
        raise Invalid(
            f"ceiling_price {terms.ceiling_price} exceeds the pool's max_round_budget "
            f"{pool.max_round_budget}: above it the buyer must run a full tender instead",
            [{"loc": ["ceiling_price"], "msg": "above max_round_budget: a full tender is "
              "required"}], slug="full-tender-required")
    if terms.ceiling_price > pool.price_ceiling:
        raise Invalid(
            f"ceiling_price {terms.ceiling_price} exceeds the pool's price_ceiling "
            f"{pool.price_ceiling}",
            [{"loc": ["ceiling_price"], "msg": "above the pool's price_ceiling"}])
    opens_at = terms.opens_at if terms.opens_at is not None and terms.opens_at > now else now
    if terms.closes_at <= now:
        raise Invalid("closes_at must be in the future",
                            [{"loc": ["closes_at"], "msg": "must be in the future"}])
    if terms.closes_at - opens_at < timedelta(seconds=min_duration_seconds):
        raise Invalid(
            f"a round must last at least {min_duration_seconds} seconds",
            [{"loc": ["closes_at"], "msg": f"at least {min_duration_seconds} s after opening"}])
    if invited < terms.min_bids:
        raise Conflict(
            f"only {invited} suppliers are admitted in the pool; a round needing "
            f"{terms.min_bids} bids could never succeed", slug="too-few-invited")
    return opens_at


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
