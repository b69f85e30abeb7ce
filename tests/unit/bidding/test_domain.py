"""The pure rules of bidding: no database, no broker."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bidding_service.awards.domain import Candidate, evaluate, evaluated_price
from bidding_service.bids.domain import bid_refusal, check_bid_amount, own_rank
from bidding_service.eligibility.domain import PoolTerms
from bidding_service.rounds.domain import Extension, LaunchTerms, check_launch, extends_close
from shared.errors import BidRefusal, Conflict, DomainError, Invalid
from shared.problems import problem_for

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
TODAY = date(2026, 11, 27)  # in the jurisdiction


def cand(amount: str, *, kind: str = "enterprise", size: str = "large",
         at: int = 0) -> Candidate:
    return Candidate(uuid.uuid4(), "x", "c", kind, size, Decimal(amount),
                     NOW + timedelta(seconds=at))


def pool(**kw: object) -> PoolTerms:
    values: dict[str, object] = dict(
        pool_id=uuid.uuid4(), code="p", name="P", terminated=False,
        valid_from=date(2026, 1, 1), valid_to=date(2027, 12, 31),
        price_ceiling=Decimal("100000"), max_round_budget=Decimal("80000"))
    values.update(kw)
    return PoolTerms(**values)  # type: ignore[arg-type]


def terms(ceiling: str = "50000", minutes: int = 10, min_bids: int = 3) -> LaunchTerms:
    return LaunchTerms(Decimal(ceiling), None, NOW + timedelta(minutes=minutes), min_bids)


def test_sme_deduction_applies_to_small_and_micro_only() -> None:
    d = Decimal("0.10")
    assert evaluated_price(Decimal("100"), "small", d) == Decimal("90.0")
    assert evaluated_price(Decimal("100"), "micro", d) == Decimal("90.0")
    assert evaluated_price(Decimal("100"), "medium", d) == Decimal("100")
    assert evaluated_price(Decimal("100"), "large", d) == Decimal("100")


def test_sme_deduction_changes_the_winner_and_the_award_keeps_the_real_amount() -> None:
    large, small = cand("90000"), cand("95000", size="small")
    ranked = evaluate([large, small], Decimal("0.06"))
    assert ranked[0].candidate is small
    assert ranked[0].candidate.amount == Decimal("95000")
    assert ranked[0].evaluated_amount == Decimal("89300.00")
    assert evaluate([large, small], Decimal("0"))[0].candidate is large


def test_ties_social_organization_first_then_earlier_final_bid() -> None:
    early, late = cand("100", at=1), cand("100", at=2)
    social = cand("100", kind="social_organization", at=3)
    ranked = evaluate([late, social, early], Decimal("0"))
    assert [r.candidate for r in ranked] == [social, early, late]
    assert [r.rank for r in ranked] == [1, 2, 3]


def test_exact_evaluated_price_breaks_ties_before_rounding() -> None:
    # 100.01 * 0.95 = 95.0095 and 95.01 (large): they round to 95.01 but are not equal.
    sme, large = cand("100.01", size="small"), cand("95.01", at=-5)
    ranked = evaluate([large, sme], Decimal("0.05"))
    assert ranked[0].candidate is sme


@given(st.lists(st.tuples(st.integers(1, 10_000_000), st.sampled_from(
    ["large", "medium", "small", "micro"]), st.sampled_from(
    ["enterprise", "social_organization", "public_institution"])), min_size=1, max_size=30),
    st.sampled_from(["0", "0.05", "0.2"]))
def test_winner_has_the_lowest_evaluated_price(rows: list[tuple[int, str, str]],
                                               deduction: str) -> None:
    cands = [cand(f"{cents / 100:.2f}", size=size, kind=kind, at=i)
             for i, (cents, size, kind) in enumerate(rows)]
    d = Decimal(deduction)
    ranked = evaluate(cands, d)
    assert sorted(r.candidate.supplier_id for r in ranked) == \
        sorted(c.supplier_id for c in cands)
    best = min(evaluated_price(c.amount, c.size, d) for c in cands)
    assert evaluated_price(ranked[0].candidate.amount, ranked[0].candidate.size, d) == best
    for r in ranked[1:]:
        assert own_rank(r.candidate, [c for c in cands if c is not r.candidate], d) == r.rank


def test_launch_rules() -> None:
    assert check_launch(terms(), pool(), 3, NOW, 300, today=TODAY) == NOW

    def refused(t: LaunchTerms, p: PoolTerms, invited: int = 3) -> DomainError:
        with pytest.raises(DomainError) as info:
            check_launch(t, p, invited, NOW, 300, today=TODAY)
        return info.value

    assert refused(terms("80000.01"), pool()).slug == "full-tender-required"
    assert isinstance(refused(terms("90000"), pool(price_ceiling=Decimal("85000"),
                                        max_round_budget=Decimal("95000"))), Invalid)
    assert isinstance(refused(terms(minutes=4), pool()), Invalid)
    assert isinstance(refused(terms(minutes=-1), pool()), Invalid)
    assert isinstance(refused(terms(), pool(), invited=2), Conflict)
    assert refused(terms(), pool(), invited=2).slug == "too-few-invited"
    assert refused(terms(), pool(terminated=True)).slug == "pool-not-active"
    assert refused(terms(), pool(valid_to=date(2026, 11, 26))).slug == "pool-not-active"
    later = LaunchTerms(Decimal("1"), NOW + timedelta(hours=1), NOW + timedelta(hours=2), 1)
    assert check_launch(later, pool(), 1, NOW, 300, today=TODAY) == NOW + timedelta(hours=1)


def test_launch_checks_the_pool_against_the_jurisdictions_today() -> None:
    """20:00 UTC on 27 November is already 28 November in Shanghai: a pool valid from
    the 28th is active there, whatever the UTC date says."""
    evening = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    starts = pool(valid_from=date(2026, 11, 28))
    later = LaunchTerms(Decimal("1"), None, evening + timedelta(hours=1), 1)
    assert check_launch(later, starts, 1, evening, 300, today=date(2026, 11, 28)) == evening
    with pytest.raises(Conflict) as info:
        check_launch(later, starts, 1, evening, 300, today=date(2026, 11, 27))
    assert info.value.slug == "pool-not-active"


def test_bid_amount_and_refusal_reasons() -> None:
    check_bid_amount(Decimal("1"), Decimal("1"))
    for bad in ("0", "-1", "1.01"):
        with pytest.raises(Invalid):
            check_bid_amount(Decimal(bad), Decimal("1"))
    common = dict(amount=Decimal("10"), decrement=Decimal("1"), previous=None)
    higher = {**common, "previous": Decimal("10.5")}
    cases = [
        (bid_refusal(invited=False, excluded=False, open_now=True, **common),
         BidRefusal.NOT_INVITED, 403),
        (bid_refusal(invited=True, excluded=True, open_now=True, **common),
         BidRefusal.EXCLUDED, 403),
        (bid_refusal(invited=True, excluded=False, open_now=False, **common),
         BidRefusal.NOT_OPEN, 409),
        (bid_refusal(invited=True, excluded=False, open_now=True, **higher),
         BidRefusal.NOT_LOWER, 422),
    ]
    for refusal, reason, status in cases:
        assert refusal.reason is reason
        # The HTTP edge's one table gives each reason its status.
        assert problem_for(refusal).status == status


def test_anti_sniping_only_in_the_window_only_on_improvement_up_to_the_cap() -> None:
    ext = Extension(window_seconds=60, extend_seconds=120, max_extensions=2)
    closes = NOW + timedelta(seconds=30)
    assert extends_close(ext, 0, closes, NOW, Decimal("90"), Decimal("100"))
    assert not extends_close(ext, 0, closes, NOW, Decimal("100"), Decimal("100"))
    assert not extends_close(ext, 2, closes, NOW, Decimal("90"), Decimal("100"))
    assert not extends_close(ext, 0, NOW + timedelta(minutes=5), NOW, Decimal("1"), None)
    assert not extends_close(None, 0, closes, NOW, Decimal("1"), None)
    assert extends_close(ext, 1, closes, NOW, Decimal("1"), None)
