"""The ranking the close stores (computed in SQL) is exactly domain.evaluate's."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bidding_service import repository as repo
from bidding_service.domain import evaluate
from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import launch


@pytest.mark.parametrize("deduction", ["0", "0.06", "0.2"])
async def test_sql_ranking_matches_the_domain_rule(
        bidding: TestClient, feed: PoolFeed, auth: Callable[..., dict[str, str]],
        bidding_settings: BiddingSettings, deduction: str) -> None:
    ms = members(300)
    for m in ms:
        m.kind = random.choice(["enterprise", "social_organization", "public_institution"])
        m.size = random.choice(["large", "medium", "small", "micro"])
    pool = await feed.pool(ms)
    rnd = await launch(bidding, auth("procurement_center", sub="rank"),
                       round_body(pool, seconds=600, sme_price_deduction=deduction))
    base = datetime.now(UTC)
    conn = await asyncpg.connect(bidding_settings.database_url,
                                 server_settings={"search_path": bidding_settings.db_schema})
    try:
        async with conn.transaction():
            # Few distinct amounts and times: many exact and rounding-level ties.
            rows = [(random.choice(["1000.00", "1063.83", "940.00", "1000.01", "999.99"]),
                     base + timedelta(microseconds=random.choice([0, 1, 2, 500_000])),
                     m.id) for m in ms[:250]]
            await conn.executemany(
                "UPDATE invitations SET last_amount = $1::numeric, last_bid_at = $2"
                " WHERE round_id = $4 AND supplier_id = $3",
                [(*row, rnd["id"]) for row in rows])
            import uuid

            round_id = uuid.UUID(rnd["id"])
            expected = evaluate(await repo.candidates(conn, round_id), Decimal(deduction))
            assert await repo.count_candidates(conn, round_id) == 250
            assert await repo.rank_candidates(conn, round_id, Decimal(deduction)) == 250
            stored = await repo.results(conn, round_id)
            raise _Rollback((expected, stored))
    except _Rollback as done:
        expected, stored = done.args[0]
    finally:
        await conn.close()
    assert [(r.rank, r.candidate.supplier_id, r.evaluated_amount) for r in expected] == \
        [(s["rank"], s["supplier_id"], s["evaluated_amount"]) for s in stored]


class _Rollback(Exception):
    """Leave the round untouched after comparing."""
