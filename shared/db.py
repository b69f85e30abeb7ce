"""asyncpg pool creation: one pool per process, search_path set to the service schema."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import asyncpg
import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps_json(value: Any) -> str:
    return orjson.dumps(value, default=_default).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=dumps_json, decoder=json.loads,
                              schema="pg_catalog")


async def create_pool(dsn: str, schema: str, *, min_size: int = 2, max_size: int = 20,
                      ) -> asyncpg.Pool:
    """A pool whose connections see `schema` first and decode jsonb to Python objects."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"search_path": schema, "application_name": f"svc-{schema}",
                         "timezone": "UTC"},
        command_timeout=30,
    )
    assert pool is not None
    return pool
