"""The ranking the close stores (sealed amounts decrypted, ranked, inserted) is exactly
domain.evaluate's, with ties and rounding; the storing statement's rank 1 and prices
are what the database reads back."""

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


# One INSERT for the whole ranking (it then gives rank 1's prices), and three of 100.
@pytest.mark.parametrize(("deduction", "chunk"), [("0", None), ("0.06", None), ("0.2", None),
                                                  ("0.06", 100)])
async def test_stored_ranking_matches_the_domain_rule(
        bidding: TestClient, feed: PoolFeed, auth: Callable[..., dict[str, str]],
        bidding_settings: BiddingSettings, deduction: str, chunk: int | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if chunk is not None:
        monkeypatch.setattr(amounts, "RANKING_CHUNK", chunk)
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
            got = await amounts.store_ranking(conn, round_id, expected)
            assert got.size == 250
            assert got.first is not None
            assert (got.first["rank"], got.first["supplier_id"]) == \
                (1, expected[0].candidate.supplier_id)
            # The prices from the storing statement are the database's own query's.
            assert got.prices == (None if chunk else
                                  await repo.unawarded_prices(conn, round_id, 1))
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
