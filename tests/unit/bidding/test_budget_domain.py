"""The budget loop's pure rules (finance.md): what each answer does in each state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bidding_service.budget.domain import (
    PRICE_COMPETITION,
    Effect,
    Reservation,
    ReservationStatus,
    needs_release,
    on_committed,
    on_refused,
    on_released,
    on_reserved,
    opening,
    round_method,
)

S = ReservationStatus
AMOUNT = Decimal("100000.00")


def res(status: ReservationStatus, *, reserved: str | None = None, released: bool = False,
        award: object | None = None) -> Reservation:
    return Reservation(status, AMOUNT, Decimal(reserved) if reserved else None, None, None,
                       released, award)


@pytest.mark.parametrize(("status", "waiting", "amount", "effect"), [
    (S.REQUESTED, True, "100000.00", Effect.OPEN),
    (S.REQUESTED, True, "120000.00", Effect.OPEN),
    (S.REQUESTED, True, "99999.99", Effect.SHORT),
    (S.REQUESTED, False, "100000.00", Effect.LATE),  # cancelled meanwhile
    (S.TIMED_OUT, False, "100000.00", Effect.LATE),
    (S.RESERVED, True, "100000.00", Effect.IGNORE),
    (S.REFUSED, False, "100000.00", Effect.IGNORE),
    (S.COMMITTED, False, "100000.00", Effect.IGNORE),
    (S.RELEASED, False, "100000.00", Effect.IGNORE),
])
def test_reserved(status: ReservationStatus, waiting: bool, amount: str, effect: Effect) -> None:
    assert on_reserved(res(status), Decimal(amount), waiting) is effect


@pytest.mark.parametrize(("status", "waiting", "effect"), [
    (S.REQUESTED, True, Effect.REFUSE), (S.REQUESTED, False, Effect.RECORD),
    (S.TIMED_OUT, False, Effect.RECORD), (S.RESERVED, True, Effect.IGNORE),
    (S.REFUSED, False, Effect.IGNORE),
])
def test_refused(status: ReservationStatus, waiting: bool, effect: Effect) -> None:
    assert on_refused(res(status), waiting) is effect


def test_committed_counts_only_for_the_award_whose_commit_was_requested() -> None:
    assert on_committed(res(S.RESERVED, award="a1"), "a1") is Effect.COMMITTED
    assert on_committed(res(S.RESERVED, award="a1"), "a2") is Effect.IGNORE
    assert on_committed(res(S.RESERVED), "a1") is Effect.IGNORE
    done = Reservation(S.COMMITTED, AMOUNT, AMOUNT, AMOUNT, Decimal(0), False, "a1", "a1")
    assert on_committed(done, "a1") is Effect.IGNORE  # a second answer: nothing
    # A corrected award (methods.md): its commit replaces the earlier one, once.
    corrected = Reservation(S.COMMITTED, AMOUNT, AMOUNT, AMOUNT, Decimal(0), False, "a2",
                            "a1")
    assert on_committed(corrected, "a2") is Effect.COMMITTED
    assert on_committed(corrected, "a1") is Effect.IGNORE  # the stale one


def test_released_only_once_and_only_when_requested() -> None:
    assert on_released(res(S.RESERVED, released=True)) is Effect.RELEASED
    assert on_released(res(S.REFUSED, released=True)) is Effect.RELEASED
    assert on_released(res(S.RESERVED)) is Effect.IGNORE
    assert on_released(res(S.RELEASED, released=True)) is Effect.IGNORE


def test_a_release_is_needed_once_for_money_finance_holds() -> None:
    assert needs_release(res(S.RESERVED, reserved="1.00"))
    assert needs_release(res(S.COMMITTED, reserved="1.00"))
    assert not needs_release(res(S.RESERVED, reserved="1.00", released=True))
    for status in (S.REQUESTED, S.REFUSED, S.TIMED_OUT, S.RELEASED):
        assert not needs_release(res(status))


def test_opening_at_the_later_of_opens_at_and_the_reservation() -> None:
    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    early = opening(now - timedelta(minutes=5), now + timedelta(hours=1), now, 300)
    assert early is not None and (early.opens_at, early.open_now) == (now, True)
    later = opening(now + timedelta(minutes=5), now + timedelta(hours=1), now, 300)
    assert later is not None and later.open_now is False
    assert opening(now, now + timedelta(seconds=299), now, 300) is None  # budget_late


def test_the_method_defaults_to_price_competition() -> None:
    assert round_method(None) == PRICE_COMPETITION
    assert round_method("rotation") == "rotation"
