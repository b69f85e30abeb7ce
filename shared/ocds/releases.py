"""Pure builders of OCDS 1.1 release JSON; no I/O, no schema needed.

Amounts are `Decimal`s here and become JSON numbers with exactly their digits when
serialised by `dumps` (the standard's `Value.amount` is a number; our money elsewhere
stays a decimal string)."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from shared.types import format_money

CURRENCY = "CNY"
# The techniques extension (framework agreements), pinned at the commit the conformance
# tests validate against.
TECHNIQUES_EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/"
    "ocds_techniques_extension/5568b00a8dd694a3d34441bdd9ef2bd3f9d44b11/extension.json")
EXTENSIONS = [TECHNIQUES_EXTENSION]
DEFAULT_OCID_PREFIX = "ocds-wz0000"

Release = dict[str, Any]


def ocid(prefix: str, kind: str, identifier: object) -> str:
    """`<prefix>-pool-<id>` or `<prefix>-round-<id>`."""
    return f"{prefix}-{kind}-{identifier}"


def value(amount: Decimal | str | None, currency: str = CURRENCY) -> dict[str, Any] | None:
    """An OCDS Value from our money (a decimal or its string); None for no amount."""
    if amount is None:
        return None
    exact = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return {"amount": Decimal(format_money(exact)), "currency": currency}


def period(start: str | None = None, end: str | None = None) -> dict[str, str]:
    """An OCDS Period from RFC 3339 strings (absent ends left out)."""
    out: dict[str, str] = {}
    if start is not None:
        out["startDate"] = start
    if end is not None:
        out["endDate"] = end
    return out


def day_start(day: str, zone: ZoneInfo) -> str:
    """00:00 local time of an ISO date, as an RFC 3339 date-time."""
    return datetime.combine(date.fromisoformat(day), time(0), zone).isoformat()


def day_end(day: str, zone: ZoneInfo) -> str:
    """The last second of an ISO date (validity dates are inclusive), local time."""
    return datetime.combine(date.fromisoformat(day), time(23, 59, 59), zone).isoformat()


def supplier_party(supplier: dict[str, Any]) -> dict[str, Any]:
    """A party with role `supplier` from our supplier summary {id, name, credit_code?}."""
    party: dict[str, Any] = {"id": str(supplier["id"]), "name": supplier.get("name"),
                             "roles": ["supplier"]}
    if supplier.get("credit_code"):
        party["identifier"] = {"scheme": "CN-USCC", "id": supplier["credit_code"],
                               "legalName": supplier.get("name")}
    return {k: v for k, v in party.items() if v is not None}


def organization_reference(party: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k in ("id", "name") if (v := party.get(k)) is not None}


def release(ocid_: str, release_id: str, date_: str, tag: str, **sections: Any) -> Release:
    """A release of a contracting process (initiationType `tender`); None sections and
    None fields inside them are dropped."""
    body: Release = {"ocid": ocid_, "id": release_id, "date": date_, "tag": [tag],
                     "initiationType": "tender"}
    for name, section in sections.items():
        if section is not None:
            body[name] = _compact(section)
    return body


def _compact(value_: Any) -> Any:
    if isinstance(value_, dict):
        return {k: _compact(v) for k, v in value_.items() if v is not None}
    if isinstance(value_, list):
        return [_compact(v) for v in value_]
    return value_


def _default(value_: Any) -> Any:
    if isinstance(value_, Decimal):
        # A JSON number with exactly these digits (no float on the way).
        return orjson.Fragment(str(value_).encode())
    raise TypeError(f"not JSON serialisable: {type(value_).__name__}")


def dumps(body: Any) -> bytes:
    """Release JSON with `Decimal`s as exact JSON numbers."""
    return orjson.dumps(body, default=_default)


def loads(text: str | bytes) -> Any:
    """Release JSON back, numbers with a fraction as `Decimal`s (exact)."""
    return json.loads(text, parse_float=Decimal)
