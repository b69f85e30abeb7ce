"""bench/wrk_bids.lua under real wrk, against a strict stand-in for the bid endpoint: a
supplier never has two bids in flight, every bid is lower than its last accepted one by
the round's minimum decrement (also across the warm-up and the measured run), and the
only refusals are the deliberate repeats. Needs wrk (scripts/bench-setup)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from bench import wrk

DECREMENT_CENTS = 300


class StrictEndpoint:
    """The bid rules wrk_bids.lua must respect, and what it saw."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self.in_flight: set[str] = set()
        self.seen: Counter[str] = Counter()
        self.rng = random.Random(7)

    async def bid(self, request: web.Request) -> web.Response:
        supplier = request.headers["X-Bench-Supplier"]
        echo = {"X-Request-ID": request.headers.get("X-Request-ID", "")}
        assert request.headers["Authorization"] == f"Bearer token-{supplier}"
        if supplier in self.in_flight:
            self.seen["overlap"] += 1
            return problem(409, "overlap", echo)
        self.in_flight.add(supplier)
        try:
            await asyncio.sleep(self.rng.uniform(0, 0.004))
            cents = int(Decimal((await request.json())["amount"]) * 100)
            previous = self.last.get(supplier)
            if previous is not None and cents > previous - DECREMENT_CENTS:
                self.seen["not lower"] += 1
                return problem(422, "bid-not-lower", echo)
            self.last[supplier] = cents
            self.seen["accepted"] += 1
            return web.json_response({"amount": str(cents)}, status=201, headers=echo)
        finally:
            self.in_flight.discard(supplier)


def problem(status: int, slug: str, headers: dict[str, str]) -> web.Response:
    body = {"type": f"https://example.test/problems/{slug}", "status": status}
    return web.Response(body=orjson.dumps(body), status=status, headers=headers,
                        content_type="application/problem+json")


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[StrictEndpoint, str]]:
    strict = StrictEndpoint()
    app = web.Application()
    app.router.add_post("/v1/rounds/{round_id}/bids", strict.bid)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield strict, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.skipif(wrk.find() is None, reason="wrk is not installed (scripts/bench-setup)")
async def test_only_the_deliberate_repeats_are_refused(
        endpoint: tuple[StrictEndpoint, str], tmp_path: Path) -> None:
    strict, url = endpoint
    suppliers = [[str(uuid.uuid4()), ""] for _ in range(200)]
    for s in suppliers:
        s[1] = f"token-{s[0]}"
    spec = {"targets": [url, url], "path": f"/v1/rounds/{uuid.uuid4()}/bids",
            "suppliers": suppliers, "concurrency": 40, "duration": 1, "warmup": 1,
            "bad_share": 0.2, "decrement_cents": DECREMENT_CENTS, "seed": 5, "watch": {}}
    found = wrk.find()
    assert found is not None
    result = await wrk.run(spec, tmp_path / "wrk", found)

    assert strict.seen["overlap"] == 0
    assert result["generator"] == "wrk"
    assert result["targets"] == 2
    assert result["accepted"] > 0
    assert result["errors"] == {}
    assert set(result["refused"]) <= {"422 bid-not-lower"}
    checks = result["checks"]
    assert checks["overlaps"] == 0
    assert checks["unmatched"] == 0
    assert checks["not_deliberate"] == 0
    assert checks["repeats_answered"] > 0
    assert checks["repeats_refused"] == checks["repeats_answered"]
    assert result["refused"].get("422 bid-not-lower", 0) == checks["repeats_refused"]
    # Every refusal the endpoint made, warm-up included, answered a deliberate repeat.
    assert strict.seen["not lower"] >= checks["repeats_refused"]
    assert result["latency_ms"]["p50"] is not None
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
