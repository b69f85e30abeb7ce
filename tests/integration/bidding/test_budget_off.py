"""BUDGET_RESERVATION=off (the default) is v1: no reservation, `budget` null, no budget
event, and the round opens at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp.test_utils import TestClient

from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import launch
from tests.support import EventTap


async def test_with_budget_off_a_round_opens_without_any_budget_event(
        bidding: TestClient, feed: PoolFeed, bidding_settings: BiddingSettings,
        auth: Callable[..., dict[str, str]]) -> None:
    assert bidding_settings.budget_reservation == "off"
    center = auth("procurement_center", sub="center-off")
    pool = await feed.pool(members(2))
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("round.#", "budget.#")) as tap:
        r = await launch(bidding, center, round_body(pool, seconds=600))
        assert (r["status"], r["budget"]) == ("open", None)
        await tap.wait_for(lambda events: any(e["type"] == "round.launched"
                                              and e["subject"] == r["id"] for e in events))
        await asyncio.sleep(0.5)
        assert not [e for e in tap.events if e["type"].startswith("budget.")]
    async with bidding.get(f"/v1/rounds/{r['id']}", headers=center) as resp:
        assert (await resp.json())["budget"] is None
    async with bidding.get("/v1/budget/reservations", headers=center) as resp:
        assert resp.status == 200
        assert all(item["round_id"] != r["id"] for item in (await resp.json())["items"])
