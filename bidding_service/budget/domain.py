"""Pure rules of the budget loop (finance.md): a reservation's states, what each answer
of finance does to it, and when a reserved round may still open.

Finance's answers are applied as they come, not in `sequence` order (see
`bidding_service.budget.consumers`): each answer is checked against the reservation's
state here, so a duplicate, a stale or a late answer changes nothing it must not."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal


class BudgetMode(enum.StrEnum):
    OFF = "off"
    REQUIRED = "required"


class ReservationStatus(enum.StrEnum):
    REQUESTED = "requested"
    RESERVED = "reserved"
    REFUSED = "refused"
    TIMED_OUT = "timed_out"
    COMMITTED = "committed"
    RELEASED = "released"


# The round's reason codes (status_reason) when the budget ends it before it opens.
BUDGET_REFUSED = "budget_refused"
BUDGET_LATE = "budget_late"
BUDGET_TIMEOUT = "budget_timeout"

# The round's methods (methods.md), as `rounds.method` stores them.
PRICE_COMPETITION = "price_competition"
DIRECT_SELECTION = "direct_selection"
ROTATION = "rotation"


def round_method(method: object) -> str:
    """The round's method: its `method` column where it exists, else price competition."""
    return str(method) if method else PRICE_COMPETITION


@dataclass(frozen=True)
class Reservation:
    status: ReservationStatus
    amount: Decimal
    reserved_amount: Decimal | None
    committed_amount: Decimal | None
    released_amount: Decimal | None
    release_requested: bool
    commit_award_id: object | None
    committed_award_id: object | None = None

    @property
    def blocked(self) -> Decimal:
        """What finance still holds for it (reserved, neither committed nor released)."""
        return (self.reserved_amount or Decimal(0)) - (self.released_amount or Decimal(0))


class Effect(enum.StrEnum):
    """What an answer does."""

    OPEN = "open"            # reserved in full while the round waits: it may open
    SHORT = "short"          # reserved below the amount: a refusal, the part released
    LATE = "late"            # reserved for a round that no longer wants it: released
    REFUSE = "refuse"        # refused while the round waits: the round is cancelled
    RECORD = "record"        # refused after the round stopped waiting: recorded only
    COMMITTED = "committed"  # the commit of the award requested last
    RELEASED = "released"    # the one release requested
    IGNORE = "ignore"        # duplicate or stale: changes nothing


def on_reserved(res: Reservation, reserved_amount: Decimal, round_waiting: bool) -> Effect:
    """`budget.reserved`: only the first answer to a reservation counts; a timed-out one
    still takes it (finance did block the money), to release it."""
    if res.status not in (ReservationStatus.REQUESTED, ReservationStatus.TIMED_OUT):
        return Effect.IGNORE
    if res.status is ReservationStatus.REQUESTED and round_waiting:
        return Effect.OPEN if reserved_amount >= res.amount else Effect.SHORT
    return Effect.LATE


def on_refused(res: Reservation, round_waiting: bool) -> Effect:
    if res.status not in (ReservationStatus.REQUESTED, ReservationStatus.TIMED_OUT):
        return Effect.IGNORE
    if res.status is ReservationStatus.REQUESTED and round_waiting:
        return Effect.REFUSE
    return Effect.RECORD


def on_committed(res: Reservation, award_id: object) -> Effect:
    """`budget.committed` counts for the award whose commit was requested last, once
    (a corrected award's commit replaces the earlier one's, methods.md)."""
    if res.commit_award_id is None or str(res.commit_award_id) != str(award_id):
        return Effect.IGNORE
    if res.status not in (ReservationStatus.RESERVED, ReservationStatus.COMMITTED):
        return Effect.IGNORE
    if res.committed_award_id is not None and str(res.committed_award_id) == str(award_id):
        return Effect.IGNORE  # already committed to this award
    return Effect.COMMITTED


def on_released(res: Reservation) -> Effect:
    if not res.release_requested or res.status is ReservationStatus.RELEASED:
        return Effect.IGNORE
    return Effect.RELEASED


def needs_release(res: Reservation) -> bool:
    """A round ended without an accepted award: release what finance holds, once. A
    reservation not answered yet is released when (if) its answer comes (`on_reserved`
    then sees a round that no longer waits)."""
    if res.release_requested:
        return False
    return res.status in (ReservationStatus.RESERVED, ReservationStatus.COMMITTED)


@dataclass(frozen=True)
class Opening:
    opens_at: datetime
    open_now: bool


def opening(opens_at: datetime, closes_at: datetime, now: datetime,
            min_duration_seconds: int) -> Opening | None:
    """finance.md 2: a reserved round opens at the later of `opens_at` and now; None
    (`budget_late`) when less than the minimum duration would be left before its close."""
    start = max(opens_at, now)
    if closes_at - start < timedelta(seconds=min_duration_seconds):
        return None
    return Opening(start, start <= now)


def overpaid(amount: Decimal, paid: Decimal) -> bool:
    return paid > amount
