"""finance.md 2 for the other methods: under BUDGET_RESERVATION=required a direct
selection or a rotation round waits in `pending_budget`, and gets its award only when
finance reserves its amount (a rotation picks its supplier at that moment); a refusal
cancels it and no award is ever published."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp.test_utils import TestClient

from tests.integration.bidding.conftest import PoolFeed, members
from tests.integration.bidding.test_methods import JUSTIFICATION, fixed_body, post

from .conftest import Finance
from .support import Auth, center, wait_round


def at() -> str:
    return datetime.now(UTC).isoformat()


async def test_a_direct_selection_is_awarded_once_its_budget_is_reserved(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth) -> None:
    people = members(2)
    pool = await budget_feed.pool(people)
    status, r = await post(budget_app, "/v1/rounds", fixed_body(
        pool, "direct_selection", supplier_id=str(people[1].id),
        justification=JUSTIFICATION), center(auth))
    assert status == 201, r
    assert r["status"] == "pending_budget" and "award" not in r
    assert r["budget"]["status"] == "requested" and r["budget"]["amount"] == "48000.00"
    async with budget_app.get(f"/v1/awards?pool_id={pool.id}") as resp:
        assert (await resp.json())["items"] == []  # nothing published before the budget

    data = (await finance.request("budget.reservation.requested", r["id"]))["data"]
    assert data["amount"] == "48000.00"
    await finance.answer("budget.reserved", r["id"], {
        "reservation_id": data["reservation_id"], "round_id": r["id"],
        "reserved_amount": "48000.00", "at": at()})
    awarded = await wait_round(budget_app, auth, r["id"], lambda x: x["status"] == "awarded")
    assert awarded["award"]["supplier"]["id"] == str(people[1].id)
    assert awarded["award"]["amount"] == "48000.00"
    assert awarded["award"]["method"] == "direct_selection"
    assert awarded["budget"]["status"] == "reserved"


async def test_a_rotation_refused_by_finance_is_cancelled_without_an_award(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth) -> None:
    pool = await budget_feed.pool(members(3))
    status, r = await post(budget_app, "/v1/rounds", fixed_body(pool, "rotation"),
                           center(auth))
    assert status == 201, r
    assert r["status"] == "pending_budget"
    data = (await finance.request("budget.reservation.requested", r["id"]))["data"]
    await finance.answer("budget.refused", r["id"], {
        "reservation_id": data["reservation_id"], "round_id": r["id"],
        "reason": "balance 1000.00, short by 47000.00", "at": at()})
    cancelled = await wait_round(budget_app, auth, r["id"],
                                 lambda x: x["status"] == "cancelled")
    assert cancelled["status_reason"] == "budget_refused"
    assert cancelled.get("award") is None
    async with budget_app.get(f"/v1/awards?pool_id={pool.id}") as resp:
        assert (await resp.json())["items"] == []


async def test_the_center_cancels_a_direct_selection_waiting_for_its_budget(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth) -> None:
    people = members(1)
    pool = await budget_feed.pool(people)
    status, r = await post(budget_app, "/v1/rounds", fixed_body(
        pool, "direct_selection", supplier_id=str(people[0].id),
        justification=JUSTIFICATION), center(auth))
    assert status == 201 and r["status"] == "pending_budget", r
    status, body = await post(budget_app, f"/v1/rounds/{r['id']}/cancel",
                              {"reason_code": "no_demand", "reason": "需求取消"}, center(auth))
    assert status == 200, body
    assert body["status"] == "cancelled" and body["reason_code"] == "no_demand"
    # Its late reservation is recorded and released: no money stays blocked.
    data = (await finance.request("budget.reservation.requested", r["id"]))["data"]
    await finance.answer("budget.reserved", r["id"], {
        "reservation_id": data["reservation_id"], "round_id": r["id"],
        "reserved_amount": "48000.00", "at": at()})
    release = await finance.request("budget.release.requested", r["id"])
    assert release["data"]["reservation_id"] == data["reservation_id"]
    assert release["data"]["amount"] == "48000.00"
    cancelled = await wait_round(budget_app, auth, r["id"], lambda x: x["status"] == "cancelled")
    assert cancelled.get("award") is None
