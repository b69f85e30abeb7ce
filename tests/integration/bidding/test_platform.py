"""Health, readiness, metrics and the OpenAPI document of the services."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from bidding_service.app import build_app as build_bidding
from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status
from tests.support import (
    TcpProxy,
    document_paths,
    documented_paths,
    metrics_url,
    running_app,
    wait_ready,
)


async def test_openapi_is_valid_and_lists_every_documented_endpoint(bidding: TestClient) -> None:
    async with bidding.get("/openapi.json") as resp:
        doc = await resp.json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    # The served document and docs/http-api.md name the same endpoints.
    assert document_paths(doc) == documented_paths("Bidding service")
    launch_op = doc["paths"]["/v1/rounds"]["post"]
    schema_ref = launch_op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    launch_schema = doc["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert launch_schema["additionalProperties"] is False
    assert {"pool_id", "title", "buyer", "budget_line"} <= set(launch_schema["required"])
    # ceiling_price and closes_at are required by the method (price competition), amount
    # by the others: the body names them all.
    assert {"method", "ceiling_price", "closes_at", "amount", "supplier_id",
            "justification"} <= set(launch_schema["properties"])
    async with bidding.get("/docs") as resp:
        assert resp.status == 200 and "/openapi.json" in await resp.text()


@pytest.mark.parametrize("dependency", ["database", "broker"])
async def test_readyz_follows_the_dependencies_without_restart(
        bidding_settings: BiddingSettings, dependency: str) -> None:
    if dependency == "database":
        proxy = await TcpProxy("127.0.0.1", 5432).start()
        url = re.sub(r"@[^/]+/", f"@127.0.0.1:{proxy.port}/", bidding_settings.database_url)
        settings = bidding_settings.model_copy(update={"database_url": url})
    else:
        proxy = await TcpProxy("127.0.0.1", 5672).start()
        url = re.sub(r"@[^/]+/", f"@127.0.0.1:{proxy.port}/", bidding_settings.amqp_url)
        settings = bidding_settings.model_copy(update={"amqp_url": url})
    async with running_app(build_bidding(settings, run_background=False)) as client:
        await wait_ready(client, 200)
        await proxy.cut()
        body = await wait_ready(client, 503)
        assert body["checks"][dependency] is False
        async with client.get("/healthz") as resp:
            assert resp.status == 200  # the process itself is fine
        await proxy.restore()
        body = await wait_ready(client, 200)
        assert body["checks"] == {"database": True, "broker": True}
    await proxy.cut()


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_metrics_move_with_traffic(bidding: TestClient, feed: PoolFeed,
                                         auth: Callable[..., dict[str, str]]) -> None:
    async def scrape() -> str:
        async with aiohttp.ClientSession() as http, http.get(metrics_url(bidding)) as resp:
            assert resp.status == 200
            return await resp.text()

    before = await scrape()
    ms = members(2)
    pool = await feed.pool(ms)
    center = auth("procurement_center", sub="metrics")
    rnd = await launch(bidding, center, round_body(pool, seconds=3))
    for m in ms:
        sup = auth("supplier", supplier_id=str(m.id))
        assert (await bid(bidding, sup, rnd["id"], "100.00"))[0] == 201
    assert (await bid(bidding, auth("supplier", supplier_id=str(ms[0].id)), rnd["id"],
                      "200.00"))[0] == 422
    await wait_status(bidding, rnd["id"], {"awarded"}, center)
    await asyncio.sleep(0.5)
    after = await scrape()
    route = "/v1/rounds/{round_id}/bids"
    assert _metric(after, "http_requests_total", route=route, status="201") >= \
        _metric(before, "http_requests_total", route=route, status="201") + 2
    assert _metric(after, "http_request_duration_seconds_count", route=route) > \
        _metric(before, "http_request_duration_seconds_count", route=route)
    assert _metric(after, "bids_total", outcome="accepted") >= \
        _metric(before, "bids_total", outcome="accepted") + 2
    assert _metric(after, "bids_total", outcome="bid-not-lower") >= \
        _metric(before, "bids_total", outcome="bid-not-lower") + 1
    assert _metric(after, "rounds", status="awarded") >= 1
    assert _metric(after, "round_timer_lateness_seconds_count", action="close") >= 1
    assert _metric(after, "outbox_events_published_total") > \
        _metric(before, "outbox_events_published_total")
    assert _metric(after, "outbox_backlog") == 0
    assert _metric(after, "events_consumed_total", outcome="handled") > \
        _metric(before, "events_consumed_total", outcome="handled")


async def test_metrics_are_served_only_on_the_operations_port(bidding: TestClient) -> None:
    """trust.md 1: /metrics counts bids live, so it is never on the API port."""
    async with bidding.get("/metrics") as resp:
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"
    for path in ("/healthz", "/readyz"):
        async with bidding.get(path) as resp:
            assert resp.status == 200, path
    async with aiohttp.ClientSession() as http:
        async with http.get(metrics_url(bidding)) as resp:
            assert resp.status == 200
            assert "http_requests_total" in await resp.text()
        base = metrics_url(bidding).removesuffix("/metrics")
        async with http.get(base + "/v1/rounds") as resp:
            assert resp.status == 404  # the operations listener serves nothing else
