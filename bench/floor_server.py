"""Floor (a): the least an HTTP bid endpoint can do on this stack.

A bare aiohttp handler on uvloop that reads the JSON body and does one asyncpg INSERT
of a bid row (same columns, foreign key and index as the bidding schema's `bids`) into
`floor.bids`, then answers 201 with the bid. No auth, no validation, no transaction
beyond the INSERT's own, no events; it echoes `X-Request-ID` as the service does (wrk's
script matches answers to suppliers by it). Run as `python -m bench.floor_server` with
DATABASE_URL and HTTP_PORT; same pool size as the service (DB_POOL_MAX, default 20).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import orjson
from aiohttp import web

DDL = """
CREATE SCHEMA IF NOT EXISTS floor;
CREATE TABLE IF NOT EXISTS floor.rounds (id uuid PRIMARY KEY);
CREATE TABLE IF NOT EXISTS floor.bids (
    id                 uuid PRIMARY KEY,
    round_id           uuid NOT NULL REFERENCES floor.rounds (id),
    supplier_id        uuid NOT NULL,
    amount             numeric(16, 2) NOT NULL,
    submitted_at       timestamptz NOT NULL,
    valid              boolean NOT NULL DEFAULT true,
    invalidated_reason text
);
CREATE INDEX IF NOT EXISTS floor_bids_round_supplier
    ON floor.bids (round_id, supplier_id, submitted_at);
"""

INSERT = ("INSERT INTO floor.bids (id, round_id, supplier_id, amount, submitted_at)"
          " VALUES ($1, $2, $3, $4, clock_timestamp()) RETURNING submitted_at")

POOL = web.AppKey("pool", asyncpg.Pool)


async def submit(request: web.Request) -> web.Response:
    data = orjson.loads(await request.read())
    round_id = uuid.UUID(request.match_info["round_id"])
    supplier_id = uuid.UUID(request.headers["X-Bench-Supplier"])
    bid_id = uuid.uuid4()
    amount = Decimal(str(data["amount"]))
    submitted = await request.app[POOL].fetchval(INSERT, bid_id, round_id, supplier_id, amount)
    body = {"id": str(bid_id), "round_id": str(round_id), "supplier_id": str(supplier_id),
            "amount": str(amount), "submitted_at": submitted.isoformat(), "valid": True}
    return web.Response(body=orjson.dumps(body), status=201, content_type="application/json",
                        headers={"X-Request-ID": request.headers.get("X-Request-ID", "")})


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build() -> web.Application:
    app = web.Application()

    async def pool(app: web.Application) -> AsyncIterator[None]:
        app[POOL] = await asyncpg.create_pool(
            os.environ["DATABASE_URL"], min_size=2,
            max_size=int(os.environ.get("DB_POOL_MAX", "20")),
            server_settings={"application_name": "bench-floor"})
        yield
        await app[POOL].close()

    app.cleanup_ctx.append(pool)
    app.router.add_post("/v1/rounds/{round_id}/bids", submit)
    app.router.add_get("/readyz", healthz)
    return app


def main() -> None:
    import asyncio

    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    web.run_app(build(), host="127.0.0.1", port=int(os.environ["HTTP_PORT"]), print=None,
                access_log=None, loop=loop)


if __name__ == "__main__":
    main()
