"""The pool service's OCDS releases: a pool is a framework agreement (its first stage).

A projection of the service's own events (transparency.md, "OCDS 1.1"):
`pool.created` -> `tender`; `pool.updated` and `pool.terminated` -> `tenderUpdate`;
`pool.member.admitted` -> an `award` to that supplier; `pool.member.removed` -> that
admission's award `cancelled` (`awardUpdate`). Other events make no release."""

from __future__ import annotations

from typing import Any

from shared.db import Conn
from shared.events import CloudEvent
from shared.ocds import releases as r
from shared.ocds.projection import Context, ReleaseWriter
from shared.ocds.store import latest_award_id
from shared.settings import ServiceSettings

# Our pool status -> the tender's status (tenderStatus codelist).
TENDER_STATUS = {"upcoming": "active", "active": "active", "expired": "complete",
                 "terminated": "complete"}


def pool_ocid(context: Context, pool_id: object) -> str:
    return r.ocid(context.prefix, "pool", pool_id)


def pool_tender(pool: dict[str, Any], context: Context) -> dict[str, Any]:
    """The tender section of a pool: the framework agreement and its terms."""
    validity = r.period(r.day_start(pool["valid_from"], context.zone),
                        r.day_end(pool["valid_to"], context.zone))
    status = str(pool["status"])
    return {
        "id": str(pool["id"]),
        "title": pool["name"],
        "description": pool.get("description"),
        "status": TENDER_STATUS.get(status, "active"),
        "statusDetails": status if status == "terminated" else None,
        "procurementMethod": "selective",
        "procurementMethodDetails": "supplier pre-qualification pool (framework agreement)",
        "mainProcurementCategory": "services",
        "value": r.value(pool["price_ceiling"]),
        "contractPeriod": validity,
        "techniques": {
            "hasFrameworkAgreement": True,
            "frameworkAgreement": {"method": "withAndWithoutReopeningCompetition",
                                   "period": validity},
        },
    }


def admission_award_id(event: CloudEvent) -> str:
    """A new id per admission (a supplier removed and admitted again gets a new award)."""
    return f"admission-{event.id}"


async def releases_of(conn: Conn, event: CloudEvent, context: Context,
                      ) -> list[dict[str, Any]]:
    """The releases one pool service event makes."""
    data, date = event.data, event.time.isoformat()
    if event.type in ("pool.created", "pool.updated", "pool.terminated"):
        tag = "tender" if event.type == "pool.created" else "tenderUpdate"
        return [r.release(pool_ocid(context, data["id"]), str(event.id), date, tag,
                          tender=pool_tender(data, context))]
    if event.type == "pool.member.admitted":
        supplier = data["supplier"]
        party = r.supplier_party(supplier)
        return [r.release(pool_ocid(context, data["pool_id"]), str(event.id), date, "award",
                          parties=[party],
                          awards=[{"id": admission_award_id(event),
                                   "title": "admission to the pool",
                                   "status": "active", "date": data.get("at") or date,
                                   "suppliers": [r.organization_reference(party)]}])]
    if event.type == "pool.member.removed":
        ocid = pool_ocid(context, data["pool_id"])
        award_id = await latest_award_id(conn, ocid, str(data["supplier"]["id"]))
        if award_id is None:
            return []  # admitted before this service published OCDS: nothing to update
        return [r.release(ocid, str(event.id), date, "awardUpdate",
                          awards=[{"id": award_id, "status": "cancelled",
                                   "statusDetails": data.get("ground") or "removed"}])]
    return []


def release_writer(settings: ServiceSettings) -> ReleaseWriter:
    return ReleaseWriter(Context(settings.ocid_prefix, settings.zone), releases_of)
