"""The pool service's rules, without a database."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from pool_service import domain
from pool_service.domain import (
    Action,
    IllegalTransition,
    MembershipStatus,
    PoolStatus,
    RemovalGround,
    RuleViolation,
)

S = MembershipStatus
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def make_code(first17: str) -> str:
    return first17 + domain.credit_code_check_char(first17)


# ---------------------------------------------------------------- credit codes


def test_the_well_known_code_is_valid() -> None:
    assert domain.validate_credit_code("91350100M000100Y43") == "91350100M000100Y43"
    assert domain.credit_code_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize("first17", [
    "91330300MA2867XXX",   # Wenzhou enterprise
    "52330302MJ8765432",   # private non-enterprise unit (民办非企业单位)
    "12330300470012345",   # public institution (事业单位)
    "51330300MJ0000001",   # social group
    "Y1330300000000001",
    "92330302MA0000000",   # individual business
])
def test_codes_with_a_computed_check_character_are_valid(first17: str) -> None:
    code = make_code(first17)
    assert domain.validate_credit_code(code) == code
    assert domain.validate_credit_code(code.lower()) == code


def test_check_character_31_becomes_0() -> None:
    # Search for a prefix whose weighted sum is a multiple of 31.
    for tail in itertools.product("0123456789", repeat=3):
        first17 = "91330300MA2867" + "".join(tail)
        total = sum(domain.CREDIT_CODE_CHARSET.index(c) * w
                    for c, w in zip(first17, domain.CREDIT_CODE_WEIGHTS, strict=True))
        if total % 31 == 0:
            assert domain.credit_code_check_char(first17) == "0"
            assert domain.validate_credit_code(first17 + "0") == first17 + "0"
            return
    pytest.fail("no prefix with a weighted sum divisible by 31 found")


@pytest.mark.parametrize("code", [
    "91330300MA2867XXXX",       # looks right, but X is not the check character of its prefix
    "91350100M000100Y44",       # last character changed
    "91350100M000100Y34",       # two characters swapped
    "91350100M000101Y43",       # one digit changed
    "91350100M000100I43",       # I is not in the charset
    "91350100M000100O43",       # nor O
    "91350100M000100Y4",        # 17 characters
    "91350100M000100Y430",      # 19 characters
    "",
    "Z1350100M000100Y43",       # no such registration department
    "94350100M000100Y43",       # department 9 issues types 1-3 only
    "91A50100M000100Y43",       # division code must be digits
])
def test_invalid_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError):
        domain.validate_credit_code(code)


def test_every_single_character_mutation_of_a_valid_code_is_refused() -> None:
    code = "91350100M000100Y43"
    for i in (8, 9, 15, 16, 17):  # positions where any charset character is well-formed
        for ch in domain.CREDIT_CODE_CHARSET:
            if ch == code[i]:
                continue
            mutated = code[:i] + ch + code[i + 1:]
            with pytest.raises(ValueError):
                domain.validate_credit_code(mutated)


# ---------------------------------------------------------------- membership state machine

LEGAL = {
    (None, S.APPLIED): Action.APPLIED,
    (None, S.ADMITTED): Action.ADMITTED,
    (S.APPLIED, S.ADMITTED): Action.ADMITTED,
    (S.APPLIED, S.REJECTED): Action.REJECTED,
    (S.REJECTED, S.APPLIED): Action.APPLIED,
    (S.REJECTED, S.ADMITTED): Action.ADMITTED,
    (S.ADMITTED, S.SUSPENDED): Action.SUSPENDED,
    (S.SUSPENDED, S.ADMITTED): Action.REINSTATED,
    (S.ADMITTED, S.REMOVED): Action.REMOVED,
    (S.SUSPENDED, S.REMOVED): Action.REMOVED,
}
ALL_PAIRS = [(a, b) for a in [None, *S] for b in S]


def _args(action: Action) -> dict[str, object]:
    if action is Action.REMOVED:
        return {"reason": "colluded in round 7", "ground": RemovalGround.COLLUSION}
    if action in (Action.REJECTED, Action.SUSPENDED):
        return {"reason": "documents incomplete"}
    return {}


@pytest.mark.parametrize(("current", "to"), [p for p in ALL_PAIRS if p in LEGAL])
def test_legal_transitions(current: S | None, to: S) -> None:
    action = LEGAL[(current, to)]
    change = domain.transition(current, to, now=NOW, **_args(action))  # type: ignore[arg-type]
    assert change.action is action
    assert (change.from_status, change.to_status) == (current, to)
    assert action.event_type == f"pool.member.{action.value}"


@pytest.mark.parametrize(("current", "to"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_illegal_transitions(current: S | None, to: S) -> None:
    with pytest.raises(IllegalTransition):
        domain.transition(current, to, now=NOW, reason="r", ground=RemovalGround.OTHER)


def test_the_table_is_the_domain_table() -> None:
    assert domain.TRANSITIONS == LEGAL


def test_removed_is_terminal_even_for_applying_again() -> None:
    with pytest.raises(IllegalTransition, match="removal is final"):
        domain.transition(S.REMOVED, S.APPLIED, now=NOW)


@pytest.mark.parametrize(("current", "to"), [(S.APPLIED, S.REJECTED),
                                             (S.ADMITTED, S.SUSPENDED),
                                             (S.ADMITTED, S.REMOVED)])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reject_suspend_remove_need_a_reason(current: S, to: S, reason: str | None) -> None:
    with pytest.raises(RuleViolation) as err:
        domain.transition(current, to, now=NOW, reason=reason, ground=RemovalGround.OTHER
                          if to is S.REMOVED else None)
    assert err.value.field == "reason"


def test_removal_needs_a_ground_and_only_removal_takes_one() -> None:
    with pytest.raises(RuleViolation) as err:
        domain.transition(S.ADMITTED, S.REMOVED, now=NOW, reason="r")
    assert err.value.field == "ground"
    with pytest.raises(RuleViolation) as err:
        domain.transition(S.ADMITTED, S.SUSPENDED, now=NOW, reason="r",
                          ground=RemovalGround.DEBARRED)
    assert err.value.field == "ground"
    change = domain.transition(S.SUSPENDED, S.REMOVED, now=NOW, reason="r",
                               ground=RemovalGround.REFUSED_AWARD)
    assert change.ground is RemovalGround.REFUSED_AWARD


def test_until_only_for_suspension_and_in_the_future() -> None:
    later = NOW + timedelta(days=90)
    change = domain.transition(S.ADMITTED, S.SUSPENDED, now=NOW, reason="r", until=later)
    assert change.until == later
    for until in (NOW, NOW - timedelta(seconds=1)):
        with pytest.raises(RuleViolation) as err:
            domain.transition(S.ADMITTED, S.SUSPENDED, now=NOW, reason="r", until=until)
        assert err.value.field == "until"
    with pytest.raises(RuleViolation):
        domain.transition(S.APPLIED, S.ADMITTED, now=NOW, until=later)
    with pytest.raises(RuleViolation):
        domain.transition(S.ADMITTED, S.REMOVED, now=NOW, reason="r",
                          ground=RemovalGround.OTHER, until=later)


def test_illegal_is_reported_before_missing_content() -> None:
    with pytest.raises(IllegalTransition):
        domain.transition(S.APPLIED, S.REMOVED, now=NOW)


@pytest.mark.parametrize(("current", "to", "delta"), [
    (None, S.ADMITTED, 1), (S.APPLIED, S.ADMITTED, 1), (S.SUSPENDED, S.ADMITTED, 1),
    (S.ADMITTED, S.SUSPENDED, -1), (S.ADMITTED, S.REMOVED, -1), (S.SUSPENDED, S.REMOVED, 0),
    (None, S.APPLIED, 0), (S.APPLIED, S.REJECTED, 0),
])
def test_admitted_delta(current: S | None, to: S, delta: int) -> None:
    action = LEGAL[(current, to)]
    change = domain.transition(current, to, now=NOW, **_args(action))  # type: ignore[arg-type]
    assert change.admitted_delta == delta


# ---------------------------------------------------------------- pools


@pytest.mark.parametrize(("admitted", "peak", "expected"), [
    (0, 0, False), (10, 10, False), (7, 10, False), (6, 10, True), (0, 1, True),
    (1, 1, False), (13, 19, True), (14, 19, False), (69, 100, True), (70, 100, False),
])
def test_top_up_below_70_percent_of_peak(admitted: int, peak: int, expected: bool) -> None:
    assert domain.needs_top_up(admitted, peak) is expected


def test_validity_period() -> None:
    domain.check_validity(date(2026, 1, 1), date(2027, 12, 31))
    domain.check_validity(date(2026, 1, 1), date(2026, 1, 2))
    with pytest.raises(RuleViolation, match="after valid_from"):
        domain.check_validity(date(2026, 1, 1), date(2026, 1, 1))
    with pytest.raises(RuleViolation, match="after valid_from"):
        domain.check_validity(date(2026, 1, 2), date(2026, 1, 1))
    with pytest.raises(RuleViolation, match="at most 2 years"):
        domain.check_validity(date(2026, 1, 1), date(2028, 1, 1))
    # 29 February: two years on is 28 February.
    domain.check_validity(date(2024, 2, 29), date(2026, 2, 27))
    with pytest.raises(RuleViolation):
        domain.check_validity(date(2024, 2, 29), date(2026, 2, 28))


def test_amounts_must_be_positive() -> None:
    domain.check_amounts(Decimal("0.01"), Decimal("1"))
    for ceiling, budget, field in [(Decimal(0), Decimal(1), "price_ceiling"),
                                   (Decimal(1), Decimal("-5"), "max_round_budget")]:
        with pytest.raises(RuleViolation) as err:
            domain.check_amounts(ceiling, budget)
        assert err.value.field == field


@pytest.mark.parametrize(("today", "terminated", "status"), [
    (date(2025, 12, 31), False, PoolStatus.UPCOMING),
    (date(2026, 1, 1), False, PoolStatus.ACTIVE),
    (date(2026, 6, 1), False, PoolStatus.ACTIVE),
    (date(2027, 12, 31), False, PoolStatus.ACTIVE),
    (date(2028, 1, 1), False, PoolStatus.EXPIRED),
    (date(2026, 6, 1), True, PoolStatus.TERMINATED),
    (date(2028, 1, 1), True, PoolStatus.TERMINATED),
])
def test_pool_status(today: date, terminated: bool, status: PoolStatus) -> None:
    assert domain.pool_status(date(2026, 1, 1), date(2027, 12, 31), terminated, today) is status


def test_expired_and_terminated_pools_take_no_members() -> None:
    domain.check_accepts_members(PoolStatus.ACTIVE)
    domain.check_accepts_members(PoolStatus.UPCOMING)
    for status in (PoolStatus.EXPIRED, PoolStatus.TERMINATED):
        with pytest.raises(IllegalTransition):
            domain.check_accepts_members(status)


def test_a_suspension_lasts_at_most_three_years() -> None:
    domain.transition(S.ADMITTED, S.SUSPENDED, now=NOW, reason="r",
                      until=NOW + timedelta(days=3 * 365))
    far = datetime(9999, 12, 31, 23, tzinfo=UTC)
    for until in (NOW + timedelta(days=4 * 365), far):
        with pytest.raises(RuleViolation, match="at most 3 years"):
            domain.transition(S.ADMITTED, S.SUSPENDED, now=NOW, reason="r", until=until)


def test_validity_near_the_end_of_the_calendar() -> None:
    with pytest.raises(RuleViolation) as err:
        domain.check_validity(date(9999, 1, 1), date(9999, 12, 31))
    assert err.value.field == "valid_from"
    assert domain.add_years(date(2024, 2, 29), 2) == date(2026, 2, 28)
