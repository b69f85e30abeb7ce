"""Abnormally low prices and their review, award cancellation with and without
`reaward_next`, cancellation reason codes (spec methods.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, PoolFixture, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status
from tests.support import EventTap

Auth = Callable[..., dict[str, str]]


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-corrections")


def supplier(auth: Auth, member_id: uuid.UUID) -> dict[str, str]:
    return auth("supplier", sub=f"s-{member_id}", supplier_id=str(member_id))


async def post(client: TestClient, path: str, body: dict[str, Any],
               headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with client.post(path, json=body, headers=headers) as resp:
        return resp.status, dict(await resp.json())


async def awarded_round(client: TestClient, auth: Auth, pool: PoolFixture,
                        prices: list[str], **overrides: Any) -> dict[str, Any]:
    rnd = await launch(client, center(auth), round_body(pool, seconds=2, **overrides))
    for m, price in zip(pool.members, prices, strict=False):
        assert (await bid(client, supplier(auth, m.id), rnd["id"], price))[0] == 201
    return await wait_status(client, rnd["id"], {"awarded"}, center(auth))


async def test_abnormally_low_winner_rejected_and_the_runner_up_awarded(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("award.#",)) as tap:
        view = await awarded_round(bidding, auth, pool, ["50000.00", "90000.00", "95000.00"],
                                   abnormal_price_review=True)
        award = view["award"]
        # 50000 <= 0.6 x mean(90000, 95000) and <= 0.7 x 90000: held for review.
        assert award["status"] == "pending_review" and award["abnormally_low"] is True
        assert award["accept_by"] is None
        status, problem = await post(bidding, f"/v1/awards/{award['id']}/accept", {},
                                     supplier(auth, ms[0].id))
        assert status == 409 and problem["type"].endswith("pending-review")
        status, problem = await post(bidding, f"/v1/awards/{award['id']}/review",
                                     {"decision": "reject", "note": "x"},
                                     supplier(auth, ms[0].id))
        assert status == 403
        status, rejected = await post(bidding, f"/v1/awards/{award['id']}/review",
                                      {"decision": "reject",
                                       "note": "written explanation not credible"},
                                      center(auth))
        assert status == 200 and rejected["status"] == "rejected"
        await tap.wait_for(lambda ev: len([e for e in ev if e["type"] == "award.published"
                                           and e["data"]["round_id"] == view["id"]]) == 2)
    now = await wait_status(bidding, view["id"], {"reawarded"}, {})
    runner_up = now["award"]
    assert runner_up["supplier"]["id"] == str(ms[1].id) and runner_up["rank"] == 2
    # Checked again, against the bidders not yet awarded (95000 only): not low.
    assert runner_up["abnormally_low"] is False and runner_up["status"] == "published"
    assert runner_up["accept_by"] is not None
    (event,) = [e for e in tap.of_type("award.rejected") if e["data"]["award_id"] == award["id"]]
    assert event["data"]["note"] == "written explanation not credible"
    assert event["data"]["supplier_id"] == str(ms[0].id)
    status, _ = await post(bidding, f"/v1/awards/{award['id']}/review",
                           {"decision": "confirm", "note": "again"}, center(auth))
    assert status == 409


async def test_confirmed_review_starts_the_acceptance_window(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("award.#",)) as tap:
        view = await awarded_round(bidding, auth, pool, ["60000.00", "99000.00"],
                                   abnormal_price_review=True, acceptance_seconds=600)
        award = view["award"]
        assert award["status"] == "pending_review"
        status, confirmed = await post(bidding, f"/v1/awards/{award['id']}/review",
                                       {"decision": "confirm", "note": "costs explained"},
                                       center(auth))
        assert status == 200 and confirmed["status"] == "published"
        assert confirmed["accept_by"] is not None and confirmed["note"] == "costs explained"
        await tap.wait_for(lambda ev: any(e["type"] == "award.confirmed" for e in ev))
    (event,) = [e for e in tap.of_type("award.confirmed") if e["data"]["award_id"] == award["id"]]
    assert event["data"]["accept_by"] == confirmed["accept_by"]
    status, accepted = await post(bidding, f"/v1/awards/{award['id']}/accept", {},
                                  supplier(auth, ms[0].id))
    assert status == 200 and accepted["status"] == "accepted"


async def test_without_review_an_abnormally_low_award_is_published_and_flagged(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    view = await awarded_round(bidding, auth, pool, ["50000.00", "90000.00", "95000.00"])
    assert view["award"]["status"] == "published" and view["award"]["abnormally_low"] is True
    normal = await awarded_round(bidding, auth, await feed.pool(members(3)),
                                 ["90000.00", "91000.00", "95000.00"])
    assert normal["award"]["abnormally_low"] is False


async def test_cancel_award_with_reaward_next_then_without(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("award.#", "round.#")) as tap:
        view = await awarded_round(bidding, auth, pool, ["90000.00", "91000.00", "95000.00"])
        first = view["award"]
        status, cancelled = await post(bidding, f"/v1/awards/{first['id']}/cancel", {
            "reason_code": "defect_in_terms", "reason": "winner's licence had lapsed",
            "reaward_next": True}, center(auth))
        assert status == 200 and cancelled["status"] == "cancelled"
        assert cancelled["reason_code"] == "defect_in_terms"
        now = await wait_status(bidding, view["id"], {"reawarded"}, {})
        second = now["award"]
        assert second["supplier"]["id"] == str(ms[1].id)
        status, _ = await post(bidding, f"/v1/awards/{second['id']}/accept", {},
                               supplier(auth, ms[1].id))
        assert status == 200
        status, _ = await post(bidding, f"/v1/awards/{second['id']}/cancel", {
            "reason_code": "budget_cut", "reason": "the budget line was withdrawn"},
            center(auth))
        assert status == 200
        await tap.wait_for(lambda ev: any(e["type"] == "round.cancelled"
                                          and e["data"]["round_id"] == view["id"] for e in ev))
        status, _ = await post(bidding, f"/v1/awards/{second['id']}/cancel",
                               {"reason": "twice"}, center(auth))
        assert status == 409
    final = await wait_status(bidding, view["id"], {"cancelled"}, {})
    assert final["reason_code"] == "budget_cut"
    events = [e for e in tap.of_type("award.cancelled") if e["data"]["round_id"] == view["id"]]
    assert [e["data"]["award_id"] for e in events] == [first["id"], second["id"]]
    assert events[0]["data"]["reason_code"] == "defect_in_terms"
    (rc,) = [e for e in tap.of_type("round.cancelled") if e["data"]["round_id"] == view["id"]]
    assert rc["data"]["reason_code"] == "budget_cut"
    assert rc["data"]["reason"] == "the budget line was withdrawn"
    # A cancellation is not a refusal by the supplier: no award.declined / expired.
    assert not [e for e in tap.events if e["type"] in ("award.declined", "award.expired")
                and e["data"]["round_id"] == view["id"]]


async def test_cancel_round_takes_a_reason_code(bidding: TestClient, feed: PoolFeed,
                                                auth: Auth) -> None:
    pool = await feed.pool(members(3))
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=60))
    status, _problem = await post(bidding, f"/v1/rounds/{rnd['id']}/cancel",
                                 {"reason_code": "budget_overrun", "reason": "x"}, center(auth))
    assert status == 422
    status, body = await post(bidding, f"/v1/rounds/{rnd['id']}/cancel",
                              {"reason_code": "no_demand", "reason": "event called off"},
                              center(auth))
    assert status == 200 and body["reason_code"] == "no_demand"
    rnd2 = await launch(bidding, center(auth), round_body(pool, seconds=60))
    status, body = await post(bidding, f"/v1/rounds/{rnd2['id']}/cancel", {"reason": "v1"},
                              center(auth))
    assert status == 200 and body["reason_code"] == "other"


async def test_each_new_award_is_checked_against_the_bidders_not_yet_awarded(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    # 50000 against 60000 and 100000: not low (<= 48000 or <= 42000 would be).
    view = await awarded_round(bidding, auth, pool, ["50000.00", "60000.00", "100000.00"])
    assert view["award"]["abnormally_low"] is False
    status, _ = await post(bidding, f"/v1/awards/{view['award']['id']}/decline",
                           {"reason": "no capacity"}, supplier(auth, ms[0].id))
    assert status == 200
    now = await wait_status(bidding, view["id"], {"reawarded"}, {})
    # 60000 against 100000 alone (the awarded 50000 no longer counts): 0.6 x 100000.
    assert now["award"]["supplier"]["id"] == str(ms[1].id)
    assert now["award"]["abnormally_low"] is True
