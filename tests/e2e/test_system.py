"""Both services as processes, talking only over RabbitMQ: the award's refusals reach
the pool service, the finance queue gets every award."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.faults.system import System, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
async def system(service_env: dict[str, str]) -> AsyncIterator[System]:
    s = await System(service_env, f"s{uuid.uuid4().hex[:8]}").start(n_pool=1, n_bidding=1)
    yield s
    assert all(code == 0 for code in await s.stop())


async def test_decline_and_expiry_reach_the_pool_service_as_refusals(system: System) -> None:
    pool, suppliers = await system.make_pool(3)
    rnd = await system.launch(pool["id"], seconds=4, acceptance_seconds=3)
    amounts = ["1000.00", "2000.00", "3000.00"]
    for s, amount in zip(suppliers, amounts, strict=True):
        await system.call("POST", f"{system.bidding_url()}/v1/rounds/{rnd['id']}/bids",
                          json={"amount": amount}, headers=system.supplier_headers(s["id"]),
                          expect=201)
    view = await system.wait_round(rnd["id"], {"awarded"})
    first = view["award"]
    assert first["supplier"]["id"] == suppliers[0]["id"]
    await system.call("POST", f"{system.bidding_url()}/v1/awards/{first['id']}/decline",
                      json={"reason": "team unavailable"},
                      headers=system.supplier_headers(suppliers[0]["id"]), expect=200)
    # The runner-up lets its window pass; the third accepts.
    async def third_awarded() -> bool:
        v = await system.round(rnd["id"])
        return bool(v.get("award") and v["award"]["rank"] == 3)

    await wait_for(third_awarded, 30)
    view = await system.round(rnd["id"])
    await system.call("POST", f"{system.bidding_url()}/v1/awards/{view['award']['id']}/accept",
                      headers=system.supplier_headers(suppliers[2]["id"]), expect=200)
    await system.wait_outbox_empty()

    async def member(sid: str) -> dict[str, object]:
        _, body = await system.call(
            "GET", f"{system.pool_url()}/v1/pools/{pool['id']}/members?limit=200",
            headers=system.center, expect=200)
        return next(m for m in body["items"] if m["supplier_id"] == sid)

    async def refusals_recorded() -> bool:
        return (await member(suppliers[0]["id"]))["refusals"] == 1 and \
            (await member(suppliers[1]["id"]))["refusals"] == 1

    async def third_history() -> list[str]:
        _, history = await system.call(
            "GET",
            f"{system.pool_url()}/v1/pools/{pool['id']}/members/{suppliers[2]['id']}/awards",
            headers=system.center, expect=200)
        return [a["status"] for a in history["items"]]

    async def accepted_recorded() -> bool:
        return await third_history() == ["accepted"]

    # The pool service applies the round's events in order, each when it arrives: the
    # refusals may be recorded a moment before the acceptance that follows them.
    await wait_for(refusals_recorded, 30)
    await wait_for(accepted_recorded, 30)
    assert (await member(suppliers[2]["id"]))["refusals"] == 0
    finance = await system.drain_finance()
    types = sorted(e["type"] for e in finance)
    assert types == sorted(["award.published"] * 3 + ["award.declined", "award.expired",
                                                       "award.accepted"])
    assert {e["id"] for e in finance} == set(await system.finance_event_ids())
    # The buyer of the award may rate the supplier once; the pool shows it.
    buyer = system.headers("buyer", org="WZ-FIN")
    await system.call(
        "POST", f"{system.pool_url()}/v1/pools/{pool['id']}/members/{suppliers[2]['id']}/ratings",
        json={"award_id": view["award"]["id"], "score": 5, "comment": "准时周到"},
        headers=buyer, expect=201)
    await asyncio.sleep(0)
    rated = await member(suppliers[2]["id"])
    assert rated["rating"] == {"average": "5.00", "count": 1} or \
        rated["rating"]["count"] == 1


async def test_events_sent_before_their_consumer_ever_started_are_not_lost(
        service_env: dict[str, str]) -> None:
    from datetime import date, timedelta

    from tests.integration.bidding.conftest import credit_code
    from tests.support import ServiceProcess

    s = await System(service_env, f"o{uuid.uuid4().hex[:8]}").start(n_pool=1, n_bidding=0)
    try:
        today = date.today()
        _, pool = await s.call("POST", f"{s.pool_url()}/v1/pools", headers=s.center, expect=201,
                               json={"code": f"late-{uuid.uuid4().hex[:8]}", "name": "法律服务",
                                     "category": "government_support", "jurisdiction": "温州市",
                                     "valid_from": str(today - timedelta(days=1)),
                                     "valid_to": str(today + timedelta(days=300)),
                                     "price_ceiling": "90000.00",
                                     "max_round_budget": "90000.00"})
        _, sup = await s.call("POST", f"{s.pool_url()}/v1/suppliers", headers=s.center,
                              expect=201, json={"name": "温州律师事务所", "kind": "enterprise",
                                                "size": "small", "credit_code": credit_code()})
        await s.call("POST", f"{s.pool_url()}/v1/pools/{pool['id']}/members",
                     headers=s.center, json={"supplier_id": sup["id"]}, expect=201)
        await s.wait_outbox_empty()  # published while no bidding service had ever run
        s.biddings = [await ServiceProcess("bidding_service", s.bidding_env).start()]
        await s.wait_eligible(pool["id"], {sup["id"]})
        rnd = await s.launch(pool["id"], seconds=30, min_bids=1, ceiling_price="80000.00")
        assert rnd["invited_count"] == 1
    finally:
        assert all(code == 0 for code in await s.stop())
