"""Sealed identities (trust.md section 2): before the close nobody but a supplier itself
learns whether it has bid, through any channel: views, bid lookups, events, metrics."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from aiohttp.test_utils import TestClient
from prometheus_client import generate_latest

from bidding_service.settings import BiddingSettings
from shared.http import METRICS
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status
from tests.support import EventTap

Auth = Callable[..., dict[str, str]]


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-sealing")


def supplier(auth: Auth, member_id: uuid.UUID) -> dict[str, str]:
    return auth("supplier", sub=f"s-{member_id}", supplier_id=str(member_id))


async def _get(client: TestClient, path: str, headers: dict[str, str]) -> tuple[int, str]:
    async with client.get(path, headers=headers) as resp:
        return resp.status, await resp.text()


async def test_a_bid_id_does_not_reveal_that_it_exists(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=60))
    rid = rnd["id"]
    status, body = await bid(bidding, supplier(auth, ms[0].id), rid, "5000.00")
    assert status == 201
    real, fake = body["id"], str(uuid.uuid4())
    # Another invited supplier and a stranger: the same 404 for a real and a made-up id.
    for who in (supplier(auth, ms[1].id), supplier(auth, uuid.uuid4())):
        answers = [await _get(bidding, f"/v1/rounds/{rid}/bids/{b}", who) for b in (real, fake)]
        assert answers[0] == answers[1]
        assert answers[0][0] == 404
    # The center and the round's buyer: sealed, whether or not the bid exists.
    for who in (center(auth), auth("buyer", org="WZ-COMMERCE")):
        answers = [await _get(bidding, f"/v1/rounds/{rid}/bids/{b}", who) for b in (real, fake)]
        assert answers[0] == answers[1]
        assert answers[0][0] == 409
    # Another organisation's buyer: refused, whether or not the bid exists.
    other = auth("buyer", org="OTHER")
    answers = [await _get(bidding, f"/v1/rounds/{rid}/bids/{b}", other) for b in (real, fake)]
    assert answers[0] == answers[1] and answers[0][0] == 403
    # The bidder itself still sees its own bid.
    status, text = await _get(bidding, f"/v1/rounds/{rid}/bids/{real}", supplier(auth, ms[0].id))
    assert status == 200 and "5000.00" in text


async def test_counts_do_not_drop_when_a_bidder_is_suspended(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(4)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=60))
    rid = rnd["id"]
    for m, amount in zip(ms[:3], ("100.00", "200.00", "300.00"), strict=True):
        assert (await bid(bidding, supplier(auth, m.id), rid, amount))[0] == 201
    assert (await bid(bidding, supplier(auth, ms[0].id), rid, "90.00"))[0] == 201

    async def counts() -> tuple[int, int]:
        async with bidding.get(f"/v1/rounds/{rid}", headers=center(auth)) as resp:
            view = await resp.json()
        return view["bid_count"], view["bidder_count"]

    before = await counts()
    assert before == (4, 3)
    # Suspending a bidder and a non-bidder must look the same from the counts.
    await feed.member(pool, ms[0], "suspended", reason="complaint")
    await feed.member(pool, ms[3], "suspended", reason="complaint")
    assert await counts() == before
    async with bidding.get(f"/v1/rounds?pool_id={pool.id}", headers=center(auth)) as resp:
        listed = (await resp.json())["items"]
    assert [(r["id"], r["bid_count"], r["bidder_count"]) for r in listed] == [(rid, 4, 3)]


async def test_a_cancelled_round_stays_sealed(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=60))
    rid = rnd["id"]
    status, body = await bid(bidding, supplier(auth, ms[0].id), rid, "4321.00")
    assert status == 201
    async with bidding.post(f"/v1/rounds/{rid}/cancel", json={"reason": "budget withdrawn"},
                            headers=center(auth)) as resp:
        assert resp.status == 200
    for who in (center(auth), auth("buyer", org="WZ-COMMERCE")):
        assert (await _get(bidding, f"/v1/rounds/{rid}/bids", who))[0] == 409
        assert (await _get(bidding, f"/v1/rounds/{rid}/bids/{body['id']}", who))[0] == 409
        status, text = await _get(bidding, f"/v1/rounds/{rid}", who)
        assert status == 200 and "4321.00" not in text and str(ms[0].id) not in text
    # The other invited supplier learns nothing either, not even a count.
    async with bidding.get(f"/v1/rounds/{rid}", headers=supplier(auth, ms[1].id)) as resp:
        view = await resp.json()
    assert view["status"] == "cancelled"
    assert view.get("bid_count") is None and view.get("bidder_count") is None
    assert (await _get(bidding, f"/v1/rounds/{rid}/bids/{body['id']}",
                       supplier(auth, ms[1].id)))[0] == 404


async def test_events_and_metrics_of_an_open_round_name_no_bidder(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    secrets: set[str] = {str(m.id) for m in ms}
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("#",)) as tap:
        rnd = await launch(bidding, center(auth), round_body(
            pool, seconds=4, extension={"window_seconds": 60, "extend_seconds": 2,
                                        "max_extensions": 3}))
        rid = rnd["id"]
        for m, amount in zip(ms, ("900.00", "800.00", "700.00"), strict=True):
            status, body = await bid(bidding, supplier(auth, m.id), rid, amount)
            assert status == 201
            secrets.add(body["id"])
        await feed.member(pool, ms[2], "suspended", reason="complaint")
        status, _ = await bid(bidding, supplier(auth, ms[2].id), rid, "600.00")
        assert status == 403
        metrics = generate_latest(bidding.app[METRICS].registry).decode()
        await tap.wait_for(lambda ev: any(e["type"] == "round.extended"
                                          and e["data"]["round_id"] == rid for e in ev))
        await wait_status(bidding, rid, {"awarded"}, center(auth))
        await tap.wait_for(lambda ev: any(e["type"] == "round.closed"
                                          and e["data"]["round_id"] == rid for e in ev))
    # Everything the bidding service emitted while the round was open, except the launch
    # (it names the invited set, fixed before anyone could bid).
    while_open: list[str] = []
    for e in tap.events:
        if e["type"] == "round.closed" and e["data"]["round_id"] == rid:
            break
        if e["source"] == "/bidding-service" and e["type"] != "round.launched":
            while_open.append(str(e))
    assert any("round.extended" in e for e in while_open)
    assert not [s for s in secrets if any(s in e for e in while_open)]
    assert not [s for s in secrets if s in metrics]
    assert 'bids_total{outcome="accepted"}' in metrics
