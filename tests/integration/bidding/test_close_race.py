"""100 suppliers bid concurrently into a round while it closes."""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal

from aiohttp.test_utils import TestClient

from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import launch, wait_status
from tests.integration.bidding.storm import check_storm, storm
from tests.support import EventTap


async def test_storm_at_the_close_loses_no_bid_and_counts_no_late_one(
        bidding: TestClient, feed: PoolFeed, auth: Callable[..., dict[str, str]],
        bidding_settings: BiddingSettings) -> None:
    bidders = members(100)
    for m in bidders:
        m.size = random.choice(["large", "medium", "small", "micro"])
        m.kind = random.choice(["enterprise", "social_organization", "public_institution"])
    pool = await feed.pool(bidders)
    center = auth("procurement_center", sub="center-storm")
    tokens = {m.id: auth("supplier", sub=f"s-{m.id}", supplier_id=str(m.id)) for m in bidders}
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("round.closed", "award.published")) as tap:
        rnd = await launch(bidding, center, round_body(
            pool, seconds=3, ceiling_price="500000.00", sme_price_deduction="0.06"))
        result = await storm([bidding], rnd["id"], bidders,
                             lambda m: tokens[m.id], Decimal("480000"))
        view = await wait_status(bidding, rnd["id"], {"awarded"}, center)
        await tap.wait_for(lambda ev: len([e for e in ev
                                           if e["data"].get("round_id") == rnd["id"]]) >= 2)
    bids: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        async with bidding.get(f"/v1/rounds/{rnd['id']}/bids", params=params,
                               headers=center) as resp:
            page = await resp.json()
        bids += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    check_storm(result, bids, bidders, Decimal("0.06"), view["award"], view["ranking"])
    mine = [e for e in tap.events if e["data"].get("round_id") == rnd["id"]]
    assert sorted(e["type"] for e in mine) == ["award.published", "round.closed"]
    assert sum(len(v) for v in result.accepted.values()) > 100  # really a storm
