"""A round as JSON: what everyone entitled to it may see (no bid information)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from bidding_service.rounds.domain import Extension
from shared.types import format_money


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def money(value: Decimal | None) -> str | None:
    return format_money(value) if value is not None else None


def extension(r: asyncpg.Record) -> Extension | None:
    if r["ext_window_seconds"] is None:
        return None
    return Extension(r["ext_window_seconds"], r["ext_extend_seconds"], r["ext_max_extensions"])


def round_public(r: asyncpg.Record) -> dict[str, Any]:
    """The round without any bid information: what everyone entitled to it may see."""
    ext = extension(r)
    return {
        "id": str(r["id"]),
        "pool": {"id": str(r["pool_id"]), "code": r["pool_code"], "name": r["pool_name"]},
        "title": r["title"],
        "description": r["description"],
        "buyer": {"org": r["buyer_org"], "name": r["buyer_name"]},
        "budget_line": r["budget_line"],
        "ceiling_price": money(r["ceiling_price"]),
        "opens_at": iso(r["opens_at"]),
        "closes_at": iso(r["closes_at"]),
        "min_bids": r["min_bids"],
        "sme_price_deduction": str(r["sme_price_deduction"].normalize()),
        "disclosure": r["disclosure"],
        "min_decrement": money(r["min_decrement"]),
        "extension": None if ext is None else {
            "window_seconds": ext.window_seconds, "extend_seconds": ext.extend_seconds,
            "max_extensions": ext.max_extensions},
        "extensions_used": r["extensions_used"],
        "acceptance_seconds": r["acceptance_seconds"],
        "acceptance_working_days": r["acceptance_working_days"],
        "method": r["method"],
        "amount": None if r["method"] == "price_competition" else money(r["ceiling_price"]),
        "justification": r["justification"],
        "abnormal_price_review": r["abnormal_price_review"],
        "enquiries_until": iso(r["enquiries_until"]),
        "status": r["status"],
        "status_reason": r["status_reason"],
        "reason_code": r["reason_code"],
        "invited_count": r["invited_count"],
        "launched_at": iso(r["launched_at"]),
        "closed_at": iso(r["closed_at"]),
        "bids_root": r["bids_root"],
        "bids_tree_size": r["bids_tree_size"],
    }


def close_health(r: asyncpg.Record) -> dict[str, Any]:
    """The timer's record of failed closes, for the center (codes only, no data)."""
    return {"close_attempts": r["close_attempts"], "last_close_error": r["last_close_error"],
            "next_close_attempt_at": iso(r["next_close_attempt_at"])}
