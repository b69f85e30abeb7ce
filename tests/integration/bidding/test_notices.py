"""Public notices: a projection of the service's own events, written in their transaction;
the public round view without counts before the result; the paged ranking."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bidding_service import SOURCE
from bidding_service.awards import pipeline
from bidding_service.notices.service import publish_invitation
from bidding_service.settings import BiddingSettings
from shared.http import DB
from shared.uow import UnitOfWork
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status
from tests.support import EventTap

Auth = Callable[..., dict[str, str]]
SEALED_WORDS = ("bid_count", "bidder_count", "bidders", "my_bid", "amount\"")


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-notices")


def supplier(auth: Auth, member_id: uuid.UUID) -> dict[str, str]:
    return auth("supplier", sub=f"s-{member_id}", supplier_id=str(member_id))


async def notices(client: TestClient, **params: str) -> list[dict[str, Any]]:
    async with client.get("/v1/notices", params=params) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    return list(body["items"])


async def test_a_round_s_notices_from_invitation_to_result(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("award.published",)) as tap:
        rnd = await launch(bidding, center(auth), round_body(
            pool, seconds=3, extension={"window_seconds": 60, "extend_seconds": 5,
                                        "max_extensions": 1}))
        rid = rnd["id"]
        # The invitation is there at once, with the terms and nothing about bids.
        [invitation] = await notices(bidding, pool_id=str(pool.id))
        assert invitation["kind"] == "invitation" and invitation["round_id"] == rid
        assert invitation["pool"] == {"id": str(pool.id), "code": pool.code,
                                      "name": f"Pool {pool.code}"}
        assert invitation["title"] == rnd["title"] and invitation["method"] == "price_competition"
        assert invitation["buyer"] == rnd["buyer"]
        assert invitation["ceiling_price"] == "100000.00"
        assert invitation["closes_at"] == rnd["closes_at"]
        assert invitation["description"] == rnd["description"]
        assert (await bid(bidding, supplier(auth, ms[0].id), rid, "900.00"))[0] == 201
        assert (await bid(bidding, supplier(auth, ms[1].id), rid, "800.00"))[0] == 201
        # Before the close the public view shows the terms only.
        async with bidding.get(f"/v1/public/rounds/{rid}") as resp:
            assert resp.status == 200
            raw = await resp.text()
            public = await resp.json()
        assert set(public) == {"id", "title", "description", "buyer", "method", "pool",
                               "ceiling_price", "opens_at", "closes_at", "extensions_used",
                               "status"}
        assert public["extensions_used"] == 1 and public["status"] == "open"
        assert not [w for w in SEALED_WORDS if w in raw]
        async with bidding.get(f"/v1/rounds/{rid}/ranking") as resp:
            assert resp.status == 409
            assert "result-not-published" in (await resp.json())["type"]
        view = await wait_status(bidding, rid, {"awarded"}, {})
        await tap.wait_for(lambda ev: any(e["data"]["round_id"] == rid for e in ev))
    kinds = [n["kind"] for n in await notices(bidding, pool_id=str(pool.id))]
    assert kinds == ["result", "extension", "invitation"]
    [result] = await notices(bidding, pool_id=str(pool.id), kind="result")
    async with bidding.get(f"/v1/awards/{view['award']['id']}") as resp:
        award = await resp.json()
    # The notice is the award as published; payments are reported to the award later.
    live = {"amount_paid", "payments", "overpaid"}
    assert result["award"] == {k: v for k, v in award.items() if k not in live}
    assert result["ranking_size"] == 2
    assert result["ranking_url"] == f"/v1/rounds/{rid}/ranking"
    [extension] = await notices(bidding, pool_id=str(pool.id), kind="extension")
    assert extension["closes_at"] != invitation["closes_at"] and extension["extensions_used"] == 1
    # After the result: v1's public view, with the commitment.
    async with bidding.get(f"/v1/public/rounds/{rid}") as resp:
        after = await resp.json()
    assert after["bids_root"] == view["bids_root"] and after["bids_tree_size"] == 2
    assert after["award"] == view["award"] and after["bid_count"] == 2
    # The ranking, paged by rank.
    async with bidding.get(f"/v1/rounds/{rid}/ranking", params={"limit": "1"}) as resp:
        first = await resp.json()
    async with bidding.get(f"/v1/rounds/{rid}/ranking",
                           params={"limit": "1", "cursor": first["next_cursor"]}) as resp:
        second = await resp.json()
    assert [x["rank"] for x in first["items"] + second["items"]] == [1, 2]
    assert second["next_cursor"] is None and first["size"] == 2
    assert [x["supplier_id"] for x in first["items"] + second["items"]] == \
        [r["supplier_id"] for r in view["ranking"]]
    assert first["items"][0]["amount"] == "800.00"
    event = next(e for e in tap.events if e["data"]["round_id"] == rid)
    assert event["data"]["ranking_size"] == 2
    assert event["data"]["ranking_url"] == f"/v1/rounds/{rid}/ranking"


async def test_award_updates_failures_and_cancellations(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=2))
    for m, amount in zip(ms, ("100.00", "200.00"), strict=True):
        assert (await bid(bidding, supplier(auth, m.id), rnd["id"], amount))[0] == 201
    view = await wait_status(bidding, rnd["id"], {"awarded"}, {})
    async with bidding.post(f"/v1/awards/{view['award']['id']}/decline",
                            json={"reason": "team unavailable"},
                            headers=supplier(auth, ms[0].id)) as resp:
        assert resp.status == 200
    [update] = await notices(bidding, pool_id=str(pool.id), kind="award_update")
    assert update["status"] == "declined" and update["reason"] == "team unavailable"
    assert update["award_id"] == view["award"]["id"]
    assert [n["kind"] for n in await notices(bidding, pool_id=str(pool.id))][:2] == \
        ["result", "award_update"]

    failed = await launch(bidding, center(auth), round_body(pool, seconds=2))
    await wait_status(bidding, failed["id"], {"failed"}, {})
    [failure] = await notices(bidding, pool_id=str(pool.id), kind="failure")
    assert failure["round_id"] == failed["id"] and failure["reason"] == "insufficient_bids"

    cancelled = await launch(bidding, center(auth), round_body(pool, seconds=30))
    async with bidding.post(f"/v1/rounds/{cancelled['id']}/cancel",
                            json={"reason": "need changed"}, headers=center(auth)) as resp:
        assert resp.status == 200
    [cancellation] = await notices(bidding, pool_id=str(pool.id), kind="cancellation")
    assert cancellation["round_id"] == cancelled["id"]
    assert cancellation["reason"] == "need changed"
    assert [n["kind"] for n in await notices(bidding, round_id=cancelled["id"])] == \
        ["cancellation", "invitation"]
    async with bidding.get(f"/v1/public/rounds/{cancelled['id']}") as resp:
        assert (await resp.json())["status"] == "cancelled"
    # Paging: newest first, every notice once.
    everything = await notices(bidding, pool_id=str(pool.id))
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"pool_id": str(pool.id), "limit": "2", **({"cursor": cursor} if cursor else {})}
        async with bidding.get("/v1/notices", params=params) as resp:
            page = await resp.json()
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [n["id"] for n in everything] and len(seen) == len(set(seen)) == 8


async def test_bad_queries_are_refused(bidding: TestClient) -> None:
    for params in ({"kind": "rumour"}, {"cursor": "nope"}, {"limit": "0"},
                   {"pool_id": "not-a-uuid"}):
        async with bidding.get("/v1/notices", params=params) as resp:
            assert resp.status == 422, params
            assert resp.content_type == "application/problem+json"
    async with bidding.get(f"/v1/public/rounds/{uuid.uuid4()}") as resp:
        assert resp.status == 404
    async with bidding.get(f"/v1/rounds/{uuid.uuid4()}/ranking") as resp:
        assert resp.status == 404
    async with bidding.get(f"/v1/rounds/{uuid.uuid4()}/ranking",
                           params={"cursor": "WyJ4Il0"}) as resp:  # ["x"]
        assert resp.status == 422


async def test_a_notice_lands_with_its_event_or_not_at_all(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    pool = await feed.pool(members(2))
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=30))
    db = bidding.app[DB]
    with pytest.raises(RuntimeError):
        async with UnitOfWork(db, SOURCE) as uow:
            uow.emit("round.failed", rnd["id"], {"round_id": rnd["id"], "reason": "x"})
            raise RuntimeError("the use case failed after emitting")
    assert await notices(bidding, pool_id=str(pool.id), kind="failure") == []
    async with db.acquire() as conn:
        events = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE subject = $1 AND type = 'round.failed'",
            rnd["id"])
    assert events == 0


async def test_an_invitation_held_back_is_published_once(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    """What the budget handshake calls when a round leaves pending_budget."""
    pool = await feed.pool(members(2))
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=30))
    db = bidding.app[DB]
    rid = uuid.UUID(rnd["id"])
    async with db.acquire() as conn:
        # As if it had been launched under the handshake: no invitation yet.
        await conn.execute("DELETE FROM notices WHERE round_id = $1", rid)
    async with db.acquire() as conn, conn.transaction():
        assert await publish_invitation(conn, rid) is True
        assert await publish_invitation(conn, rid) is False
    [invitation] = await notices(bidding, pool_id=str(pool.id))
    assert invitation["kind"] == "invitation" and invitation["closes_at"] == rnd["closes_at"]


async def test_award_published_carries_the_head_of_the_ranking(
        bidding: TestClient, feed: PoolFeed, auth: Auth, bidding_settings: BiddingSettings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """100 entries in production (EVENT_RANKING_ENTRIES); 2 here, with 3 bidders."""
    assert pipeline.EVENT_RANKING_ENTRIES == 100
    monkeypatch.setattr(pipeline, "EVENT_RANKING_ENTRIES", 2)
    ms = members(3)
    pool = await feed.pool(ms)
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("award.published",)) as tap:
        rnd = await launch(bidding, center(auth), round_body(pool, seconds=2))
        for m, amount in zip(ms, ("300.00", "100.00", "200.00"), strict=True):
            assert (await bid(bidding, supplier(auth, m.id), rnd["id"], amount))[0] == 201
        await tap.wait_for(lambda ev: any(e["data"]["round_id"] == rnd["id"] for e in ev))
    data = next(e for e in tap.events if e["data"]["round_id"] == rnd["id"])["data"]
    assert [x["rank"] for x in data["ranking"]] == [1, 2]
    assert [x["supplier_id"] for x in data["ranking"]] == [str(ms[1].id), str(ms[2].id)]
    assert data["ranking_size"] == 3
    async with bidding.get(data["ranking_url"], params={"limit": "200"}) as resp:
        page = await resp.json()
    assert [x["supplier_id"] for x in page["items"]][2] == str(ms[0].id)
