"""An award (a result notice) and a ranking as JSON."""

from __future__ import annotations

from typing import Any

import asyncpg

from bidding_service.rounds.views import iso, money


def award_public(a: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(a["id"]),
        "round_id": str(a["round_id"]),
        "pool_id": str(a["pool_id"]),
        "status": a["status"],
        "supplier": {"id": str(a["supplier_id"]), "name": a["supplier_name"],
                     "credit_code": a["credit_code"], "kind": a["kind"], "size": a["size"]},
        "amount": money(a["amount"]),
        "evaluated_amount": money(a["evaluated_amount"]),
        "currency": "CNY",
        "buyer": {"org": a["buyer_org"], "name": a["buyer_name"]},
        "budget_line": a["budget_line"],
        "rank": a["rank"],
        "bid_count": a["bid_count"],
        "invited_count": a["invited_count"],
        "awarded_at": iso(a["awarded_at"]),
        "accept_by": iso(a["accept_by"]),
        "decided_at": iso(a["decided_at"]),
        "decision_reason": a["decision_reason"],
        "method": a["method"],
        "justification": a["justification"],
        "abnormally_low": a["abnormally_low"],
        "rotation_period": a["rotation_period"],
        "reason_code": a["reason_code"],
        "note": a["note"],
        "bids_root": a["bids_root"],
        "bids_tree_size": a["bids_tree_size"],
        "audit_head": None if a["audit_seq"] is None else {
            "seq": a["audit_seq"], "hash": a["audit_hash"]},
    }


def ranking_public(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [{"rank": x["rank"], "supplier_id": str(x["supplier_id"]), "supplier_name": x["name"],
             "amount": money(x["amount"]), "evaluated_amount": money(x["evaluated_amount"]),
             "skipped_reason": x["skipped_reason"]}
            for x in rows]
