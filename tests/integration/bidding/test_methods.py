"""Direct selection and rotation (spec methods.md), through the one award pipeline."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import Member, PoolFeed, PoolFixture, members
from tests.support import EventTap

Auth = Callable[..., dict[str, str]]
JUSTIFICATION = "唯一具备该型号设备维保资质的入围供应商，原厂授权，其他成员无法提供"


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-methods")


def supplier(auth: Auth, member_id: uuid.UUID) -> dict[str, str]:
    return auth("supplier", sub=f"s-{member_id}", supplier_id=str(member_id))


def fixed_body(pool: PoolFixture, method: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "method": method, "pool_id": str(pool.id), "title": "会议服务 2026-12",
        "buyer": {"org": "WZ-COMMERCE", "name": "温州市商务局"},
        "budget_line": "2026-CG-0301", "amount": "48000.00"}
    body.update(overrides)
    return body


async def post(client: TestClient, path: str, body: dict[str, Any],
               headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with client.post(path, json=body, headers=headers) as resp:
        return resp.status, dict(await resp.json())


async def get(client: TestClient, path: str, headers: dict[str, str] | None = None,
              ) -> dict[str, Any]:
    async with client.get(path, headers=headers or {}) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


# ---------------------------------------------------------------- direct selection


async def test_direct_selection_is_awarded_at_once_with_its_justification(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("round.#", "award.#")) as tap:
        status, rnd = await post(bidding, "/v1/rounds", fixed_body(
            pool, "direct_selection", supplier_id=str(ms[1].id),
            justification=JUSTIFICATION), center(auth))
        assert status == 201, rnd
        await tap.wait_for(lambda ev: any(e["type"] == "award.published"
                                          and e["data"]["round_id"] == rnd["id"] for e in ev))
    assert rnd["status"] == "awarded" and rnd["method"] == "direct_selection"
    award = rnd["award"]
    assert award["supplier"]["id"] == str(ms[1].id) and award["rank"] == 1
    assert (award["bid_count"], award["invited_count"]) == (0, 1)
    assert award["amount"] == award["evaluated_amount"] == "48000.00"
    assert award["justification"] == JUSTIFICATION and award["method"] == "direct_selection"
    assert [r["supplier_id"] for r in rnd["ranking"]] == [str(ms[1].id)]
    launched = [e for e in tap.of_type("round.launched") if e["data"]["id"] == rnd["id"]]
    assert launched and launched[0]["data"]["method"] == "direct_selection"
    published = [e for e in tap.of_type("award.published") if e["data"]["round_id"] == rnd["id"]]
    assert len(published) == 1
    data = published[0]["data"]
    assert data["method"] == "direct_selection" and data["justification"] == JUSTIFICATION
    assert len(data["ranking"]) == 1
    # Public at once: the result notice is its publication.
    view = await get(bidding, f"/v1/rounds/{rnd['id']}")
    assert view["award"]["id"] == award["id"]


async def test_direct_selection_refused_for_a_removed_or_suspended_member(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    await feed.member(pool, ms[0], "removed")
    await feed.member(pool, ms[1], "suspended")
    for m, word in ((ms[0], "removed"), (ms[1], "suspended")):
        status, problem = await post(bidding, "/v1/rounds", fixed_body(
            pool, "direct_selection", supplier_id=str(m.id), justification=JUSTIFICATION),
            center(auth))
        assert status == 409 and word in problem["detail"], problem
    status, problem = await post(bidding, "/v1/rounds", fixed_body(
        pool, "direct_selection", supplier_id=str(uuid.uuid4()), justification=JUSTIFICATION),
        center(auth))
    assert status == 409 and "not a member" in problem["detail"]
    async with bidding.get("/v1/rounds", params={"pool_id": str(pool.id)},
                           headers=center(auth)) as resp:
        assert (await resp.json())["items"] == []


async def test_direct_selection_terms(bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms, price_ceiling="80000.00", max_round_budget="60000.00")
    base = {"supplier_id": str(ms[0].id), "justification": JUSTIFICATION}
    status, problem = await post(bidding, "/v1/rounds", fixed_body(
        pool, "direct_selection", amount="60000.01", **base), center(auth))
    assert status == 422 and problem["type"].endswith("full-tender-required")
    assert "full tender" in problem["detail"]
    status, problem = await post(bidding, "/v1/rounds", fixed_body(
        pool, "direct_selection", **{**base, "justification": "太短的理由"}), center(auth))
    assert status == 422
    status, problem = await post(bidding, "/v1/rounds", fixed_body(
        pool, "direct_selection", supplier_id=str(ms[0].id)), center(auth))
    assert status == 422  # justification is required
    status, problem = await post(bidding, "/v1/rounds", fixed_body(
        pool, "direct_selection", closes_at="2030-01-01T00:00:00+00:00", **base), center(auth))
    assert status == 422  # a bidding field on a fixed-amount round


async def test_direct_selection_decline_fails_the_round_and_has_no_runner_up(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    body = fixed_body(pool, "direct_selection", supplier_id=str(ms[0].id),
                      justification=JUSTIFICATION)
    _, first = await post(bidding, "/v1/rounds", body, center(auth))
    status, problem = await post(bidding, f"/v1/awards/{first['award']['id']}/cancel",
                                 {"reason": "wrong supplier", "reaward_next": True},
                                 center(auth))
    assert status == 409 and problem["type"].endswith("no-runner-up")
    status, declined = await post(bidding, f"/v1/awards/{first['award']['id']}/decline",
                                  {"reason": "no capacity"}, supplier(auth, ms[0].id))
    assert status == 200 and declined["status"] == "declined"
    view = await get(bidding, f"/v1/rounds/{first['id']}")
    assert view["status"] == "failed" and view["status_reason"] == "no_acceptance"


# ---------------------------------------------------------------- rotation


async def rotate(client: TestClient, auth: Auth, pool: PoolFixture) -> dict[str, Any]:
    status, rnd = await post(client, "/v1/rounds", fixed_body(pool, "rotation"), center(auth))
    assert status == 201, rnd
    return rnd


def winner(rnd: dict[str, Any]) -> str:
    return str(rnd["award"]["supplier"]["id"])


async def test_rotation_over_two_periods_with_a_suspension_and_a_decline(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    a, b, c = members(3)
    pool = await feed.pool([c, a, b])
    ids = [str(a.id), str(b.id), str(c.id)]
    async with bidding.put(f"/v1/pools/{pool.id}/rotation", json={"order": ids},
                           headers=center(auth)) as resp:
        view = await resp.json()
        assert resp.status == 200, view
    assert [x["supplier_id"] for x in view["order"]] == ids
    assert view["period"] == 1 and view["next_supplier_id"] == ids[0]

    r1 = await rotate(bidding, auth, pool)
    assert winner(r1) == ids[0] and r1["award"]["rotation_period"] == 1
    await feed.member(pool, b, "suspended")
    r2 = await rotate(bidding, auth, pool)
    assert winner(r2) == ids[2]  # b skipped, keeps its place
    await feed.member(pool, b, "admitted", event="reinstated")
    view = await get(bidding, f"/v1/pools/{pool.id}/rotation", center(auth))
    assert view["next_supplier_id"] == ids[1]
    assert [x["served"] for x in view["order"]] == [True, False, True]
    r3 = await rotate(bidding, auth, pool)
    assert winner(r3) == ids[1] and r3["award"]["rotation_period"] == 1  # its turn, period 1

    # Everybody served: period 2 starts with a; a declines and loses its turn.
    r4 = await rotate(bidding, auth, pool)
    assert winner(r4) == ids[0] and r4["award"]["rotation_period"] == 2
    status, _ = await post(bidding, f"/v1/awards/{r4['award']['id']}/decline",
                           {"reason": "fully booked"}, supplier(auth, a.id))
    assert status == 200
    r4_now = await get(bidding, f"/v1/rounds/{r4['id']}")
    assert r4_now["status"] == "reawarded"
    assert r4_now["award"]["supplier"]["id"] == ids[1]
    assert r4_now["award"]["rotation_period"] == 2
    view = await get(bidding, f"/v1/pools/{pool.id}/rotation", auth("buyer", org="WZ-COMMERCE"))
    assert view["period"] == 2 and [x["served"] for x in view["order"]] == [True, True, False]
    r5 = await rotate(bidding, auth, pool)
    assert winner(r5) == ids[2] and r5["award"]["rotation_period"] == 2
    r6 = await rotate(bidding, auth, pool)
    assert winner(r6) == ids[0] and r6["award"]["rotation_period"] == 3


async def test_rotation_never_offers_a_round_twice_and_then_fails(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await rotate(bidding, auth, pool)
    first = rnd["award"]
    status, _ = await post(bidding, f"/v1/awards/{first['id']}/decline", {"reason": "busy"},
                           supplier(auth, uuid.UUID(first["supplier"]["id"])))
    assert status == 200
    now = await get(bidding, f"/v1/rounds/{rnd['id']}")
    second = now["award"]
    assert second["supplier"]["id"] != first["supplier"]["id"]
    status, _ = await post(bidding, f"/v1/awards/{second['id']}/decline", {"reason": "busy"},
                           supplier(auth, uuid.UUID(second["supplier"]["id"])))
    assert status == 200
    now = await get(bidding, f"/v1/rounds/{rnd['id']}")
    assert now["status"] == "failed"
    assert [r["supplier_id"] for r in now["ranking"]] == [first["supplier"]["id"],
                                                          second["supplier"]["id"]]


async def test_rotation_cancelled_award_keeps_the_suppliers_turn(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    rnd = await rotate(bidding, auth, pool)
    first = rnd["award"]["supplier"]["id"]
    status, cancelled = await post(bidding, f"/v1/awards/{rnd['award']['id']}/cancel",
                                   {"reason_code": "defect_in_terms", "reason": "wrong pool",
                                    "reaward_next": True}, center(auth))
    assert status == 200 and cancelled["status"] == "cancelled"
    now = await get(bidding, f"/v1/rounds/{rnd['id']}")
    assert now["award"]["supplier"]["id"] != first  # never the same round twice
    view = await get(bidding, f"/v1/pools/{pool.id}/rotation", center(auth))
    served = {x["supplier_id"]: x["served"] for x in view["order"]}
    assert served[first] is False  # the center's cancellation did not use up its turn
    nxt = await rotate(bidding, auth, pool)
    assert winner(nxt) == first


async def test_two_rotation_rounds_launched_at_once_never_go_to_the_same_supplier(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms: list[Member] = members(6)
    pool = await feed.pool(ms)
    results = await asyncio.gather(*(post(bidding, "/v1/rounds", fixed_body(pool, "rotation"),
                                          center(auth)) for _ in range(6)))
    assert all(status == 201 for status, _ in results), results
    winners = [winner(r) for _, r in results]
    assert sorted(winners) == sorted(str(m.id) for m in ms)
    assert {r["award"]["rotation_period"] for _, r in results} == {1}


async def test_rotation_order_put_refuses_non_members(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    stranger = str(uuid.uuid4())
    async with bidding.put(f"/v1/pools/{pool.id}/rotation",
                           json={"order": [str(ms[1].id), stranger]},
                           headers=center(auth)) as resp:
        problem = await resp.json()
        assert resp.status == 422 and stranger in problem["detail"]
    async with bidding.put(f"/v1/pools/{pool.id}/rotation",
                           json={"order": [str(ms[1].id), str(ms[1].id)]},
                           headers=center(auth)) as resp:
        assert resp.status == 422
    async with bidding.put(f"/v1/pools/{pool.id}/rotation", json={"order": [str(ms[1].id)]},
                           headers=auth("buyer", org="WZ-COMMERCE")) as resp:
        assert resp.status == 403
    # Without a PUT: the order of admission; the partial PUT puts ms[1] first.
    async with bidding.put(f"/v1/pools/{pool.id}/rotation", json={"order": [str(ms[1].id)]},
                           headers=center(auth)) as resp:
        view = await resp.json()
    assert [x["supplier_id"] for x in view["order"]] == [str(ms[1].id), str(ms[0].id)]
    late = members(1)[0]
    await feed.member(pool, late, "admitted")
    view = await get(bidding, f"/v1/pools/{pool.id}/rotation", center(auth))
    assert view["order"][-1]["supplier_id"] == str(late.id)  # appended at the end


async def test_acceptance_in_working_days_by_the_official_calendar(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bidding_service.awards.calendar import CalendarUnknown, is_workday
    from bidding_service.rounds.domain import acceptance_deadline

    ms = members(1)
    pool = await feed.pool(ms)
    zone = ZoneInfo("Asia/Shanghai")  # JURISDICTION_TZ's default
    for days in (2, 30):
        status, rnd = await post(bidding, "/v1/rounds", fixed_body(
            pool, "direct_selection", supplier_id=str(ms[0].id), justification=JUSTIFICATION,
            acceptance_working_days=days), center(auth))
        try:
            expected = acceptance_deadline(datetime.now(zone), zone, seconds=None,
                                           working_days=days, is_workday=is_workday)
        except CalendarUnknown:
            assert status == 422 and rnd["type"].endswith("calendar-unknown"), rnd
            continue
        assert status == 201, rnd
        award = rnd["award"]
        published = datetime.fromisoformat(award["awarded_at"])
        assert datetime.fromisoformat(award["accept_by"]) == acceptance_deadline(
            published, zone, seconds=None, working_days=days, is_workday=is_workday)
        assert rnd["acceptance_working_days"] == days and rnd["acceptance_seconds"] is None
        assert abs((datetime.fromisoformat(award["accept_by"]) - expected).days) <= 1
    status, _problem = await post(bidding, "/v1/rounds", fixed_body(
        pool, "rotation", acceptance_working_days=2, acceptance_seconds=60), center(auth))
    assert status == 422


async def test_rotation_expiry_loses_the_turn_and_passes_the_award_on(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    from tests.integration.bidding.helpers import wait_status

    ms = members(2)
    pool = await feed.pool(ms)
    status, rnd = await post(bidding, "/v1/rounds", fixed_body(
        pool, "rotation", acceptance_seconds=1), center(auth))
    assert status == 201
    first = winner(rnd)
    now = await wait_status(bidding, rnd["id"], {"reawarded"}, {})
    assert now["award"]["supplier"]["id"] != first
    awards = await get(bidding, f"/v1/awards?pool_id={pool.id}", {})
    expired = [a for a in awards["items"] if a["round_id"] == rnd["id"]
               and a["supplier"]["id"] == first]
    assert [a["status"] for a in expired] == ["expired"]
    view = await get(bidding, f"/v1/pools/{pool.id}/rotation", center(auth))
    assert all(x["served"] for x in view["order"])  # the expired one lost its turn
