"""A budget reservation as JSON: the round's `budget` block and the listing's items."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from shared.types import format_money


def money(value: Decimal | None) -> str | None:
    return format_money(value) if value is not None else None


def reservation_public(res: asyncpg.Record, *, in_round: bool = False) -> dict[str, Any]:
    """finance.md, "What the round and the award show"; the listing adds the round, the
    budget line and the times for reconciliation."""
    body: dict[str, Any] = {
        "reservation_id": str(res["id"]),
        "status": res["status"],
        "amount": money(res["amount"]),
        "reserved_amount": money(res["reserved_amount"]),
        "committed_amount": money(res["committed_amount"]),
        "released_amount": money(res["released_amount"]),
        "reason": res["reason"],
        "reply_by": res["reply_by"].isoformat(),
    }
    if not in_round:
        body.update({
            "round_id": str(res["round_id"]),
            "budget_line": res["budget_line"],
            "currency": res["currency"],
            "requested_at": res["requested_at"].isoformat(),
            "answered_at": res["answered_at"].isoformat() if res["answered_at"] else None,
            "award_id": str(res["commit_award_id"]) if res["commit_award_id"] else None,
            "release_requested_at": res["release_requested_at"].isoformat()
            if res["release_requested_at"] else None,
        })
    return body
