"""A round is a call-off of its pool's framework agreement: its tender releases."""

from __future__ import annotations

from typing import Any

from shared.ocds import releases as r
from shared.ocds.projection import Context

PRICE_COMPETITION = "price_competition"
PENDING_BUDGET = "pending_budget"


def round_ocid(context: Context, round_id: object) -> str:
    return r.ocid(context.prefix, "round", round_id)


def pool_id_of(round_: dict[str, Any]) -> str:
    pool = round_.get("pool")
    return str(round_.get("pool_id") or (pool or {}).get("id"))


def round_tender_release(round_: dict[str, Any], context: Context, release_id: str,
                         date: str) -> r.Release:
    """The `tender` release of a round as `round.launched` carries it (bid-free)."""
    method = round_.get("method") or PRICE_COMPETITION
    competitive = method == PRICE_COMPETITION
    buyer = round_.get("buyer") or {}
    buyer_party = None
    if buyer.get("org"):
        buyer_party = {"id": str(buyer["org"]), "name": buyer.get("name") or buyer["org"],
                       "roles": ["buyer"]}
    pool_ocid = r.ocid(context.prefix, "pool", pool_id_of(round_))
    amount = round_.get("ceiling_price") or round_.get("amount")
    opens, closes = round_.get("opens_at"), round_.get("closes_at")
    tender = {
        "id": str(round_["id"]),
        "title": round_.get("title"),
        "description": round_.get("description"),
        "status": "active",
        "procurementMethod": "selective" if competitive else "limited",
        "procurementMethodDetails": method,
        "mainProcurementCategory": "services",
        "value": r.value(amount),
        "tenderPeriod": r.period(opens, closes) if opens or closes else None,
        "competitive": competitive,
        "techniques": {"hasFrameworkAgreement": True},
    }
    return r.release(
        round_ocid(context, round_["id"]), release_id, date, "tender",
        parties=None if buyer_party is None else [buyer_party],
        buyer=None if buyer_party is None else r.organization_reference(buyer_party),
        tender=tender,
        relatedProcesses=[{"id": "framework", "relationship": ["framework"],
                           "title": (round_.get("pool") or {}).get("name"),
                           "scheme": "ocid", "identifier": pool_ocid}])


def tender_update(context: Context, round_id: object, release_id: str, date: str,
                  **fields: Any) -> r.Release:
    return r.release(round_ocid(context, round_id), release_id, date, "tenderUpdate",
                     tender={"id": str(round_id), **fields})
