"""Request and response models of the bidding-service API (and of its OpenAPI document)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bidding_service.awards.domain import AwardStatus
from bidding_service.budget.domain import ReservationStatus
from bidding_service.methods.domain import JUSTIFICATION_MAX, JUSTIFICATION_MIN
from bidding_service.rounds.domain import Disclosure, Method, ReasonCode, RoundStatus
from shared.paging import PageQuery
from shared.types import Money, Text, Timestamp


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExtensionIn(Strict):
    window_seconds: int = Field(ge=1, le=3600)
    extend_seconds: int = Field(ge=1, le=3600)
    max_extensions: int = Field(ge=1, le=100)


class Buyer(Strict):
    org: Annotated[Text, Field(min_length=1, max_length=64)]
    name: Annotated[Text, Field(min_length=1, max_length=200)]


class LaunchRound(Strict):
    """One body for the three methods (spec methods.md); `method` says which fields apply."""

    method: Method = Method.PRICE_COMPETITION
    pool_id: uuid.UUID
    title: Annotated[Text, Field(min_length=1, max_length=200)]
    description: Annotated[Text, Field(max_length=5000)] = ""
    buyer: Buyer
    budget_line: Annotated[Text, Field(min_length=1, max_length=64)]
    # price competition
    ceiling_price: Money | None = None
    opens_at: Timestamp | None = None
    closes_at: Timestamp | None = None
    min_bids: int = Field(default=3, ge=1, le=10_000)
    sme_price_deduction: Decimal = Field(default=Decimal("0"), ge=0, le=Decimal("0.20"),
                                         max_digits=5, decimal_places=4)
    disclosure: Disclosure = Disclosure.SEALED
    min_decrement: Money | None = None
    extension: ExtensionIn | None = None
    abnormal_price_review: bool = False
    enquiries_until: Timestamp | None = None
    # direct selection and rotation: the round's fixed (public) amount
    amount: Money | None = None
    supplier_id: uuid.UUID | None = None
    justification: Annotated[Text, Field(min_length=JUSTIFICATION_MIN,
                                         max_length=JUSTIFICATION_MAX)] | None = None
    acceptance_seconds: int | None = Field(default=None, ge=1, le=30 * 86_400)
    acceptance_working_days: int | None = Field(default=None, ge=1, le=30)

    @model_validator(mode="after")
    def _method_fields(self) -> LaunchRound:
        if self.acceptance_seconds is not None and self.acceptance_working_days is not None:
            raise ValueError("give acceptance_seconds or acceptance_working_days, not both")
        sent = self.model_fields_set
        missing: list[str]
        alien: list[str]
        if self.method is Method.PRICE_COMPETITION:
            missing = [f for f in ("ceiling_price", "closes_at") if getattr(self, f) is None]
            alien = [f for f in ("amount", "supplier_id", "justification") if f in sent]
        else:
            missing = ["amount"] if self.amount is None else []
            if self.method is Method.DIRECT_SELECTION:
                missing += [f for f in ("supplier_id", "justification")
                            if getattr(self, f) is None]
            alien = [f for f in ("ceiling_price", "opens_at", "closes_at", "min_bids",
                                 "sme_price_deduction", "disclosure", "min_decrement",
                                 "extension", "abnormal_price_review", "enquiries_until")
                     if f in sent]
            if self.method is Method.ROTATION:
                alien += [f for f in ("supplier_id", "justification") if f in sent]
        if missing:
            raise ValueError(f"{self.method.value} requires {', '.join(missing)}")
        if alien:
            raise ValueError(f"{self.method.value} does not take {', '.join(alien)}")
        if self.enquiries_until is not None and self.closes_at is not None \
                and self.enquiries_until > self.closes_at:
            raise ValueError("enquiries_until must not be after closes_at")
        return self

    @field_validator("ceiling_price", "amount")
    @classmethod
    def _positive(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and v <= 0:
            raise ValueError("must be greater than 0")
        return v

    @field_validator("min_decrement")
    @classmethod
    def _positive_decrement(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and v <= 0:
            raise ValueError("must be greater than 0")
        return v

    @field_validator("sme_price_deduction", mode="before")
    @classmethod
    def _decimal_text(cls, v: object) -> object:
        if isinstance(v, bool | float):
            raise ValueError("must be a decimal between 0 and 0.20")
        return v


class SubmitBid(Strict):
    amount: Money


class CancelRound(Strict):
    reason_code: ReasonCode = ReasonCode.OTHER
    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


class CancelAward(Strict):
    reason_code: ReasonCode = ReasonCode.OTHER
    reason: Annotated[Text, Field(min_length=1, max_length=2000)]
    reaward_next: bool = False


class ReviewDecision(enum.StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"


class ReviewAward(Strict):
    decision: ReviewDecision
    note: Annotated[Text, Field(min_length=1, max_length=2000)]


class SetRotation(Strict):
    order: list[uuid.UUID] = Field(max_length=10_000)


class RotationEntry(BaseModel):
    supplier_id: uuid.UUID
    served: bool


class RotationOut(BaseModel):
    pool_id: uuid.UUID
    period: int
    order: list[RotationEntry]
    next_supplier_id: uuid.UUID | None


class AskQuestion(Strict):
    text: Annotated[Text, Field(min_length=1, max_length=2000)]


class AnswerQuestion(Strict):
    text: Annotated[Text, Field(min_length=1, max_length=2000)]


class QuestionOut(BaseModel):
    id: uuid.UUID
    round_id: uuid.UUID
    text: str
    asked_at: Timestamp
    answer: str | None
    answered_at: Timestamp | None = None
    mine: bool | None = Field(default=None, description="true in the asker's own view only")


class QuestionPage(BaseModel):
    items: list[QuestionOut]


class DeclineAward(Strict):
    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


class AcceptAward(Strict):
    pass


class RoundQuery(PageQuery):
    status: RoundStatus | None = None
    pool_id: uuid.UUID | None = None


class AwardQuery(PageQuery):
    pool_id: uuid.UUID | None = None
    buyer_org: Annotated[Text, Field(max_length=64)] | None = None


class ReservationQuery(PageQuery):
    status: ReservationStatus | None = None
    budget_line: Annotated[Text, Field(min_length=1, max_length=64)] | None = None


class PoolRef(BaseModel):
    id: uuid.UUID
    code: str
    name: str


class ExtensionOut(BaseModel):
    window_seconds: int
    extend_seconds: int
    max_extensions: int


class SupplierRef(BaseModel):
    id: uuid.UUID
    name: str
    credit_code: str
    kind: str
    size: str


class RankingEntry(BaseModel):
    rank: int
    supplier_id: uuid.UUID
    supplier_name: str
    amount: Money
    evaluated_amount: Money
    skipped_reason: str | None = Field(
        default=None, description="why a fallback award passed this bidder over")


class AuditHeadOut(BaseModel):
    seq: int
    hash: str


class AwardOut(BaseModel):
    id: uuid.UUID
    round_id: uuid.UUID
    pool_id: uuid.UUID
    status: AwardStatus
    supplier: SupplierRef
    amount: Money
    evaluated_amount: Money
    currency: str = "CNY"
    buyer: Buyer
    budget_line: str
    rank: int
    bid_count: int
    invited_count: int
    awarded_at: Timestamp
    accept_by: Timestamp | None = Field(description="null while pending_review")
    decided_at: Timestamp | None = None
    decision_reason: str | None = None
    method: Method
    justification: str | None = Field(default=None, description="direct selection's reason")
    abnormally_low: bool | None = Field(default=None,
                                        description="price competition: true or false")
    rotation_period: int | None = None
    reason_code: str | None = Field(default=None, description="a cancelled award's")
    note: str | None = Field(default=None, description="the center's review note")
    bids_root: str | None = None
    bids_tree_size: int | None = None
    audit_head: AuditHeadOut | None = Field(
        default=None, description="the bidding service's audit head when it was published")


class PaymentOut(BaseModel):
    payment_id: str
    amount: Money
    paid_at: Timestamp


class AwardView(AwardOut):
    """An award over HTTP: with what finance reported paid on it (finance.md 5)."""

    amount_paid: Money = Field(description="the sum of `payments`")
    payments: list[PaymentOut]
    overpaid: bool = Field(description="the payments add up to more than `amount`")


class BudgetOut(BaseModel):
    """The round's budget reservation (finance.md); null with BUDGET_RESERVATION=off."""

    reservation_id: uuid.UUID
    status: ReservationStatus
    amount: Money
    reserved_amount: Money | None
    committed_amount: Money | None
    released_amount: Money | None
    reason: str | None = Field(default=None, description="finance's reason of a refusal")
    reply_by: Timestamp


class ReservationOut(BudgetOut):
    round_id: uuid.UUID
    budget_line: str
    currency: str = "CNY"
    requested_at: Timestamp
    answered_at: Timestamp | None
    award_id: uuid.UUID | None = Field(description="the award whose commit was requested")
    release_requested_at: Timestamp | None


class ReservationPage(BaseModel):
    items: list[ReservationOut]
    next_cursor: str | None


class OwnBid(BaseModel):
    id: uuid.UUID
    amount: Money
    submitted_at: Timestamp


class RoundOut(BaseModel):
    """A round as the caller may see it: amounts of others only once awarded."""

    id: uuid.UUID
    pool: PoolRef
    title: str
    description: str
    buyer: Buyer
    budget_line: str
    ceiling_price: Money
    opens_at: Timestamp
    closes_at: Timestamp
    min_bids: int
    sme_price_deduction: str
    disclosure: Disclosure
    min_decrement: Money | None
    extension: ExtensionOut | None
    extensions_used: int
    acceptance_seconds: int | None
    acceptance_working_days: int | None = None
    method: Method
    amount: Money | None = Field(default=None, description="direct selection, rotation")
    justification: str | None = None
    abnormal_price_review: bool = False
    enquiries_until: Timestamp | None = None
    status: RoundStatus
    status_reason: str | None
    reason_code: str | None = Field(default=None, description="a cancelled round's")
    invited_count: int
    launched_at: Timestamp
    closed_at: Timestamp | None
    bids_root: str | None = Field(default=None, description="RFC 6962 root, from the close")
    bids_tree_size: int | None = None
    bid_count: int | None = Field(default=None, description="center and buyer only")
    bidder_count: int | None = Field(default=None, description="center and buyer only")
    my_bid: OwnBid | None = Field(default=None, description="the calling supplier's last bid")
    my_status: str | None = Field(default=None, description="invited or excluded")
    rank: int | None = Field(default=None, description="own rank, with disclosure=rank")
    close_attempts: int | None = Field(
        default=None, description="center only: failed attempts to close the round so far")
    last_close_error: str | None = Field(
        default=None, description="center only: short code of the last failed close")
    next_close_attempt_at: Timestamp | None = Field(
        default=None, description="center only: when the timer retries a failed close")
    budget: BudgetOut | None = Field(
        default=None, description="null when launched with BUDGET_RESERVATION=off")
    award: AwardView | None = None
    ranking: list[RankingEntry] | None = None


class Receipt(BaseModel):
    """trust.md section 4: verifiable with SHA-256 and Ed25519 alone."""

    round_id: str
    bid_id: str
    supplier_id: str
    amount: str
    submitted_at: str
    leaf: str
    key_id: str
    signature: str


class BidOut(BaseModel):
    id: uuid.UUID
    round_id: uuid.UUID
    supplier_id: uuid.UUID
    amount: Money
    submitted_at: Timestamp
    valid: bool = True
    receipt: Receipt | None = Field(default=None, description="on a 201 and its replays")


class Jwk(BaseModel):
    kty: str
    crv: str
    kid: str
    x: str
    use: str


class KeySet(BaseModel):
    keys: list[Jwk]


class BidProof(BaseModel):
    leaf_index: int
    tree_size: int
    audit_path: list[str]
    root: str


class RoundPage(BaseModel):
    items: list[RoundOut]
    next_cursor: str | None


class BidPage(BaseModel):
    items: list[BidOut]
    next_cursor: str | None


class AwardPage(BaseModel):
    items: list[AwardView]
    next_cursor: str | None


class Eligible(BaseModel):
    pool_id: uuid.UUID
    supplier_ids: list[uuid.UUID]
    as_of: datetime
