"""Several small due rounds closed in one transaction (the timer's batches): each is
closed once, its bid entries and close entry stay together in the chain, every award
carries the one head of the batch; a batch that fails commits nothing, and closing its
rounds one by one isolates the failing round."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestClient

from bidding_service import SOURCE
from bidding_service.awards import service
from bidding_service.routes import SEALER
from bidding_service.settings import BiddingSettings
from shared.audit_chain import first_break
from shared.http import DB, METRICS
from shared.uow import UnitOfWork
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import (
    allow_status_changes,
    audit_trail,
    bid,
    launch,
    refuse_status_changes,
)

Auth = Callable[..., dict[str, str]]

# Before any round of the other tests, a second apart in the order given: the claims
# take these first, in that order.
LONG_AGO = """
    UPDATE rounds r SET opens_at = '2000-01-01T00:00:00Z',
           closes_at = '2000-01-01T00:00:00Z'::timestamptz + make_interval(secs => x.i)
      FROM unnest($1::uuid[]) WITH ORDINALITY AS x (id, i) WHERE r.id = x.id
"""


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-batch")


async def _rounds_with_bids(bidding: TestClient, feed: PoolFeed, auth: Auth,
                            n: int) -> list[uuid.UUID]:
    ms = members(2)
    pool = await feed.pool(ms)
    ids = []
    for _ in range(n):
        rnd = await launch(bidding, center(auth), round_body(pool, seconds=3600, min_bids=1))
        for m, amount in zip(ms, ("81000.00", "82000.00"), strict=True):
            who = auth("supplier", sub=f"s-{m.id}", supplier_id=str(m.id))
            status, _ = await bid(bidding, who, rnd["id"], amount)
            assert status == 201
        ids.append(uuid.UUID(rnd["id"]))
    return ids


async def test_small_due_rounds_close_together_each_once_with_one_head(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ids = await _rounds_with_bids(bidding, feed, auth, service.BATCH_ROUNDS - 1)
    app = bidding.app
    claimed: list[uuid.UUID] = []
    # Made due inside the batch's own transaction: the row locks of the UPDATE keep the
    # app's own timer (SKIP LOCKED) off them until the batch commits.
    async with UnitOfWork(app[DB], SOURCE) as uow:
        await uow.conn.execute(LONG_AGO, ids)
        await service.close_due(uow, app[METRICS], app[SEALER], claimed)
    assert claimed[:len(ids)] == ids
    heads = []
    for rid in ids:
        async with bidding.get(f"/v1/rounds/{rid}", headers=center(auth)) as resp:
            view = await resp.json()
        assert view["status"] == "awarded" and view["bid_count"] == 2
        heads.append(view["award"]["audit_head"])
    # One transaction, one append: the same head in every award of the batch.
    assert heads[0] is not None and all(h == heads[0] for h in heads)
    trail = await audit_trail(bidding, center(auth))
    assert first_break(trail[1:], trail[1]["seq"], trail[0]["hash"])[0] is None
    by_seq = {e["seq"]: e for e in trail}
    assert by_seq[heads[0]["seq"]]["hash"] == heads[0]["hash"]
    for rid in ids:
        # Each round's two bid entries directly before its own close entry.
        closed = next(e for e in trail if e["action"] == "round.closed"
                      and e["subject"] == f"/v1/rounds/{rid}")
        before = [by_seq[closed["seq"] - k] for k in (2, 1)]
        assert all(e["subject"].startswith(f"/v1/rounds/{rid}/bids/") for e in before)
        assert closed["seq"] <= heads[0]["seq"]
    # Closed exactly once: nothing left for another close.
    async with UnitOfWork(app[DB], SOURCE) as uow:
        for rid in ids:
            assert not await service.close_round(uow, rid, app[METRICS], app[SEALER])


async def test_a_failing_batch_commits_nothing_and_one_by_one_isolates_the_round(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    schema = bidding_settings.db_schema
    ids = await _rounds_with_bids(bidding, feed, auth, 3)
    bad = ids[1]
    app = bidding.app
    db = app[DB]
    await refuse_status_changes(db, schema, "rounds", bad, "fail_batch_for_test",
                                "close refused for the test")
    try:
        claimed: list[uuid.UUID] = []
        with pytest.raises(Exception, match="close refused for the test"):
            async with UnitOfWork(db, SOURCE) as uow:
                await uow.conn.execute(LONG_AGO, ids)
                await service.close_due(uow, app[METRICS], app[SEALER], claimed)
        assert claimed[:2] == ids[:2]
        # Rolled back together: every round still open, none made due.
        statuses = await db.fetch("SELECT id, status FROM rounds WHERE id = ANY($1::uuid[])",
                                  ids)
        assert {r["status"] for r in statuses} == {"open"}
        # One by one (as the timer does after BatchFailed): the others close.
        async with UnitOfWork(db, SOURCE) as uow:
            await uow.conn.execute(LONG_AGO, ids)
            for rid in (ids[0], ids[2]):
                assert await service.close_round(uow, rid, app[METRICS], app[SEALER])
        with pytest.raises(service.CloseFailed) as failed:
            await service.close_due_round(db, bad, app[METRICS], app[SEALER])
        assert failed.value.round_id == bad
        statuses = await db.fetch("SELECT id, status FROM rounds WHERE id = ANY($1::uuid[])",
                                  ids)
        assert {r["id"]: r["status"] for r in statuses} == {
            ids[0]: "awarded", bad: "open", ids[2]: "awarded"}
    finally:
        await allow_status_changes(db, schema, "rounds", "fail_batch_for_test")
    # The cause gone, the round closes (and is not left for the app's timer to close
    # during later tests).
    assert await service.close_due_round(db, bad, app[METRICS], app[SEALER])
