"""Pure rules of evaluation and awards: the ranking (the one copy of the rule), award
statuses.

Nothing here touches the database, the broker or HTTP."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from shared.vocabulary import SME_SIZES, SupplierKind

CENT = Decimal("0.01")


class AwardStatus(enum.StrEnum):
    PENDING_REVIEW = "pending_review"
    PUBLISHED = "published"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


# An award the center may still cancel.
CANCELLABLE = (AwardStatus.PUBLISHED, AwardStatus.PENDING_REVIEW, AwardStatus.ACCEPTED)
# The supplier's own refusals (the pool service records them; nothing else is one).
REFUSALS = (AwardStatus.DECLINED, AwardStatus.EXPIRED)

# ProZorro's thresholds for an abnormally low price (spec methods.md).
LOW_VS_MEAN = Decimal("0.6")
LOW_VS_NEXT = Decimal("0.7")


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

    The one copy of the ranking rule: the close ranks with it (`bids.amounts.rank`) and
    the database only stores the result (`round_results`); no SQL ranks bids.

    Comparison uses the exact evaluated price; the published figure is rounded to cents.
    """
    # Sorted by each key in turn, the last first: a stable sort makes that the order of
    # the whole key (price, social organizations first, earlier final bid, supplier id as
    # text; a UUID orders as its text does), without a key tuple per bidder (8 MB at a
    # 100,000-bidder close), each pass keyed by objects the candidates already hold.
    ordered = sorted(candidates, key=_supplier)
    ordered.sort(key=_final_bid_at)
    ordered.sort(key=_social_last)
    if sme_deduction > 0:
        ordered.sort(key=lambda c: evaluated_price(c.amount, c.size, sme_deduction))
    else:
        ordered.sort(key=_amount)
    return [Ranked(i, c, _cents(evaluated_price(c.amount, c.size, sme_deduction)))
            for i, c in enumerate(ordered, start=1)]


def _supplier(c: Candidate) -> uuid.UUID:
    return c.supplier_id


def _final_bid_at(c: Candidate) -> datetime:
    return c.final_bid_at


def _social_last(c: Candidate) -> int:
    return 0 if c.kind == SupplierKind.SOCIAL_ORGANIZATION else 1


def _amount(c: Candidate) -> Decimal:
    return c.amount


def _cents(price: Decimal) -> Decimal:
    """The published figure: rounded to cents. An amount in cents already (every
    amount the close decrypts) is its own rounding, kept rather than copied."""
    if price.same_quantum(CENT):
        return price
    return price.quantize(CENT, rounding=ROUND_HALF_UP)


# The inputs of `abnormally_low` besides the price: the number, mean and lowest evaluated
# price of the valid bids of the round's other bidders not yet awarded.
Prices = tuple[int, Decimal | None, Decimal | None]


def abnormally_low(price: Decimal, others: int, others_mean: Decimal | None,
                   next_price: Decimal | None) -> bool:
    """The winner's evaluated `price` is abnormally low against the `others` valid bids of
    bidders not yet awarded: <= 0.6 x their mean, or <= 0.7 x the next-ranked one's."""
    if others == 0 or others_mean is None or next_price is None:
        return False
    return price <= LOW_VS_MEAN * others_mean or price <= LOW_VS_NEXT * next_price
