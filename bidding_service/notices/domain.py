"""Which event makes which public notice, and what that notice shows: pure rules."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

PRICE_COMPETITION = "price_competition"
# A round under the budget handshake is not public until it leaves this status.
PENDING_BUDGET = "pending_budget"
# award.published is the award as GET /v1/awards/{id} shows it plus these event-only
# fields; the result notice keeps the award alone (its ranking is paged at ranking_url).
EVENT_ONLY_FIELDS = ("pool", "ranking", "ranking_size", "ranking_url")
AWARD_UPDATES = ("accepted", "declined", "expired", "confirmed", "rejected", "cancelled")


class NoticeKind(enum.StrEnum):
    INVITATION = "invitation"
    EXTENSION = "extension"
    RESULT = "result"
    AWARD_UPDATE = "award_update"
    FAILURE = "failure"
    CANCELLATION = "cancellation"
    QUESTION_ANSWER = "question_answer"


@dataclass(frozen=True)
class NoticeDraft:
    """A notice still without the round's public identity (title, pool, buyer, method)."""

    kind: NoticeKind
    round_id: str
    body: dict[str, Any] = field(default_factory=dict)


def round_id_of(data: dict[str, Any], subject: str) -> str:
    """round.launched carries the round as `id`; every other event `round_id`."""
    return str(data.get("round_id") or data.get("id") or subject)


def invitation_due(data: dict[str, Any]) -> bool:
    """Only a price competition is invited publicly, and only once its budget is held."""
    return (data.get("method") or PRICE_COMPETITION) == PRICE_COMPETITION \
        and data.get("status") != PENDING_BUDGET


def invitation_body(round_: dict[str, Any]) -> dict[str, Any]:
    """What an invitation shows of a round: terms and times, never anything about bids."""
    return {k: round_.get(k) for k in ("description", "ceiling_price", "opens_at",
                                       "closes_at", "extension", "min_decrement")}


def draft_for(type_: str, subject: str, data: dict[str, Any]) -> NoticeDraft | None:
    """The notice an event makes, or None (round.launched: see `invitation_due`, whose
    body is taken from the round row so a later release makes the same notice)."""
    round_id = round_id_of(data, subject)
    if type_ == "round.launched":
        return NoticeDraft(NoticeKind.INVITATION, round_id) if invitation_due(data) else None
    if type_ == "round.extended":
        return NoticeDraft(NoticeKind.EXTENSION, round_id, {
            "closes_at": data.get("closes_at"), "extensions_used": data.get("extensions_used")})
    if type_ == "award.published":
        return NoticeDraft(NoticeKind.RESULT, round_id, {
            "award": {k: v for k, v in data.items() if k not in EVENT_ONLY_FIELDS},
            "ranking_size": data.get("ranking_size"), "ranking_url": data.get("ranking_url")})
    if type_.startswith("award.") and type_.removeprefix("award.") in AWARD_UPDATES:
        return NoticeDraft(NoticeKind.AWARD_UPDATE, round_id, {
            "award_id": str(data.get("award_id") or subject),
            "status": type_.removeprefix("award."), "supplier_id": data.get("supplier_id"),
            "reason": data.get("reason"), "at": data.get("at")})
    if type_ == "round.failed":
        return NoticeDraft(NoticeKind.FAILURE, round_id, {"reason": data.get("reason")})
    if type_ == "round.cancelled":
        return NoticeDraft(NoticeKind.CANCELLATION, round_id, {
            "reason_code": data.get("reason_code"), "reason": data.get("reason")})
    if type_ == "round.question.answered":
        return NoticeDraft(NoticeKind.QUESTION_ANSWER, round_id, {
            k: data.get(k) for k in ("question_id", "question", "answer", "answered_at")})
    return None


# Fields of a round the public may see before its result (never counts or bidders).
OPEN_FIELDS = ("id", "title", "description", "buyer", "method", "pool", "ceiling_price",
               "opens_at", "closes_at", "extensions_used", "status")


def open_round_view(round_: dict[str, Any]) -> dict[str, Any]:
    """The public view of a round before its result: exactly OPEN_FIELDS."""
    return {k: round_.get(k) for k in OPEN_FIELDS}
