"""Pure rules of a round's life: its statuses, the launch checks, anti-sniping.

Nothing here touches the database, the broker or HTTP; the clock is always passed in
(it is the database's clock in production)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

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


def result_public(status: str, closed: bool) -> bool:
    """A round's result is public once awarded or failed; a round cancelled after its
    close (its award cancelled) stays public: its result was published."""
    return status in PUBLIC_STATUSES or (status == RoundStatus.CANCELLED and closed)


def bids_sealed(status: str, closed: bool) -> bool:
    """Bids (and who made them) are sealed while open, and for good once cancelled
    before the close."""
    return status in BIDDING_STATUSES or (status == RoundStatus.CANCELLED and not closed)


class Method(enum.StrEnum):
    """MOF Order 110's second-stage methods."""

    PRICE_COMPETITION = "price_competition"
    DIRECT_SELECTION = "direct_selection"
    ROTATION = "rotation"


class ReasonCode(enum.StrEnum):
    """Why a round or an award was cancelled (callers' codes)."""

    NO_DEMAND = "no_demand"
    BUDGET_CUT = "budget_cut"
    DEFECT_IN_TERMS = "defect_in_terms"
    FORCE_MAJEURE = "force_majeure"
    OTHER = "other"


DEFAULT_ACCEPTANCE_SECONDS = 259_200


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
    check_pool_active(pool, today)
    check_amount_bounds(terms.ceiling_price, pool, "ceiling_price")
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


def check_pool_active(pool: PoolTerms, today: date) -> None:
    if not pool.is_active(today):
        raise Conflict(f"pool {pool.code} is not active (terminated or outside its validity)",
                       slug="pool-not-active")


def check_amount_bounds(amount: Decimal, pool: PoolTerms, field: str) -> None:
    """A round's money (ceiling or fixed amount) within the pool's limits."""
    if amount > pool.max_round_budget:
        raise Invalid(
            f"{field} {amount} exceeds the pool's max_round_budget "
            f"{pool.max_round_budget}: above it the buyer must run a full tender instead",
            [{"loc": [field], "msg": "above max_round_budget: a full tender is required"}],
            slug="full-tender-required")
    if amount > pool.price_ceiling:
        raise Invalid(
            f"{field} {amount} exceeds the pool's price_ceiling {pool.price_ceiling}",
            [{"loc": [field], "msg": "above the pool's price_ceiling"}])


def working_days_end(start: date, days: int, is_workday: Callable[[date], bool]) -> date:
    """The day after the `days`-th working day after `start` (its 24:00 is the deadline)."""
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if is_workday(day):
            counted += 1
    return day + timedelta(days=1)


def acceptance_deadline(now: datetime, zone: ZoneInfo, *, seconds: int | None,
                        working_days: int | None,
                        is_workday: Callable[[date], bool]) -> datetime:
    """`accept_by` of an award published (or confirmed) at `now`: `seconds` later, or
    24:00 local time at the end of the `working_days`-th working day after today."""
    if working_days is None:
        return now + timedelta(seconds=seconds or DEFAULT_ACCEPTANCE_SECONDS)
    end = working_days_end(now.astimezone(zone).date(), working_days, is_workday)
    return datetime.combine(end, time(0), tzinfo=zone)
