"""Pure rules of the bid path: amounts, the decrement, why a bid is refused, the rank a
bidder may see.

Nothing here touches the database, the broker or HTTP."""

from __future__ import annotations

from decimal import Decimal

from bidding_service.awards.domain import CENT, Candidate, evaluate
from shared.errors import BidRefusal, BidRefused, Invalid


def check_bid_amount(amount: Decimal, ceiling: Decimal) -> None:
    if amount <= 0:
        raise Invalid("amount must be greater than zero",
                            [{"loc": ["amount"], "msg": "must be greater than 0"}])
    if amount > ceiling:
        raise Invalid(f"amount exceeds the round's ceiling price {ceiling}",
                            [{"loc": ["amount"], "msg": "above ceiling_price"}])


def required_decrement(min_decrement: Decimal | None) -> Decimal:
    """How much lower than its own previous bid a supplier's next bid must be."""
    return min_decrement if min_decrement is not None and min_decrement > 0 else CENT


def bid_refusal(*, invited: bool, excluded: bool, open_now: bool, previous: Decimal | None,
                amount: Decimal, decrement: Decimal) -> BidRefused:
    """Why a bid the database refused was refused, in the contract's terms."""
    if not invited:
        return BidRefused(BidRefusal.NOT_INVITED, "you are not invited to this round",
                          slug="forbidden")
    if excluded:
        return BidRefused(BidRefusal.EXCLUDED, "your membership was suspended or removed: you "
                          "may not bid in this round", slug="forbidden")
    if not open_now:
        return BidRefused(BidRefusal.NOT_OPEN, "the round is not open for bids",
                          slug="round-not-open")
    if previous is not None and amount > previous - decrement:
        return BidRefused(
            BidRefusal.NOT_LOWER,
            f"each new bid must be at least {decrement} below your previous bid",
            errors=[{"loc": ["amount"],
                     "msg": "not below your previous bid by the minimum decrement"}],
            slug="bid-not-lower")
    return BidRefused(BidRefusal.RETRY, "the bid could not be accepted; retry",
                      slug="bid-conflict")


def own_rank(mine: Candidate, others: list[Candidate], sme_deduction: Decimal) -> int:
    """The rank a bidder sees with `disclosure: rank` (never others' prices)."""
    ranked = evaluate([*others, mine], sme_deduction)
    return next(r.rank for r in ranked if r.candidate.supplier_id == mine.supplier_id)
