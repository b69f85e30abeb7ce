"""A round's award releases: published (pending), then its outcome."""

from __future__ import annotations

from typing import Any

from bidding_service.ocds.tender import round_ocid
from shared.ocds import releases as r
from shared.ocds.projection import Context

# award.<outcome> -> the award's status (awardStatus codelist). `confirmed` (after an
# abnormal-price review) starts the acceptance window: still pending.
OUTCOME_STATUS = {"award.accepted": "active", "award.declined": "unsuccessful",
                  "award.expired": "unsuccessful", "award.rejected": "unsuccessful",
                  "award.cancelled": "cancelled", "award.confirmed": "pending"}


def award_release(award: dict[str, Any], context: Context, release_id: str,
                  date: str) -> r.Release:
    """The `award` release of `award.published`: the winner's amount, never the ranking."""
    party = r.supplier_party(award["supplier"])
    return r.release(
        round_ocid(context, award["round_id"]), release_id, date, "award",
        parties=[party],
        awards=[{"id": str(award["id"]), "status": "pending",
                 "date": award.get("awarded_at") or date,
                 "value": r.value(award.get("amount")),
                 "suppliers": [r.organization_reference(party)]}])


def award_update(event_type: str, data: dict[str, Any], context: Context, release_id: str,
                 date: str) -> r.Release:
    details = data.get("reason_code") or data.get("reason")
    return r.release(
        round_ocid(context, data["round_id"]), release_id, date, "awardUpdate",
        awards=[{"id": str(data["award_id"]), "status": OUTCOME_STATUS[event_type],
                 "statusDetails": None if details is None else str(details)[:500]}])
