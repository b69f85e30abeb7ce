"""Models of the public notices API (for its OpenAPI document and its queries)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bidding_service.notices.domain import NoticeKind
from bidding_service.schemas import Buyer, ExtensionOut, PoolRef, RoundOut
from shared.paging import PageQuery
from shared.types import Money, Timestamp


class NoticeQuery(PageQuery):
    kind: NoticeKind | None = None
    pool_id: uuid.UUID | None = None
    round_id: uuid.UUID | None = None


class NoticeOut(BaseModel):
    """One notice; the fields after `published_at` depend on `kind` (docs/http-api.md)."""

    model_config = ConfigDict(extra="allow")

    id: uuid.UUID
    kind: NoticeKind
    round_id: uuid.UUID
    pool: PoolRef
    title: str
    buyer: Buyer
    method: str
    published_at: Timestamp
    description: str | None = None
    ceiling_price: Money | None = None
    opens_at: Timestamp | None = None
    closes_at: Timestamp | None = None
    extension: ExtensionOut | None = None
    min_decrement: Money | None = None
    extensions_used: int | None = None
    award: dict[str, Any] | None = Field(default=None, description="result: GET /v1/awards/{id}")
    ranking_size: int | None = None
    ranking_url: str | None = None
    award_id: uuid.UUID | None = None
    status: str | None = None
    supplier_id: uuid.UUID | None = None
    reason: str | None = None
    reason_code: str | None = None
    at: Timestamp | None = None


class NoticePage(BaseModel):
    items: list[NoticeOut]
    next_cursor: str | None


class PublicRound(RoundOut):
    """Before the result only id, title, description, buyer, method, pool, ceiling_price,
    opens_at, closes_at, extensions_used and status; after it, v1's public view."""

    model_config = ConfigDict(extra="allow")

    # RoundOut already has `method` (price competition by default).
    budget_line: str | None = None  # type: ignore[assignment]
    min_bids: int | None = None  # type: ignore[assignment]
    sme_price_deduction: str | None = None  # type: ignore[assignment]
    disclosure: str | None = None  # type: ignore[assignment]
    min_decrement: Money | None = None
    extension: ExtensionOut | None = None
    acceptance_seconds: int | None = None
    status_reason: str | None = None
    invited_count: int | None = None  # type: ignore[assignment]
    launched_at: Timestamp | None = None  # type: ignore[assignment]
    closed_at: Timestamp | None = None


class RankingItem(BaseModel):
    rank: int
    supplier_id: uuid.UUID
    supplier_name: str
    amount: Money
    evaluated_amount: Money
    skipped_reason: str | None = None


class RankingPage(BaseModel):
    items: list[RankingItem]
    next_cursor: str | None
    size: int = Field(description="how many bidders the whole ranking has")
