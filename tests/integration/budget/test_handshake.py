"""finance.md 1-2 over the real broker: a round waits in `pending_budget`, then opens,
is refused, times out, comes too late, or gets less than it asked for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from aiohttp.test_utils import TestClient

from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch

from .conftest import Finance
from .support import (
    Auth,
    audit_actions,
    budget_at_rest,
    budget_is,
    center,
    get_round,
    launched,
    reply_window_over,
    wait_round,
)


def at() -> str:
    return datetime.now(UTC).isoformat()


async def test_a_reserved_round_opens_and_bids_wait_for_it(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth) -> None:
    r, people = await launched(budget_app, budget_feed, auth)
    assert r["status"] == "pending_budget"
    assert r["budget"]["status"] == "requested" and r["budget"]["amount"] == "100000.00"
    supplier = auth("supplier", supplier_id=str(people[0].id))
    status, body = await bid(budget_app, supplier, r["id"], "90000.00")
    assert status == 409, body  # not open before the budget is reserved

    request = await finance.request("budget.reservation.requested", r["id"])
    data = request["data"]
    assert request["partitionkey"] == r["id"] and request["subject"] == r["id"]
    assert data["reservation_id"] == r["budget"]["reservation_id"]
    assert (data["amount"], data["currency"], data["budget_line"]) == (
        "100000.00", "CNY", "2026-CG-0101")
    assert data["buyer"] == {"org": "WZ-COMMERCE", "name": "温州市商务局"}
    assert datetime.fromisoformat(data["reply_by"]) > datetime.now(UTC) + timedelta(minutes=5)

    await finance.answer("budget.reserved", r["id"], {
        "reservation_id": data["reservation_id"], "round_id": r["id"],
        "reserved_amount": "100000.00", "at": at()})
    opened = await wait_round(budget_app, auth, r["id"], lambda x: x["status"] == "open")
    assert opened["budget"]["status"] == "reserved"
    assert opened["budget"]["reserved_amount"] == "100000.00"
    status, body = await bid(budget_app, supplier, r["id"], "90000.00")
    assert status == 201, body
    actions = await audit_actions(budget_app, auth, data["reservation_id"])
    assert actions == ["budget.reservation.requested", "budget.reserved"]


async def test_a_round_reserved_before_its_opening_is_scheduled_for_it(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth) -> None:
    opens_at = datetime.now(UTC) + timedelta(seconds=300)
    r, _ = await launched(budget_app, budget_feed, auth, opens_at=opens_at.isoformat())
    data = (await finance.request("budget.reservation.requested", r["id"]))["data"]
    await finance.answer("budget.reserved", r["id"], {
        "reservation_id": data["reservation_id"], "round_id": r["id"],
        "reserved_amount": "100000.00", "at": at()})
    scheduled = await wait_round(budget_app, auth, r["id"],
                                 lambda x: x["status"] == "scheduled")
    assert datetime.fromisoformat(scheduled["opens_at"]) == opens_at


async def test_a_refusal_cancels_the_round_with_finances_reason(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth) -> None:
    r, _ = await launched(budget_app, budget_feed, auth)
    data = (await finance.request("budget.reservation.requested", r["id"]))["data"]
    await finance.answer("budget.refused", r["id"], {
        "reservation_id": data["reservation_id"], "round_id": r["id"],
        "reason": "balance 40000.00, short by 60000.00", "at": at()})
    done = await wait_round(budget_app, auth, r["id"], lambda x: x["status"] == "cancelled")
    assert done["status_reason"] == "budget_refused"
    assert done["budget"]["status"] == "refused"
    assert done["budget"]["reason"] == "balance 40000.00, short by 60000.00"
    assert done["budget"]["reserved_amount"] is None
    # Nothing was reserved, so nothing is released.
    await asyncio.sleep(1)
    assert finance.of("budget.release.requested", r["id"]) == []


async def test_less_than_the_amount_is_a_refusal_and_the_part_is_released(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth,
        budget_db: asyncpg.Connection, budget_settings: BiddingSettings) -> None:
    r, _ = await launched(budget_app, budget_feed, auth)
    data = (await finance.request("budget.reservation.requested", r["id"]))["data"]
    await finance.answer("budget.reserved", r["id"], {
        "reservation_id": data["reservation_id"], "round_id": r["id"],
        "reserved_amount": "60000.00", "at": at()})
    done = await wait_round(budget_app, auth, r["id"], lambda x: x["status"] == "cancelled")
    assert done["status_reason"] == "budget_refused"
    assert done["budget"]["status"] == "refused"
    assert done["budget"]["reserved_amount"] == "60000.00"
    release = await finance.request("budget.release.requested", r["id"])
    assert release["data"]["amount"] == "60000.00"
    await finance.answer("budget.released", r["id"], {
        "reservation_id": data["reservation_id"], "released_amount": "60000.00", "at": at()})
    settled = await wait_round(budget_app, auth, r["id"], budget_is("released"))
    assert settled["budget"]["released_amount"] == "60000.00"
    await budget_at_rest(budget_db.fetch, budget_settings.db_schema, [r["id"]])


async def test_finance_down_for_the_whole_window_then_its_late_answer_is_released(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth,
        budget_db: asyncpg.Connection, budget_settings: BiddingSettings) -> None:
    r, _ = await launched(budget_app, budget_feed, auth)
    data = (await finance.request("budget.reservation.requested", r["id"]))["data"]
    await reply_window_over(budget_db, budget_settings.db_schema, r["id"])
    done = await wait_round(budget_app, auth, r["id"], lambda x: x["status"] == "cancelled")
    assert done["status_reason"] == "budget_timeout"
    assert done["budget"]["status"] == "timed_out"

    # Finance comes back and reserves: recorded, the round unchanged, released at once.
    await finance.answer("budget.reserved", r["id"], {
        "reservation_id": data["reservation_id"], "round_id": r["id"],
        "reserved_amount": "100000.00", "at": at()})
    release = await finance.request("budget.release.requested", r["id"])
    assert release["data"]["amount"] == "100000.00"
    after = await get_round(budget_app, auth, r["id"])
    assert (after["status"], after["status_reason"]) == ("cancelled", "budget_timeout")
    assert after["budget"]["reserved_amount"] == "100000.00"
    await finance.answer("budget.released", r["id"], {
        "reservation_id": data["reservation_id"], "released_amount": "100000.00", "at": at()})
    settled = await wait_round(budget_app, auth, r["id"], budget_is("released"))
    (row,) = await budget_at_rest(budget_db.fetch, budget_settings.db_schema, [r["id"]])
    assert row["reserved_amount"] == row["released_amount"]
    assert settled["status"] == "cancelled"
    assert len(finance.of("budget.release.requested", r["id"])) == 1
    actions = await audit_actions(budget_app, auth, data["reservation_id"])
    assert actions == ["budget.reservation.requested", "budget.timed_out", "budget.reserved",
                       "budget.release.requested", "budget.released"]


async def test_reserved_too_close_to_the_close_is_cancelled_budget_late(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth,
        budget_db: asyncpg.Connection) -> None:
    pool = await budget_feed.pool(members(2))
    r = await launch(budget_app, center(auth), round_body(pool, seconds=2, min_bids=2))
    data = (await finance.request("budget.reservation.requested", r["id"]))["data"]
    # Wait (by the database clock) until less than ROUND_MIN_DURATION_SECONDS is left.
    left = await budget_db.fetchval(
        "SELECT extract(epoch FROM closes_at - clock_timestamp()) FROM rounds"
        " WHERE id = $1::uuid", r["id"])
    await asyncio.sleep(max(0.0, float(left) - 0.5))
    await finance.answer("budget.reserved", r["id"], {
        "reservation_id": data["reservation_id"], "round_id": r["id"],
        "reserved_amount": "100000.00", "at": at()})
    done = await wait_round(budget_app, auth, r["id"], lambda x: x["status"] == "cancelled")
    assert done["status_reason"] == "budget_late"
    release = await finance.request("budget.release.requested", r["id"])
    assert Decimal(release["data"]["amount"]) == Decimal("100000.00")


async def test_the_center_cancels_a_pending_round_and_the_answer_is_released(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth) -> None:
    r, _ = await launched(budget_app, budget_feed, auth)
    data = (await finance.request("budget.reservation.requested", r["id"]))["data"]
    async with budget_app.post(f"/v1/rounds/{r['id']}/cancel", json={"reason": "plan changed"},
                               headers=center(auth)) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    assert body["status"] == "cancelled" and body["budget"]["status"] == "requested"
    await asyncio.sleep(0.5)
    assert finance.of("budget.release.requested", r["id"]) == []  # nothing reserved yet
    await finance.answer("budget.reserved", r["id"], {
        "reservation_id": data["reservation_id"], "round_id": r["id"],
        "reserved_amount": "100000.00", "at": at()})
    release = await finance.request("budget.release.requested", r["id"])
    assert release["data"]["amount"] == "100000.00"
    after = await get_round(budget_app, auth, r["id"])
    assert (after["status"], after["status_reason"]) == ("cancelled", "plan changed")
