"""Rounds, bids, evaluation and awards through the real HTTP API and database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiohttp.test_utils import TestClient

from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status
from tests.support import EventTap

Auth = Callable[..., dict[str, str]]


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-1")


def supplier(auth: Auth, member_id: uuid.UUID) -> dict[str, str]:
    return auth("supplier", sub=f"s-{member_id}", supplier_id=str(member_id))


async def test_launch_freezes_invited_set_and_reports_counts(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    data = await launch(bidding, center(auth), round_body(pool, seconds=30))
    assert data["status"] == "open" and data["invited_count"] == 3
    assert data["bid_count"] == 0 and data["pool"]["code"] == pool.code
    # A member admitted after launch is not invited.
    late = members(1)[0]
    await feed.member(pool, late, "admitted")
    status, body = await bid(bidding, supplier(auth, late.id), data["id"], "90000.00")
    assert status == 403, body
    assert body["type"].endswith("/forbidden")


async def test_launch_refusals(bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    pool = await feed.pool(members(2), price_ceiling="200000.00", max_round_budget="150000.00")
    c = center(auth)
    cases = [
        (round_body(pool, ceiling_price="160000.00"), 422, "full-tender-required"),
        (round_body(pool, ceiling_price="100000.001"), 422, "invalid-content"),
        (round_body(pool, min_bids=3), 409, "too-few-invited"),
        (round_body(pool, closes_at="2030-01-01T00:00:00"), 422, "invalid-content"),
        (round_body(pool, seconds=-5), 422, "invalid-content"),
        (round_body(pool, pool_id=str(uuid.uuid4())), 422, "unknown-pool"),
        ({**round_body(pool), "surprise": 1}, 422, "invalid-content"),
        (round_body(pool, sme_price_deduction="0.25"), 422, "invalid-content"),
    ]
    for body, status, slug in cases:
        async with bidding.post("/v1/rounds", json=body, headers=c) as resp:
            problem = await resp.json()
            assert resp.status == status, (body, problem)
            assert resp.content_type == "application/problem+json"
            assert problem["type"].endswith(slug), problem
    full = await (await bidding.post("/v1/rounds", json=cases[0][0], headers=c)).json()
    assert "full tender" in full["detail"]
    async with bidding.post("/v1/rounds", json=round_body(pool)) as resp:
        assert resp.status == 401
    async with bidding.post("/v1/rounds", json=round_body(pool),
                            headers=auth("buyer", org="WZ-COMMERCE")) as resp:
        assert resp.status == 403
    async with bidding.get("/v1/rounds", params={"pool_id": str(pool.id)}, headers=c) as resp:
        assert (await resp.json())["items"] == []  # nothing was written by the refusals


async def test_minimum_duration_is_enforced(bidding_settings: BiddingSettings, feed: PoolFeed,
                                            auth: Auth) -> None:
    from bidding_service.app import build_app
    from tests.support import running_app

    settings = bidding_settings.model_copy(update={"round_min_duration_seconds": 300})
    pool = await feed.pool(members(2))
    async with running_app(build_app(settings, run_background=False)) as client:
        async with client.post("/v1/rounds", json=round_body(pool, seconds=120),
                               headers=center(auth)) as resp:
            problem = await resp.json()
            assert resp.status == 422
            assert "300 seconds" in problem["detail"]


async def test_bids_only_go_down_and_respect_ceiling_and_decrement(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=30,
                                                         min_decrement="100.00"))
    s = supplier(auth, ms[0].id)
    assert (await bid(bidding, s, rnd["id"], "100000.01"))[0] == 422  # above ceiling
    assert (await bid(bidding, s, rnd["id"], "0"))[0] == 422
    assert (await bid(bidding, s, rnd["id"], "-5.00"))[0] == 422
    assert (await bid(bidding, s, rnd["id"], "12.345"))[0] == 422
    status, first = await bid(bidding, s, rnd["id"], "90000.00")
    assert status == 201 and first["amount"] == "90000.00"
    status, problem = await bid(bidding, s, rnd["id"], "89950.00")  # only 50 lower
    assert status == 422 and problem["type"].endswith("bid-not-lower")
    assert (await bid(bidding, s, rnd["id"], "90000.00"))[0] == 422
    status, _ = await bid(bidding, s, rnd["id"], "89900.00")
    assert status == 201
    async with bidding.get(f"/v1/rounds/{rnd['id']}/bids", headers=s) as resp:
        own = (await resp.json())["items"]
    assert [b["amount"] for b in own] == ["90000.00", "89900.00"]
    async with bidding.get(f"/v1/rounds/{rnd['id']}", headers=s) as resp:
        view = await resp.json()
    assert view["my_bid"]["amount"] == "89900.00" and "bid_count" not in view


async def test_sealed_before_close_for_everyone_but_the_bidder(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=30,
                                                         disclosure="rank"))
    rid = rnd["id"]
    amounts = {ms[0].id: "77777.77", ms[1].id: "66666.66"}
    for sid, amount in amounts.items():
        assert (await bid(bidding, supplier(auth, sid), rid, amount))[0] == 201
    secrets = list(amounts.values())
    viewers = {
        "center": center(auth),
        "buyer": auth("buyer", org="WZ-COMMERCE"),
        "other-buyer": auth("buyer", org="OTHER"),
        "public": {},
        "non-bidding supplier": supplier(auth, ms[2].id),
        "stranger supplier": supplier(auth, uuid.uuid4()),
        "finance": auth("finance"),
    }
    paths = [f"/v1/rounds/{rid}", f"/v1/rounds/{rid}/bids", "/v1/rounds",
             f"/v1/rounds?pool_id={pool.id}", "/v1/awards", f"/v1/awards?pool_id={pool.id}"]
    for who, headers in viewers.items():
        for path in paths:
            async with bidding.get(path, headers=headers) as resp:
                text = await resp.text()
            for secret in secrets:
                assert secret not in text, (who, path)
    async with bidding.get(f"/v1/rounds/{rid}", headers=center(auth)) as resp:
        view = await resp.json()
    assert view["bid_count"] == 2 and view["bidder_count"] == 2
    async with bidding.get(f"/v1/rounds/{rid}/bids", headers=center(auth)) as resp:
        assert resp.status == 409
    # The bidder sees its own amount and, with disclosure=rank, its rank only.
    async with bidding.get(f"/v1/rounds/{rid}", headers=supplier(auth, ms[0].id)) as resp:
        mine = await resp.json()
    assert mine["my_bid"]["amount"] == "77777.77" and mine["rank"] == 2
    assert "66666.66" not in str(mine)
    async with bidding.get(f"/v1/rounds/{rid}", headers=supplier(auth, uuid.uuid4())) as resp:
        assert resp.status == 403
    async with bidding.get(f"/v1/rounds/{rid}") as resp:
        assert resp.status == 401


async def test_close_evaluates_awards_and_publishes(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    ms[1].size = "small"
    pool = await feed.pool(ms)
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("round.#", "award.#")) as tap:
        rnd = await launch(bidding, center(auth), round_body(
            pool, seconds=2, sme_price_deduction="0.10"))
        rid = rnd["id"]
        # The small supplier's 95000 evaluates to 85500: it beats the large one's 90000.
        assert (await bid(bidding, supplier(auth, ms[0].id), rid, "90000.00"))[0] == 201
        assert (await bid(bidding, supplier(auth, ms[1].id), rid, "95000.00"))[0] == 201
        assert (await bid(bidding, supplier(auth, ms[2].id), rid, "99000.00"))[0] == 201
        view = await wait_status(bidding, rid, {"awarded"}, {})  # public once awarded
        await tap.wait_for(lambda ev: any(e["type"] == "award.published"
                                          and e["data"]["round_id"] == rid for e in ev))
    award = view["award"]
    assert award["supplier"]["id"] == str(ms[1].id)
    assert award["amount"] == "95000.00" and award["evaluated_amount"] == "85500.00"
    assert award["status"] == "published" and award["currency"] == "CNY"
    assert [r["supplier_id"] for r in view["ranking"]] == [str(ms[1].id), str(ms[0].id),
                                                           str(ms[2].id)]
    published = [e for e in tap.of_type("award.published") if e["data"]["round_id"] == rid]
    closed = [e for e in tap.of_type("round.closed") if e["data"]["round_id"] == rid]
    assert len(published) == 1 and len(closed) == 1
    data = published[0]["data"]
    assert data["pool"] == {"id": str(pool.id), "code": pool.code, "name": f"Pool {pool.code}"}
    assert data["amount"] == "95000.00" and data["ranking"][0]["rank"] == 1
    assert closed[0]["data"]["bid_count"] == 3 and closed[0]["data"]["bidder_count"] == 3
    async with bidding.get(f"/v1/awards/{award['id']}") as resp:
        assert (await resp.json())["supplier"]["id"] == str(ms[1].id)
    async with bidding.get("/v1/awards", params={"pool_id": str(pool.id)}) as resp:
        assert [a["id"] for a in (await resp.json())["items"]] == [award["id"]]
    async with bidding.get(f"/v1/rounds/{rid}/bids", headers=center(auth)) as resp:
        assert len((await resp.json())["items"]) == 3


async def test_ties_go_to_social_organization_then_earlier_bid(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(4)
    ms[2].kind = "social_organization"
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=3))
    rid = rnd["id"]
    for m in (ms[0], ms[1], ms[2]):
        assert (await bid(bidding, supplier(auth, m.id), rid, "80000.00"))[0] == 201
    assert (await bid(bidding, supplier(auth, ms[3].id), rid, "80000.01"))[0] == 201
    view = await wait_status(bidding, rid, {"awarded"}, {})
    order = [r["supplier_id"] for r in view["ranking"]]
    # Social organization first, then the two enterprises by time, then the higher bid.
    assert order == [str(ms[2].id), str(ms[0].id), str(ms[1].id), str(ms[3].id)]
    assert view["award"]["supplier"]["kind"] == "social_organization"


async def test_too_few_bidders_fails_the_round(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("round.failed",)) as tap:
        rnd = await launch(bidding, center(auth), round_body(pool, seconds=3, min_bids=2))
        assert (await bid(bidding, supplier(auth, ms[0].id), rnd["id"], "1000.00"))[0] == 201
        view = await wait_status(bidding, rnd["id"], {"failed"}, center(auth))
        await tap.wait_for(lambda ev: any(e["data"]["round_id"] == rnd["id"] for e in ev))
    assert view["status_reason"] == "insufficient_bids" and view["award"] is None
    assert tap.events[0]["data"]["reason"] == "insufficient_bids"
    status, problem = await bid(bidding, supplier(auth, ms[1].id), rnd["id"], "900.00")
    assert status == 409 and problem["type"].endswith("round-not-open")


async def test_suspended_mid_round_loses_its_bids_and_cannot_bid(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=4))
    rid = rnd["id"]
    assert (await bid(bidding, supplier(auth, ms[0].id), rid, "50000.00"))[0] == 201
    assert (await bid(bidding, supplier(auth, ms[1].id), rid, "60000.00"))[0] == 201
    assert (await bid(bidding, supplier(auth, ms[2].id), rid, "70000.00"))[0] == 201
    await feed.member(pool, ms[0], "suspended", reason="quality complaint")
    status, problem = await bid(bidding, supplier(auth, ms[0].id), rid, "40000.00")
    assert status == 403 and "suspended" in problem["detail"]
    view = await wait_status(bidding, rid, {"awarded"}, {})
    assert view["award"]["supplier"]["id"] == str(ms[1].id)
    assert str(ms[0].id) not in [r["supplier_id"] for r in view["ranking"]]
    async with bidding.get(f"/v1/rounds/{rid}/bids", headers=supplier(auth, ms[0].id)) as resp:
        assert [b["valid"] for b in (await resp.json())["items"]] == [False]


async def test_late_admitted_event_does_not_undo_removal(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(1)
    pool = await feed.pool(ms)
    m = ms[0]
    await feed.member(pool, m, "removed", version=5)
    # An older "admitted" delivered late (lower version) must change nothing.
    await feed.member(pool, m, "admitted", version=3, wait=False)
    # ...and a duplicate of the same event id is dropped by the inbox.
    marker = members(1)[0]
    await feed.member(pool, marker, "admitted")  # applied after the stale one (same queue)
    assert str(m.id) not in await feed.eligible_ids(pool.id)


async def test_decline_and_expiry_move_the_award_down_the_ranking(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("award.#", "round.failed")) as tap:
        rnd = await launch(bidding, center(auth), round_body(pool, seconds=3,
                                                             acceptance_seconds=3))
        rid = rnd["id"]
        for m, amount in zip(ms, ("100.00", "200.00", "300.00"), strict=True):
            assert (await bid(bidding, supplier(auth, m.id), rid, amount))[0] == 201
        view = await wait_status(bidding, rid, {"awarded"}, {})
        first = view["award"]
        # Only the winner may answer.
        async with bidding.post(f"/v1/awards/{first['id']}/decline", json={"reason": "x"},
                                headers=supplier(auth, ms[1].id)) as resp:
            assert resp.status == 403
        async with bidding.post(f"/v1/awards/{first['id']}/decline",
                                json={"reason": "team unavailable"},
                                headers=supplier(auth, ms[0].id)) as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "declined"
        view = await wait_status(bidding, rid, {"reawarded"}, {})
        second = view["award"]
        assert second["supplier"]["id"] == str(ms[1].id) and second["rank"] == 2
        # The runner-up lets the window pass: the third-ranked gets it, then accepts.
        await tap.wait_for(lambda ev: any(e["type"] == "award.expired" for e in ev))
        for _ in range(100):
            view = await wait_status(bidding, rid, {"reawarded"}, {})
            if view["award"]["rank"] == 3:
                break
            await asyncio.sleep(0.1)
        third = view["award"]
        assert third["supplier"]["id"] == str(ms[2].id)
        async with bidding.post(f"/v1/awards/{third['id']}/accept",
                                headers=supplier(auth, ms[2].id)) as resp:
            assert resp.status == 200, await resp.text()
        view = await wait_status(bidding, rid, {"accepted"}, {})
        await tap.wait_for(lambda ev: any(e["type"] == "award.accepted" for e in ev))
        async with bidding.post(f"/v1/awards/{third['id']}/accept",
                                headers=supplier(auth, ms[2].id)) as resp:
            assert resp.status == 409
    types = [e["type"] for e in tap.events if e["data"].get("round_id") == rid]
    assert types == ["award.published", "award.declined", "award.published", "award.expired",
                     "award.published", "award.accepted"]


async def test_no_bidder_left_fails_the_round(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=3))
    for m, amount in zip(ms, ("100.00", "200.00"), strict=True):
        assert (await bid(bidding, supplier(auth, m.id), rnd["id"], amount))[0] == 201
    for m in ms:
        view = await wait_status(bidding, rnd["id"], {"awarded", "reawarded"}, {})
        assert view["award"]["supplier"]["id"] == str(m.id)
        async with bidding.post(f"/v1/awards/{view['award']['id']}/decline",
                                json={"reason": "no"}, headers=supplier(auth, m.id)) as resp:
            assert resp.status == 200
        await asyncio.sleep(0.05)
    view = await wait_status(bidding, rnd["id"], {"failed"}, {})
    assert view["status_reason"] == "no_acceptance"


async def test_idempotency_key_replays_the_first_answer(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    c = {**center(auth), "Idempotency-Key": f"launch-{uuid.uuid4()}"}
    body = round_body(pool, seconds=30)
    first = await launch(bidding, c, body)
    again = await launch(bidding, c, body)
    assert again["id"] == first["id"]
    async with bidding.post("/v1/rounds", json={**body, "title": "other"}, headers=c) as resp:
        assert resp.status == 422
    s = {**supplier(auth, ms[0].id), "Idempotency-Key": "bid-1"}
    results = await asyncio.gather(*(bid(bidding, s, first["id"], "5000.00") for _ in range(5)))
    assert {r[0] for r in results} == {201} and len({r[1]["id"] for r in results}) == 1
    async with bidding.get(f"/v1/rounds/{first['id']}/bids", headers=s) as resp:
        assert len((await resp.json())["items"]) == 1
    status, _ = await bid(bidding, s, first["id"], "4000.00")
    assert status == 422


async def test_cancel_only_before_close(bidding: TestClient, feed: PoolFeed,
                                        auth: Auth, bidding_settings: BiddingSettings) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=30))
    async with bidding.post(f"/v1/rounds/{rnd['id']}/cancel", json={},
                            headers=center(auth)) as resp:
        assert resp.status == 422
    async with bidding.post(f"/v1/rounds/{rnd['id']}/cancel", json={"reason": "need changed"},
                            headers=center(auth)) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    assert (await bid(bidding, supplier(auth, ms[0].id), rnd["id"], "10.00"))[0] == 409
    async with bidding.post(f"/v1/rounds/{rnd['id']}/cancel", json={"reason": "again"},
                            headers=center(auth)) as resp:
        assert resp.status == 409


async def test_anti_sniping_extends_the_close(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("round.extended",)) as tap:
        rnd = await launch(bidding, center(auth), round_body(
            pool, seconds=3, extension={"window_seconds": 60, "extend_seconds": 5,
                                        "max_extensions": 2}))
        rid = rnd["id"]
        closes = datetime.fromisoformat(rnd["closes_at"])
        assert (await bid(bidding, supplier(auth, ms[0].id), rid, "900.00"))[0] == 201
        assert (await bid(bidding, supplier(auth, ms[1].id), rid, "950.00"))[0] == 201  # no gain
        assert (await bid(bidding, supplier(auth, ms[1].id), rid, "800.00"))[0] == 201
        assert (await bid(bidding, supplier(auth, ms[0].id), rid, "700.00"))[0] == 201  # capped
        await tap.wait_for(lambda ev: len([e for e in ev if e["data"]["round_id"] == rid]) >= 2)
        async with bidding.get(f"/v1/rounds/{rid}", headers=center(auth)) as resp:
            view = await resp.json()
    assert view["extensions_used"] == 2
    assert datetime.fromisoformat(view["closes_at"]) > closes + timedelta(seconds=1)
    assert [e["data"]["extensions_used"] for e in tap.events] == [1, 2]


async def test_money_and_time_are_exact(bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=30,
                                                         ceiling_price=100000))
    assert rnd["ceiling_price"] == "100000.00"
    s = supplier(auth, ms[0].id)
    async with bidding.post(f"/v1/rounds/{rnd['id']}/bids", data=b'{"amount": 99999.99}',
                            headers={**s, "Content-Type": "application/json"}) as resp:
        assert resp.status == 201 and (await resp.json())["amount"] == "99999.99"
    for raw in (b'{"amount": NaN}', b'{"amount": Infinity}', b'{"amount": 1e400}',
                b'{"amount": "1e400"}', b'{"amount": 0.001}', b'{"amount": true}',
                b'{"amount": null}', b'{"amount": []}'):
        async with bidding.post(f"/v1/rounds/{rnd['id']}/bids", data=raw,
                                headers={**s, "Content-Type": "application/json"}) as resp:
            assert resp.status in (400, 422), raw
            assert resp.content_type == "application/problem+json"
    _ = Decimal  # amounts compared as strings above, never floats
    assert datetime.fromisoformat(rnd["opens_at"]).tzinfo is not None
    assert datetime.fromisoformat(rnd["closes_at"]) > datetime.now(UTC)


async def test_every_change_is_in_the_audit_trail_without_amounts(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=3))
    rid = rnd["id"]
    for m in ms:
        assert (await bid(bidding, supplier(auth, m.id), rid, "4321.09"))[0] == 201
    await wait_status(bidding, rid, {"awarded"}, {})
    async with bidding.get("/v1/audit", params={"subject": f"/v1/rounds/{rid}"},
                           headers=center(auth)) as resp:
        trail = await resp.json()
    assert [e["action"] for e in trail["items"]] == ["round.closed", "round.launched"]
    assert trail["items"][1]["actor"] == "center-1"
    async with bidding.get("/v1/audit", params={"limit": "200"}, headers=center(auth)) as resp:
        text = await resp.text()
    assert text.count(f"/v1/rounds/{rid}/bids/") == 2 and "4321.09" not in text
    async with bidding.get("/v1/audit", headers=supplier(auth, ms[0].id)) as resp:
        assert resp.status == 403
