"""The ranking the close stores (sealed amounts decrypted, ranked, COPY-ed) is exactly
domain.evaluate's, with ties and rounding."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bidding_service.awards import repository as repo
from bidding_service.awards.domain import evaluate
from bidding_service.bids import amounts
from bidding_service.bids.sealed import Sealer, bid_ad
from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import launch


@pytest.mark.parametrize("deduction", ["0", "0.06", "0.2"])
async def test_stored_ranking_matches_the_domain_rule(
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
            import uuid

            round_id = uuid.UUID(rnd["id"])
            sealer = Sealer(bidding_settings.bid_key())
            rows = []
            for m in ms[:250]:
                bid_id = uuid.uuid4()
                amount = Decimal(random.choice(["1000.00", "1063.83", "940.00", "1000.01",
                                                "999.99"]))
                rows.append((sealer.seal_amount(amount, bid_ad(round_id, m.id, bid_id)),
                             base + timedelta(microseconds=random.choice([0, 1, 2, 500_000])),
                             m.id, bid_id))
            await conn.executemany(
                "UPDATE invitations SET last_amount_ct = $1, last_bid_at = $2, last_bid_id = $4"
                " WHERE round_id = $5 AND supplier_id = $3",
                [(*row, round_id) for row in rows])
            cands = await amounts.candidates(conn, sealer, round_id)
            assert len(cands) == 250
            expected = evaluate(cands, Decimal(deduction))
            assert await amounts.store_ranking(conn, round_id, expected) == 250
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
