"""The bidding service as real processes: racing closes, SIGKILL, restart, sealed logs."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp
import pytest

from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.storm import check_storm, storm
from tests.integration.bidding.test_verifiable import leaf_of_bid, proof_leads_to
from tests.support import EventTap, ServiceProcess

pytestmark = pytest.mark.e2e
Auth = Callable[..., dict[str, str]]


@pytest.fixture
async def two_bidding(e2e_env: dict[str, str]) -> AsyncIterator[list[ServiceProcess]]:
    procs = [ServiceProcess("bidding_service", e2e_env) for _ in range(2)]
    await asyncio.gather(*(p.start() for p in procs))
    yield procs
    for p in procs:
        if p.proc is not None and p.proc.poll() is None:
            assert p.terminate() == 0


async def _feed(session: aiohttp.ClientSession, env: dict[str, str], auth: Auth) -> PoolFeed:
    feed = PoolFeed(env["AMQP_URL"], env["EVENTS_EXCHANGE"], session,
                    auth("procurement_center", sub="center-e2e"))
    await feed.start()
    return feed


async def _wait_round(session: aiohttp.ClientSession, url: str, round_id: str,
                      statuses: set[str], timeout: float = 30) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            async with session.get(f"{url}/v1/rounds/{round_id}") as resp:
                data = dict(await resp.json())
            if data.get("status") in statuses:
                return data
        except aiohttp.ClientError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"round {round_id} not in {statuses}")
        await asyncio.sleep(0.1)


async def test_two_processes_race_the_close_of_a_storm(
        two_bidding: list[ServiceProcess], e2e_env: dict[str, str], auth: Auth) -> None:
    bidders = members(100)
    for m in bidders:
        m.size = random.choice(["large", "small", "micro"])
    center = auth("procurement_center", sub="center-e2e")
    sessions = [aiohttp.ClientSession(base_url=p.url) for p in two_bidding]
    try:
        feed = await _feed(sessions[0], e2e_env, auth)
        pool = await feed.pool(bidders)
        async with EventTap(e2e_env["AMQP_URL"], e2e_env["EVENTS_EXCHANGE"],
                            ("round.closed", "award.published")) as tap:
            async with sessions[0].post("/v1/rounds", headers=center, json=round_body(
                    pool, seconds=3, ceiling_price="500000.00",
                    sme_price_deduction="0.05")) as resp:
                rnd = await resp.json()
                assert resp.status == 201, rnd
            result = await storm(sessions, rnd["id"], bidders,
                                 lambda m: auth("supplier", sub=f"s-{m.id}",
                                                supplier_id=str(m.id)), Decimal("450000"))
            view = await _wait_round(sessions[1], two_bidding[1].url, rnd["id"], {"awarded"})
            await tap.wait_for(lambda ev: len([e for e in ev
                                               if e["data"].get("round_id") == rnd["id"]]) >= 2)
            await asyncio.sleep(1.0)  # a second close or award would have arrived by now
        async with sessions[0].get(f"/v1/rounds/{rnd['id']}/bids",
                                   params={"limit": "200"}, headers=center) as resp:
            page = await resp.json()
        bids = page["items"]
        while page["next_cursor"]:
            async with sessions[0].get(f"/v1/rounds/{rnd['id']}/bids", headers=center,
                                       params={"limit": "200",
                                               "cursor": page["next_cursor"]}) as resp:
                page = await resp.json()
            bids += page["items"]
        check_storm(result, bids, bidders, Decimal("0.05"), view["award"],  # type: ignore[arg-type]
                    view["ranking"])  # type: ignore[arg-type]
        # Both processes sign receipts with one key, and either proves any bid.
        keys = []
        for s in sessions:
            async with s.get("/v1/keys") as resp:
                keys.append(await resp.json())
        assert keys[0] == keys[1]
        assert view["bids_tree_size"] == len(bids)
        for b in random.sample(bids, 5):
            async with sessions[1].get(f"/v1/rounds/{rnd['id']}/bids/{b['id']}/proof",
                                       headers=center) as resp:
                proof = await resp.json()
            assert proof_leads_to({"leaf": leaf_of_bid(b)}, proof, view["bids_root"])
        mine = [e["type"] for e in tap.events if e["data"].get("round_id") == rnd["id"]]
        assert sorted(mine) == ["award.published", "round.closed"]
        await feed.close()
    finally:
        for s in sessions:
            await s.close()
    # Sealed means sealed in the logs too: no accepted amount appears in any log line.
    logs = "".join(p.log_text() for p in two_bidding)
    amounts = {a for v in result.accepted.values() for _, a in v}
    assert '"http_request"' in logs
    assert not [a for a in amounts if a in logs]


async def test_killed_while_open_closes_once_when_back(
        e2e_env: dict[str, str], auth: Auth, http: aiohttp.ClientSession) -> None:
    proc = await ServiceProcess("bidding_service", e2e_env).start()
    ms = members(3)
    center = auth("procurement_center", sub="center-e2e")
    async with aiohttp.ClientSession(base_url=proc.url) as session:
        feed = await _feed(session, e2e_env, auth)
        pool = await feed.pool(ms)
        async with EventTap(e2e_env["AMQP_URL"], e2e_env["EVENTS_EXCHANGE"],
                            ("round.closed", "award.published")) as tap:
            async with session.post("/v1/rounds", headers=center,
                                    json=round_body(pool, seconds=3)) as resp:
                rnd = await resp.json()
            for m, amount in zip(ms, ("3000.00", "2000.00", "1000.00"), strict=True):
                async with session.post(f"/v1/rounds/{rnd['id']}/bids", json={"amount": amount},
                                        headers=auth("supplier", supplier_id=str(m.id))) as r:
                    assert r.status == 201
            proc.kill()
            closes_at = datetime.fromisoformat(rnd["closes_at"])
            await asyncio.sleep(max(0.0, (closes_at - datetime.now(UTC)).total_seconds()) + 1)
            # Nobody was there to close it.
            assert not [e for e in tap.events if e["data"].get("round_id") == rnd["id"]]
            back = await ServiceProcess("bidding_service", e2e_env).start()
            view = await _wait_round(http, back.url, rnd["id"], {"awarded"})
            await tap.wait_for(lambda ev: len([e for e in ev
                                               if e["data"].get("round_id") == rnd["id"]]) >= 2)
            await asyncio.sleep(1.0)
            assert back.terminate() == 0
        await feed.close()
    award = view["award"]
    assert isinstance(award, dict) and award["supplier"]["id"] == str(ms[2].id)
    mine = sorted(e["type"] for e in tap.events if e["data"].get("round_id") == rnd["id"])
    assert mine == ["award.published", "round.closed"]


async def test_sigterm_exits_zero_promptly(e2e_env: dict[str, str]) -> None:
    proc = await ServiceProcess("bidding_service", e2e_env).start()
    started = asyncio.get_running_loop().time()
    assert proc.terminate(timeout=10) == 0
    assert asyncio.get_running_loop().time() - started < 10


@pytest.mark.parametrize("module", ["bidding_service", "pool_service"])
async def test_sigterm_exits_zero_while_the_broker_is_unreachable(
        e2e_env: dict[str, str], module: str) -> None:
    env = {**e2e_env, "AMQP_URL": "amqp://guest:guest@127.0.0.1:1/"}
    if module == "pool_service":
        env["DB_SCHEMA"] = "pool_e2e"
    proc = await ServiceProcess(module, env).start(wait=False)
    await proc.wait_ready(path="/healthz")
    async with aiohttp.ClientSession() as http, http.get(proc.url + "/readyz") as resp:
        assert resp.status == 503
    await asyncio.sleep(1.5)  # let it try (and fail) to reach the broker a few times
    started = asyncio.get_running_loop().time()
    assert proc.terminate(timeout=10) == 0
    assert asyncio.get_running_loop().time() - started < 10


async def test_logs_name_no_bidder_of_an_open_round(
        e2e_env: dict[str, str], auth: Auth) -> None:
    """Every log line of a real process (at debug level) during a bid storm, an anti-
    sniping extension and a suspension: no bidder id, bid id or amount appears in any."""
    proc = await ServiceProcess("bidding_service", {**e2e_env, "LOG_LEVEL": "debug"}).start()
    bidders = members(20)
    center = auth("procurement_center", sub="center-e2e")
    try:
        async with aiohttp.ClientSession(base_url=proc.url) as session:
            feed = await _feed(session, e2e_env, auth)
            pool = await feed.pool(bidders)
            async with session.post("/v1/rounds", headers=center, json=round_body(
                    pool, seconds=60, extension={"window_seconds": 3600, "extend_seconds": 1,
                                                 "max_extensions": 5})) as resp:
                rnd = await resp.json()
                assert resp.status == 201, rnd

            def headers(m: object) -> dict[str, str]:
                sid = str(m.id)  # type: ignore[attr-defined]
                return auth("supplier", sub=f"s-{sid}", supplier_id=sid)

            accepted: list[tuple[str, str]] = []

            async def one(m: object, amount: Decimal) -> None:
                for step in range(3):
                    text = f"{amount - step * 7:.2f}"
                    async with session.post(f"/v1/rounds/{rnd['id']}/bids",
                                            json={"amount": text}, headers=headers(m)) as r:
                        body = await r.json()
                        assert r.status == 201, body
                        accepted.append((body["id"], text))
                    async with session.get(f"/v1/rounds/{rnd['id']}/bids/{body['id']}",
                                           headers=headers(m)) as r:
                        assert r.status == 200

            await asyncio.gather(*(one(m, Decimal(90000 - i * 13))
                                   for i, m in enumerate(bidders[:15])))
            # A bidder and a non-bidder are suspended; the bidder then tries again.
            await feed.member(pool, bidders[0], "suspended", reason="complaint")
            await feed.member(pool, bidders[19], "suspended", reason="complaint")
            async with session.post(f"/v1/rounds/{rnd['id']}/bids", json={"amount": "10.00"},
                                    headers=headers(bidders[0])) as r:
                assert r.status == 403
            # Others probing for bids and the center looking at the round (their answers
            # are checked in tests/integration/bidding/test_sealing.py; here: the logs).
            async with session.get(f"/v1/rounds/{rnd['id']}/bids/{accepted[0][0]}",
                                   headers=headers(bidders[18])) as r:
                assert r.status in (403, 404)
            async with session.get(f"/v1/rounds/{rnd['id']}", headers=center) as r:
                assert r.status == 200
            await feed.close()
    finally:
        assert proc.terminate() == 0
    logs = proc.log_text()
    assert '"http_request"' in logs and '"round_launched"' in logs
    secrets = {str(m.id) for m in bidders} | {b for b, _ in accepted} | {a for _, a in accepted}
    assert not sorted(s for s in secrets if s in logs)
