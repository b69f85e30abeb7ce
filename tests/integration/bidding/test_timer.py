"""The round timer: a failing round is isolated, backed off and surfaced; due work is
claimed with SKIP LOCKED, so timers of several processes close each round once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import structlog
from aiohttp.test_utils import TestClient

from bidding_service.app import build_app
from bidding_service.settings import BiddingSettings
from shared.http import METRICS
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import (
    allow_status_changes,
    bid,
    launch,
    refuse_status_changes,
    wait_status,
)
from tests.support import EventTap, running_app

Auth = Callable[..., dict[str, str]]
CLOSED = {"failed", "awarded"}


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-timer")


@pytest.fixture
async def db(bidding_settings: BiddingSettings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(bidding_settings.database_url,
                                 server_settings={"search_path": bidding_settings.db_schema})
    yield conn
    await conn.close()


def _closing_at(pool: object, at: datetime) -> dict[str, object]:
    # No bids and min_bids=1: the close fails the round (insufficient bids) right away.
    return round_body(pool, closes_at=at.isoformat(), min_bids=1)  # type: ignore[arg-type]


async def _view(client: TestClient, rid: str, headers: dict[str, str]) -> dict[str, object]:
    async with client.get(f"/v1/rounds/{rid}", headers=headers) as resp:
        assert resp.status == 200
        return dict(await resp.json())


async def test_a_round_whose_close_always_fails_delays_no_other(
        bidding: TestClient, feed: PoolFeed, auth: Auth, db: asyncpg.Connection,
        bidding_settings: BiddingSettings) -> None:
    schema = bidding_settings.db_schema
    pool = await feed.pool(members(2))
    at = datetime.now(UTC) + timedelta(seconds=4)
    # The failing round is due first, so an unguarded loop would stop at it every time.
    bad = await launch(bidding, center(auth), _closing_at(pool, at - timedelta(seconds=0.5)))
    good = [await launch(bidding, center(auth), _closing_at(pool, at)) for _ in range(4)]
    # Test-only trigger: any change of this round's status raises, so its close can
    # never commit (as a close hitting a statement timeout every time).
    await refuse_status_changes(db, schema, "rounds", bad["id"], "fail_close_for_test",
                                "close refused for the test")
    metrics = bidding.app[METRICS].registry
    labels = {"action": "close", "error": "sqlstate-P0001"}
    failures_before = metrics.get_sample_value("round_timer_failures_total", labels) or 0.0
    try:
        with structlog.testing.capture_logs() as logs:
            # The others, due at the same time, close meanwhile.
            for r in good:
                view = await wait_status(bidding, r["id"], CLOSED, center(auth))
                assert view["status_reason"] == "insufficient_bids"
            for _ in range(200):
                view = await _view(bidding, bad["id"], center(auth))
                if int(view["close_attempts"]) >= 3:  # type: ignore[call-overload]
                    break
                await asyncio.sleep(0.1)
        # One error line per failed attempt, with the round and the attempt count.
        failed = [x for x in logs if x["event"] == "round_close_failed"
                  and x["round_id"] == bad["id"]]
        assert failed and {x["log_level"] for x in failed} == {"error"}
        assert [x["attempt"] for x in failed][:3] == [1, 2, 3]
        assert {x["error"] for x in failed} == {"sqlstate-P0001"}
        # Retried with backoff, and surfaced to the center (a code, no data).
        assert view["status"] == "open"
        assert int(view["close_attempts"]) >= 3  # type: ignore[call-overload]
        assert view["last_close_error"] == "sqlstate-P0001"
        assert datetime.fromisoformat(str(view["next_close_attempt_at"])) > \
            datetime.fromisoformat(str(view["closes_at"]))
        assert (metrics.get_sample_value("round_timer_failures_total", labels) or 0.0) >= \
            failures_before + 3
        # Others see nothing of it.
        buyer = await _view(bidding, bad["id"], auth("buyer", org="WZ-COMMERCE"))
        assert buyer.get("close_attempts") is None and buyer.get("last_close_error") is None
        # Backed off, never beyond the cap.
        row = await db.fetchrow("SELECT close_attempts, next_close_attempt_at - clock_timestamp()"
                                " AS wait FROM rounds WHERE id = $1", uuid.UUID(bad["id"]))
        assert row is not None and row["wait"] <= timedelta(
            seconds=bidding_settings.timer_retry_max_seconds)
    finally:
        await allow_status_changes(db, schema, "rounds", "fail_close_for_test")
    # Once the cause is gone, the next retry closes it.
    view = await wait_status(bidding, bad["id"], CLOSED, center(auth))
    assert view["status_reason"] == "insufficient_bids"


async def test_a_round_held_by_another_process_is_skipped_not_waited_for(
        bidding: TestClient, feed: PoolFeed, auth: Auth, db: asyncpg.Connection) -> None:
    pool = await feed.pool(members(2))
    at = datetime.now(UTC) + timedelta(seconds=3)
    held = await launch(bidding, center(auth), _closing_at(pool, at - timedelta(seconds=0.5)))
    free = [await launch(bidding, center(auth), _closing_at(pool, at)) for _ in range(6)]
    # Another process in the middle of closing `held`: its row lock, kept open.
    async with db.transaction():
        await db.execute("SELECT 1 FROM rounds WHERE id = $1 FOR UPDATE", uuid.UUID(held["id"]))
        for r in free:
            await wait_status(bidding, r["id"], CLOSED, center(auth))
        assert (await _view(bidding, held["id"], center(auth)))["status"] == "open"
    await wait_status(bidding, held["id"], CLOSED, center(auth))


async def test_two_timers_close_every_round_exactly_once(
        bidding: TestClient, feed: PoolFeed, auth: Auth, bidding_settings: BiddingSettings) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    async with running_app(build_app(bidding_settings)) as second, \
            EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                     ("round.closed", "round.failed")) as tap:
        at = datetime.now(UTC) + timedelta(seconds=4)
        rounds = [await launch(bidding, center(auth), _closing_at(pool, at)) for _ in range(20)]
        ids = {r["id"] for r in rounds}
        for r in rounds:
            await wait_status(second, r["id"], CLOSED, center(auth))
        await tap.wait_for(lambda ev: ids <= {e["data"]["round_id"] for e in ev
                                              if e["type"] == "round.failed"})
        await asyncio.sleep(1.0)  # a second close would have arrived by now
    for type_ in ("round.closed", "round.failed"):
        seen = [e["data"]["round_id"] for e in tap.events
                if e["type"] == type_ and e["data"]["round_id"] in ids]
        assert sorted(seen) == sorted(ids), type_


async def test_an_award_whose_expiry_always_fails_delays_no_other(
        bidding: TestClient, feed: PoolFeed, auth: Auth, db: asyncpg.Connection,
        bidding_settings: BiddingSettings) -> None:
    schema = bidding_settings.db_schema
    ms = members(2)
    pool = await feed.pool(ms)
    rounds = [await launch(bidding, center(auth), round_body(pool, seconds=3,
                                                             acceptance_seconds=3))
              for _ in range(3)]
    for r in rounds:
        for m, amount in zip(ms, ("100.00", "200.00"), strict=True):
            status, _ = await bid(bidding, auth("supplier", supplier_id=str(m.id)), r["id"],
                                  amount)
            assert status == 201
    views = [await wait_status(bidding, r["id"], {"awarded"}, center(auth)) for r in rounds]
    bad = views[0]["award"]["id"]  # type: ignore[index]
    await refuse_status_changes(db, schema, "awards", bad, "fail_expiry_for_test",
                                "expiry refused for the test")
    try:
        # The other awards expire and move to the runner-up meanwhile.
        for r in rounds[1:]:
            await wait_status(bidding, r["id"], {"reawarded", "failed"}, center(auth))
            assert await _first_award_status(db, r["id"]) == "expired"
        for _ in range(200):
            row = await db.fetchrow("SELECT status, expiry_attempts, last_expiry_error"
                                    " FROM awards WHERE id = $1", uuid.UUID(bad))
            assert row is not None
            if row["expiry_attempts"] >= 2:
                break
            await asyncio.sleep(0.1)
        assert row["status"] == "published" and row["expiry_attempts"] >= 2
        assert row["last_expiry_error"] == "sqlstate-P0001"
    finally:
        await allow_status_changes(db, schema, "awards", "fail_expiry_for_test")
    await wait_status(bidding, rounds[0]["id"], {"reawarded", "failed"}, center(auth))
    assert await _first_award_status(db, rounds[0]["id"]) == "expired"


async def _first_award_status(db: asyncpg.Connection, round_id: object) -> str:
    status: str = await db.fetchval("SELECT status FROM awards WHERE round_id = $1 AND rank = 1",
                                    uuid.UUID(str(round_id)))
    return status
