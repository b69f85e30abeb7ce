"""GET /v1/budget/reservations: center and finance, filtered, paged."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestClient

from tests.integration.bidding.conftest import PoolFeed

from .conftest import Finance
from .support import Auth, center, launched


async def test_reservations_are_listed_for_reconciliation(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth) -> None:
    line = "2026-LIST-0001"
    ids = []
    for _ in range(3):
        r, _ = await launched(budget_app, budget_feed, auth, budget_line=line)
        ids.append(r["budget"]["reservation_id"])
    finance_caller = auth("finance", sub="treasury")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"budget_line": line, "status": "requested", "limit": "2"}
        if cursor:
            params["cursor"] = cursor
        async with budget_app.get("/v1/budget/reservations", params=params,
                                  headers=finance_caller) as resp:
            assert resp.status == 200
            page = await resp.json()
        seen += [item["reservation_id"] for item in page["items"]]
        assert all(item["budget_line"] == line and item["status"] == "requested"
                   and item["amount"] == "100000.00" for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))  # newest first
    async with budget_app.get("/v1/budget/reservations", params={"status": "committed",
                                                                 "budget_line": line},
                              headers=center(auth)) as resp:
        assert resp.status == 200 and (await resp.json())["items"] == []


async def test_only_center_and_finance_and_only_known_statuses(
        budget_app: TestClient, auth: Auth) -> None:
    for headers in (auth("buyer", org="WZ-COMMERCE"),
                    auth("supplier", supplier_id=str(uuid.uuid4()))):
        async with budget_app.get("/v1/budget/reservations", headers=headers) as resp:
            assert resp.status == 403
            assert resp.content_type == "application/problem+json"
    async with budget_app.get("/v1/budget/reservations") as resp:
        assert resp.status == 401
    async with budget_app.get("/v1/budget/reservations", params={"status": "spent"},
                              headers=center(auth)) as resp:
        assert resp.status == 422
