"""What the pool service shows: the resources of its API, which are also its event data."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pool_service.domain import (
    Action,
    MembershipStatus,
    PoolCategory,
    PoolStatus,
    RemovalGround,
    SupplierKind,
    SupplierSize,
)
from shared.types import Money, Text, Timestamp


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person: Text | None = Field(default=None, max_length=100)
    phone: Text | None = Field(default=None, max_length=40)
    email: Text | None = Field(default=None, max_length=200)
    address: Text | None = Field(default=None, max_length=300)


class SupplierSummary(View):
    """A supplier as memberships and events carry it."""

    id: uuid.UUID
    name: str
    credit_code: str
    kind: SupplierKind
    size: SupplierSize


class Supplier(SupplierSummary):
    contact: Contact | None
    registered_at: Timestamp


class Pool(View):
    id: uuid.UUID
    code: str
    name: str
    category: PoolCategory
    jurisdiction: str
    description: str | None
    valid_from: date
    valid_to: date
    price_ceiling: Money
    max_round_budget: Money
    currency: Literal["CNY"] = "CNY"
    status: PoolStatus
    termination_reason: str | None
    terminated_at: Timestamp | None
    admitted_count: int
    peak_admitted_count: int
    needs_top_up: bool
    version: int = Field(description="+1 on every change of the pool")
    created_at: Timestamp
    updated_at: Timestamp


class RatingSummary(View):
    average: float | None = Field(description="mean score, 2 decimals; null without ratings")
    count: int


class Membership(View):
    id: uuid.UUID
    pool_id: uuid.UUID
    supplier_id: uuid.UUID
    status: MembershipStatus
    since: Timestamp = Field(description="when the membership entered its current status")
    reason: str | None
    ground: RemovalGround | None
    until: Timestamp | None
    version: int = Field(description="the number of transitions so far")
    supplier: SupplierSummary
    rating: RatingSummary
    refusals: int = Field(description="awards the supplier declined or let expire in this pool")


class HistoryEntry(View):
    version: int
    action: Action
    from_status: MembershipStatus | None
    to_status: MembershipStatus
    reason: str | None
    ground: RemovalGround | None
    until: Timestamp | None
    actor: str
    actor_role: str
    at: Timestamp


class MemberEvent(View):
    """The data of every `pool.member.*` event."""

    pool_id: uuid.UUID
    pool_code: str
    supplier: SupplierSummary
    status: MembershipStatus
    reason: str | None
    ground: RemovalGround | None
    until: Timestamp | None
    at: Timestamp
    version: int


class Buyer(View):
    org: str | None
    name: str | None


class AwardRecord(View):
    """An award to a member, as the bidding service announced it."""

    id: uuid.UUID
    round_id: uuid.UUID
    pool_id: uuid.UUID | None
    supplier_id: uuid.UUID
    buyer: Buyer
    amount: Money | None
    currency: str | None
    awarded_at: Timestamp | None
    status: Literal["published", "accepted", "declined", "expired"]
    status_at: Timestamp | None
    reason: str | None
    recorded_at: Timestamp


class Rating(View):
    id: uuid.UUID
    award_id: uuid.UUID
    pool_id: uuid.UUID
    supplier_id: uuid.UUID
    buyer_org: str
    score: int
    comment: str | None
    created_at: Timestamp


class SupplierPage(View):
    items: list[Supplier]
    next_cursor: str | None


class PoolPage(View):
    items: list[Pool]
    next_cursor: str | None


class MembershipPage(View):
    items: list[Membership]
    next_cursor: str | None


class HistoryPage(View):
    items: list[HistoryEntry]
    next_cursor: str | None


class AwardPage(View):
    items: list[AwardRecord]
    next_cursor: str | None


class RatingPage(View):
    items: list[Rating]
    next_cursor: str | None


