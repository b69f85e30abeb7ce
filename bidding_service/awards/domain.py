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
    PUBLISHED = "published"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"


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

    The one copy of the ranking rule: the close ranks with it (`bids.amounts.ranking`) and
    the database only stores the result (`round_results`); no SQL ranks bids.

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
