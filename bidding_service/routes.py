"""The bidding service's route table and what its handlers share: the app keys of its
resources, the roles, paging and the answer to a created resource."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from aiohttp import web

from bidding_service.bids.memory import BidMemory
from bidding_service.bids.receipts import ReceiptSigner
from bidding_service.bids.sealed import Sealer
from shared.auth import Role
from shared.http import Api, render
from shared.idempotency import Outcome
from shared.paging import decode_cursor, encode_cursor
from shared.problems import unprocessable
from shared.ratelimit import RateLimiter

api = Api(title="Bidding service")
RATE_LIMITER = web.AppKey("bid_rate_limiter", RateLimiter)
SEALER = web.AppKey("bid_sealer", Sealer)
RECEIPTS = web.AppKey("receipt_signer", ReceiptSigner)
BID_MEMORY = web.AppKey("bid_memory", BidMemory)

CENTER = Role.PROCUREMENT_CENTER
BUYER = Role.BUYER
SUPPLIER = Role.SUPPLIER
FINANCE = Role.FINANCE


def after_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    try:
        return datetime.fromisoformat(str(values[0])), uuid.UUID(str(values[1]))
    except ValueError:
        raise unprocessable("the cursor is not valid") from None


def page(items: list[dict[str, Any]], after: tuple[datetime, uuid.UUID] | None,
          ) -> dict[str, Any]:
    return {"items": items,
            "next_cursor": encode_cursor([after[0].isoformat(), str(after[1])]) if after else None}


def created(outcome: Outcome) -> web.Response:
    headers = {"Location": outcome.location} if outcome.location else None
    return render(outcome.body, outcome.status, headers=headers)
