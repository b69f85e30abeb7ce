"""finance.md 3-5 over the real broker: commit on acceptance, exactly one release,
payments; duplicate, stale and unknown answers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.integration.bidding.conftest import PoolFeed
from tests.integration.bidding.helpers import bid

from .conftest import Finance
from .support import (
    Auth,
    audit_actions,
    budget_at_rest,
    budget_is,
    center,
    close_now,
    get_round,
    launched,
    reservation_row,
    wait_round,
)


def at() -> str:
    return datetime.now(UTC).isoformat()


async def opened(app: TestClient, feed: PoolFeed, finance: Finance, auth: Auth,
                 **overrides: Any) -> tuple[dict[str, Any], list[Any], str]:
    """A round reserved in full and open; its reservation id."""
    r, people = await launched(app, feed, auth, **overrides)
    data = (await finance.request("budget.reservation.requested", r["id"]))["data"]
    await finance.answer("budget.reserved", r["id"], {
        "reservation_id": data["reservation_id"], "round_id": r["id"],
        "reserved_amount": data["amount"], "at": at()})
    await wait_round(app, auth, r["id"], lambda x: x["status"] == "open")
    return r, people, data["reservation_id"]


async def awarded(app: TestClient, feed: PoolFeed, finance: Finance, auth: Auth,
                  db: asyncpg.Connection) -> tuple[dict[str, Any], dict[str, Any], Any, str]:
    r, people, reservation = await opened(app, feed, finance, auth)
    for m, amount in zip(people[:2], ("86500.00", "91000.00"), strict=True):
        status, body = await bid(app, auth("supplier", supplier_id=str(m.id)), r["id"], amount)
        assert status == 201, body
    await close_now(db, r["id"])
    done = await wait_round(app, auth, r["id"], lambda x: x["status"] == "awarded")
    return r, done["award"], people[0], reservation


async def accept(app: TestClient, auth: Auth, award_id: str, supplier_id: Any) -> None:
    async with app.post(f"/v1/awards/{award_id}/accept",
                        headers=auth("supplier", supplier_id=str(supplier_id))) as resp:
        assert resp.status == 200, await resp.json()


async def test_acceptance_commits_and_payments_are_shown_up_to_overpaid(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth,
        budget_db: asyncpg.Connection) -> None:
    r, award, winner, reservation = await awarded(budget_app, budget_feed, finance, auth,
                                                  budget_db)
    assert award["amount"] == "86500.00"
    assert (award["amount_paid"], award["payments"], award["overpaid"]) == ("0.00", [], False)
    await accept(budget_app, auth, award["id"], winner.id)
    commit = await finance.request("budget.commit.requested", r["id"])
    assert commit["data"] == {
        "reservation_id": reservation, "round_id": r["id"], "award_id": award["id"],
        "amount": "86500.00", "supplier": {"id": str(winner.id), "name": winner.name,
                                           "credit_code": winner.credit_code}}
    await finance.answer("budget.committed", r["id"], {
        "reservation_id": reservation, "award_id": award["id"],
        "committed_amount": "86500.00", "released_amount": "13500.00", "at": at()})
    done = await wait_round(budget_app, auth, r["id"], budget_is("committed"))
    assert (done["budget"]["committed_amount"], done["budget"]["released_amount"]) == (
        "86500.00", "13500.00")
    assert finance.of("budget.release.requested", r["id"]) == []

    payment = {"payment_id": f"PAY-{uuid.uuid4().hex[:8]}", "award_id": award["id"],
               "round_id": r["id"], "amount": "50000.00", "paid_at": at()}
    await finance.answer("payment.recorded", r["id"], payment)
    await finance.answer("payment.recorded", r["id"], payment)  # the same payment again
    second = {**payment, "payment_id": f"PAY-{uuid.uuid4().hex[:8]}", "amount": "40000.00"}
    await finance.answer("payment.recorded", r["id"], second)

    async def shown() -> dict[str, Any]:
        async with budget_app.get(f"/v1/awards/{award['id']}") as resp:
            assert resp.status == 200
            return dict(await resp.json())

    for _ in range(200):
        body = await shown()
        if len(body["payments"]) == 2:
            break
        await asyncio.sleep(0.1)
    assert body["amount_paid"] == "90000.00" and body["overpaid"] is True
    assert {p["payment_id"] for p in body["payments"]} == {payment["payment_id"],
                                                           second["payment_id"]}
    round_view = await get_round(budget_app, auth, r["id"])
    assert round_view["award"]["amount_paid"] == "90000.00"
    await budget_at_rest(budget_db.fetch, "budget_loop", [r["id"]])
    assert await audit_actions(budget_app, auth, reservation) == [
        "budget.reservation.requested", "budget.reserved", "budget.commit.requested",
        "budget.committed"]


async def test_a_failed_round_releases_its_reservation_once(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth,
        budget_db: asyncpg.Connection) -> None:
    r, _, reservation = await opened(budget_app, budget_feed, finance, auth)
    await close_now(budget_db, r["id"])  # no bids: insufficient_bids
    failed = await wait_round(budget_app, auth, r["id"], lambda x: x["status"] == "failed")
    assert failed["status_reason"] == "insufficient_bids"
    release = await finance.request("budget.release.requested", r["id"])
    assert release["data"] == {"reservation_id": reservation, "round_id": r["id"],
                               "amount": "100000.00", "reason": "insufficient_bids"}
    answer = {"reservation_id": reservation, "released_amount": "100000.00", "at": at()}
    event = await finance.answer("budget.released", r["id"], answer)
    await wait_round(budget_app, auth, r["id"], budget_is("released"))
    # The same answer again (same id), and a second one (new id): nothing changes.
    await finance.answer("budget.released", r["id"], answer, event_id=uuid.UUID(event["id"]))
    await finance.answer("budget.released", r["id"], answer)
    await asyncio.sleep(1)
    row = await reservation_row(budget_db, r["id"])
    assert (row["status"], row["released_amount"]) == ("released", 100000)
    assert len(finance.of("budget.release.requested", r["id"])) == 1
    actions = await audit_actions(budget_app, auth, reservation)
    assert actions.count("budget.released") == 2  # the second recorded as ignored
    inbox = await budget_db.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1::uuid",
                                     event["id"])
    assert inbox == 1
    await budget_at_rest(budget_db.fetch, "budget_loop", [r["id"]])


async def test_cancelling_an_open_round_releases_and_stale_answers_change_nothing(
        budget_app: TestClient, budget_feed: PoolFeed, finance: Finance, auth: Auth,
        budget_db: asyncpg.Connection) -> None:
    r, _, reservation = await opened(budget_app, budget_feed, finance, auth)
    # A stale answer: finance "refuses" a reservation it already reserved.
    await finance.answer("budget.refused", r["id"], {
        "reservation_id": reservation, "round_id": r["id"], "reason": "changed mind",
        "at": at()})
    await finance.answer("budget.reserved", r["id"], {
        "reservation_id": reservation, "round_id": r["id"], "reserved_amount": "1.00",
        "at": at()})
    await asyncio.sleep(1)
    still = await get_round(budget_app, auth, r["id"])
    assert still["status"] == "open" and still["budget"]["status"] == "reserved"
    assert still["budget"]["reserved_amount"] == "100000.00"

    async with budget_app.post(f"/v1/rounds/{r['id']}/cancel", json={"reason": "withdrawn"},
                               headers=center(auth)) as resp:
        assert resp.status == 200
    release = await finance.request("budget.release.requested", r["id"])
    assert release["data"]["reason"] == "round cancelled"
    # A commit answer nobody asked for changes nothing either.
    await finance.answer("budget.committed", r["id"], {
        "reservation_id": reservation, "award_id": str(uuid.uuid4()),
        "committed_amount": "100000.00", "released_amount": "0.00", "at": at()})
    await asyncio.sleep(1)
    row = await reservation_row(budget_db, r["id"])
    assert (row["status"], row["committed_amount"]) == ("reserved", None)
    assert len(finance.of("budget.release.requested", r["id"])) == 1


async def test_an_answer_for_an_unknown_reservation_goes_to_the_dlq(
        budget_app: TestClient, finance: Finance, budget_db: asyncpg.Connection) -> None:
    round_id = str(uuid.uuid4())
    event = await finance.answer("budget.reserved", round_id, {
        "reservation_id": str(uuid.uuid4()), "round_id": round_id,
        "reserved_amount": "100.00", "at": at()})
    payment = await finance.answer("payment.recorded", round_id, {
        "payment_id": "PAY-unknown", "award_id": str(uuid.uuid4()), "round_id": round_id,
        "amount": "1.00", "paid_at": at()})
    seen: set[str] = set()
    for _ in range(10):
        seen |= {e["id"] for e in await finance.dead_letters()}
        if {event["id"], payment["id"]} <= seen:
            break
    assert {event["id"], payment["id"]} <= seen
    assert await budget_db.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])",
                                    [event["id"], payment["id"]]) == 0
