"""The pure rules of spec methods.md: the rotation's choice, abnormally low prices, the
working-day window, and the launch body of each method."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bidding_service.awards.calendar import CalendarUnknown, is_workday, is_workday_or_weekday
from bidding_service.awards.domain import abnormally_low
from bidding_service.methods.domain import Turn, check_direct_member, next_turn
from bidding_service.rounds.domain import acceptance_deadline, working_days_end
from bidding_service.schemas import LaunchRound
from shared.errors import Conflict
from shared.problems import problem_for

A, B, C = (uuid.UUID(int=i) for i in (1, 2, 3))
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_rotation_takes_the_first_eligible_member_not_served() -> None:
    order = [Turn(A, True, True), Turn(B, False, False), Turn(C, True, False)]
    assert next_turn(order).supplier_id == C  # B suspended: skipped, keeps its place
    order = [Turn(A, True, True), Turn(B, True, False), Turn(C, True, True)]
    assert next_turn(order).supplier_id == B  # B reinstated within the period: its turn


def test_rotation_starts_a_new_period_when_every_eligible_member_was_served() -> None:
    order = [Turn(A, True, True), Turn(B, False, False), Turn(C, True, True)]
    choice = next_turn(order)
    assert (choice.supplier_id, choice.new_period) == (A, True)
    # Not the same round twice: the new period's first is skipped if it was offered it.
    order = [Turn(A, True, True, offered=True), Turn(B, True, True), Turn(C, True, True)]
    assert next_turn(order).supplier_id == B


def test_rotation_gives_up_when_everyone_eligible_was_offered_the_round() -> None:
    order = [Turn(A, True, True, offered=True), Turn(B, True, True, offered=True),
             Turn(C, False, False)]
    assert next_turn(order).supplier_id is None
    # A cancelled award leaves its supplier unserved but offered: nobody else is left.
    order = [Turn(A, True, False, offered=True), Turn(B, True, True, offered=True)]
    assert next_turn(order).supplier_id is None
    assert next_turn([]).supplier_id is None


def test_direct_selection_needs_an_admitted_member() -> None:
    check_direct_member("admitted")
    for status, word in (("removed", "removed"), ("suspended", "suspended"),
                         (None, "not a member")):
        with pytest.raises(Conflict) as info:
            check_direct_member(status)
        assert word in info.value.detail and problem_for(info.value).status == 409


def test_abnormally_low_thresholds() -> None:
    d = Decimal
    assert not abnormally_low(d("50"), 0, None, None)  # no other valid bid
    # 0.6 x the others' mean (the next-ranked at 80: 0.7 x 80 = 56 is not reached)
    assert abnormally_low(d("60"), 2, d("100"), d("80"))
    assert not abnormally_low(d("60.01"), 2, d("100"), d("80"))
    # 0.7 x the next-ranked one's (0.6 x mean 200 = 120 is not what decides here)
    assert abnormally_low(d("70"), 1, d("100"), d("100"))
    assert not abnormally_low(d("70.01"), 1, d("100"), d("100"))


def test_working_days_skip_holidays_and_count_make_up_days() -> None:
    # 2026 National Day: 1-7 October off, Saturday 10 October a make-up working day.
    assert working_days_end(date(2026, 9, 30), 1, is_workday) == date(2026, 10, 9)
    assert working_days_end(date(2026, 9, 30), 2, is_workday) == date(2026, 10, 10)
    assert working_days_end(date(2026, 9, 30), 3, is_workday) == date(2026, 10, 11)
    # Friday 16 January 2026: Monday 19th is the first working day after it.
    assert working_days_end(date(2026, 1, 16), 1, is_workday) == date(2026, 1, 20)


def test_acceptance_deadline_is_24_00_local_time() -> None:
    # 17:00 UTC on 30 September is already 1 October in Shanghai.
    now = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)
    by = acceptance_deadline(now, SHANGHAI, seconds=None, working_days=1,
                             is_workday=is_workday)
    assert by == datetime(2026, 10, 9, 0, 0, tzinfo=SHANGHAI)
    assert acceptance_deadline(now, SHANGHAI, seconds=60, working_days=None,
                               is_workday=is_workday).timestamp() == now.timestamp() + 60


def test_a_window_beyond_the_calendars_known_years_is_refused() -> None:
    with pytest.raises(CalendarUnknown) as info:
        is_workday(date(2099, 1, 5))
    assert problem_for(info.value).status == 422
    assert is_workday_or_weekday(date(2099, 1, 5)) is True  # a Monday, for late awards
    assert is_workday_or_weekday(date(2099, 1, 4)) is False


BASE = {"pool_id": str(A), "title": "t", "buyer": {"org": "o", "name": "n"},
        "budget_line": "b"}


@pytest.mark.parametrize("body", [
    {"method": "direct_selection", "amount": "10.00", "supplier_id": str(B)},  # no reason
    {"method": "direct_selection", "amount": "10.00", "supplier_id": str(B),
     "justification": "too short"},
    {"method": "rotation"},  # no amount
    {"method": "rotation", "amount": "10.00", "supplier_id": str(B)},
    {"method": "rotation", "amount": "10.00", "closes_at": "2030-01-01T00:00:00Z"},
    {"ceiling_price": "10.00"},  # a price competition without closes_at
    {"ceiling_price": "10.00", "closes_at": "2030-01-01T00:00:00Z", "amount": "1.00"},
    {"ceiling_price": "10.00", "closes_at": "2030-01-01T00:00:00Z",
     "acceptance_seconds": 60, "acceptance_working_days": 3},
    {"ceiling_price": "10.00", "closes_at": "2030-01-01T00:00:00Z",
     "acceptance_working_days": 31},
    {"method": "sealed_auction", "ceiling_price": "10.00",
     "closes_at": "2030-01-01T00:00:00Z"},
])
def test_launch_bodies_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LaunchRound.model_validate({**BASE, **body})


def test_launch_bodies_taken() -> None:
    v1 = LaunchRound.model_validate({**BASE, "ceiling_price": "10.00",
                                     "closes_at": "2030-01-01T00:00:00Z"})
    assert v1.method == "price_competition" and not v1.abnormal_price_review
    direct = LaunchRound.model_validate({**BASE, "method": "direct_selection",
                                         "amount": "10.00", "supplier_id": str(B),
                                         "justification": "x" * 20,
                                         "acceptance_working_days": 5})
    assert direct.supplier_id == B
    assert LaunchRound.model_validate({**BASE, "method": "rotation", "amount": "1.00"})
