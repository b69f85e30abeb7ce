"""Keyset pagination: `?limit=&cursor=` answered with `{items, next_cursor}`."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from shared.problems import unprocessable


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=500)


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values, default=str)).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise unprocessable("the cursor is not valid") from None
    if not isinstance(values, list) or len(values) != arity:
        raise unprocessable("the cursor is not valid")
    return values


def page(items: list[dict[str, Any]], limit: int, key: Any) -> dict[str, Any]:
    """The answer for `limit + 1` fetched rows; `key(item)` gives the cursor values."""
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(key(items[-1])) if more else None}
