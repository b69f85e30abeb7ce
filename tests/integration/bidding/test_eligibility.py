"""The bid path and fallback awards consult the current eligibility copy (issue 10 item 4)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status

Auth = Callable[..., dict[str, str]]


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-eligibility")


def supplier(auth: Auth, member_id: uuid.UUID) -> dict[str, str]:
    return auth("supplier", sub=f"s-{member_id}", supplier_id=str(member_id))


@pytest.fixture
async def db(bidding_settings: BiddingSettings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(bidding_settings.database_url,
                                 server_settings={"search_path": bidding_settings.db_schema})
    yield conn
    await conn.close()


async def test_invited_but_no_longer_admitted_cannot_bid(
        bidding: TestClient, feed: PoolFeed, auth: Auth, db: asyncpg.Connection) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=60))
    rid = uuid.UUID(rnd["id"])
    await feed.member(pool, ms[0], "suspended", reason="complaint")
    # What a launch racing the suspension leaves behind: still invited, no longer admitted.
    await db.execute("UPDATE invitations SET status = 'invited', excluded_reason = NULL"
                     " WHERE round_id = $1 AND supplier_id = $2", rid, ms[0].id)
    status, problem = await bid(bidding, supplier(auth, ms[0].id), str(rid), "100.00")
    assert status == 403, problem
    assert "suspended or removed" in problem["detail"]
    assert await db.fetchval("SELECT count(*) FROM bids WHERE round_id = $1", rid) == 0
    # Admitted again: the bid path follows the copy.
    await feed.member(pool, ms[0], "admitted")
    status, _ = await bid(bidding, supplier(auth, ms[0].id), str(rid), "100.00")
    assert status == 201


async def test_a_launch_racing_a_suspension_never_lets_the_supplier_bid(
        bidding: TestClient, feed: PoolFeed, auth: Auth, db: asyncpg.Connection,
        bidding_settings: BiddingSettings) -> None:
    schema = bidding_settings.db_schema
    ms = members(3)
    pool = await feed.pool(ms)
    target = ms[0]
    # Test-only trigger: the launch's write of this supplier's invitation takes a while,
    # so the suspension event is applied while the launch is in flight (after it read
    # the members), the window a real race hits by chance.
    await db.execute(f"""
        CREATE FUNCTION {schema}.slow_invitation_for_test() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1.0); RETURN NEW; END $$;
        CREATE TRIGGER slow_invitation_for_test BEFORE INSERT ON {schema}.invitations
            FOR EACH ROW WHEN (NEW.supplier_id = '{target.id}')
            EXECUTE FUNCTION {schema}.slow_invitation_for_test();
    """)
    try:
        launching = asyncio.create_task(launch(bidding, center(auth),
                                               round_body(pool, seconds=60)))
        await asyncio.sleep(0.3)
        await feed.member(pool, target, "suspended", reason="complaint", wait=False)
        rnd = await launching
    finally:
        await db.execute(f"DROP TRIGGER slow_invitation_for_test ON {schema}.invitations;"
                         f" DROP FUNCTION {schema}.slow_invitation_for_test();")
    await feed.wait_until(lambda ids: str(target.id) not in ids, pool.id)
    # And plain concurrent launches and suspensions, with no help: same outcome.
    others = members(4)
    for m in others:
        await feed.member(pool, m, "admitted")
    launches = [launch(bidding, center(auth), round_body(pool, seconds=60)) for _ in range(4)]
    suspensions = [feed.member(pool, m, "suspended", wait=False) for m in others]
    raced = await asyncio.gather(*launches, *suspensions)
    rounds = [rnd] + [r for r in raced if isinstance(r, dict)]
    for m in others:
        await feed.wait_until(lambda ids, m=m: str(m.id) not in ids, pool.id)
    for r in rounds:
        for m in [target, *others]:
            status, body = await bid(bidding, supplier(auth, m.id), r["id"], "100.00")
            assert status in (403,), (status, body)
    accepted = await db.fetchval(
        "SELECT count(*) FROM bids WHERE round_id = ANY($1::uuid[]) AND supplier_id = ANY($2)",
        [uuid.UUID(r["id"]) for r in rounds], [m.id for m in [target, *others]])
    assert accepted == 0
    # The slowed launch did invite the target: it is excluded there, not still invited.
    async with bidding.get(f"/v1/rounds/{rnd['id']}", headers=supplier(auth, target.id)) as resp:
        view = await resp.json()
    assert resp.status == 200 and view["my_status"] == "excluded"


async def test_fallback_award_skips_a_bidder_removed_after_the_close(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=3))
    rid = rnd["id"]
    for m, amount in zip(ms, ("100.00", "200.00", "300.00"), strict=True):
        assert (await bid(bidding, supplier(auth, m.id), rid, amount))[0] == 201
    view = await wait_status(bidding, rid, {"awarded"}, {})
    assert view["award"]["supplier"]["id"] == str(ms[0].id)
    await feed.member(pool, ms[1], "removed", reason="debarred")
    async with bidding.post(f"/v1/awards/{view['award']['id']}/decline",
                            json={"reason": "team unavailable"},
                            headers=supplier(auth, ms[0].id)) as resp:
        assert resp.status == 200
    view = await wait_status(bidding, rid, {"reawarded"}, {})
    assert view["award"]["supplier"]["id"] == str(ms[2].id) and view["award"]["rank"] == 3
    reasons = {r["rank"]: r.get("skipped_reason") for r in view["ranking"]}
    assert reasons == {1: None, 2: "membership removed", 3: None}


async def test_no_admitted_bidder_left_fails_the_round(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=3))
    rid = rnd["id"]
    for m, amount in zip(ms, ("100.00", "200.00"), strict=True):
        assert (await bid(bidding, supplier(auth, m.id), rid, amount))[0] == 201
    view = await wait_status(bidding, rid, {"awarded"}, {})
    await feed.member(pool, ms[1], "suspended", reason="complaint")
    async with bidding.post(f"/v1/awards/{view['award']['id']}/decline",
                            json={"reason": "no"}, headers=supplier(auth, ms[0].id)) as resp:
        assert resp.status == 200
    view = await wait_status(bidding, rid, {"failed"}, {})
    assert view["status_reason"] == "no_acceptance"
    assert view["ranking"][1]["skipped_reason"] == "membership suspended"
