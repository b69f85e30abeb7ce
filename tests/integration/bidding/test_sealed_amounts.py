"""Bid amounts are encrypted at rest while their round is open (trust.md 3)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import asyncpg
from aiohttp.test_utils import TestClient

from bidding_service.domain import Candidate, evaluate
from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status

Auth = Callable[..., dict[str, str]]
CEILING = "90000000.00"


def textual_forms(amount: Decimal) -> set[str]:
    """How an amount could be written down: 7345.67, 734567 (cents), 7,345.67, 7345.670."""
    cents = int(amount * 100)
    return {f"{amount:.2f}", str(cents), f"{amount:,.2f}", f"{amount:.3f}", f"{amount:.4f}",
            repr(float(amount)), f"{amount:.2f}".replace(".", ",")}


def distinctive_amounts(n: int) -> list[Decimal]:
    """Ten-digit cent figures with no trailing zero: nothing else in a dump spells them."""
    out: set[Decimal] = set()
    while len(out) < n:
        cents = random.randint(2_000_000_000, 8_900_000_000)
        if cents % 10:
            out.add(Decimal(cents) / 100)
    return sorted(out)


async def _sql(settings: BiddingSettings, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_url,
                                 server_settings={"search_path": settings.db_schema})
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def pg_dump(settings: BiddingSettings) -> str:
    proc = await asyncio.create_subprocess_exec(
        "pg_dump", "--no-owner", "--dbname", settings.database_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_pg_dump_of_an_open_round_holds_none_of_its_amounts(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(40)
    for m in ms:
        m.size = random.choice(["large", "small", "micro"])
        m.kind = random.choice(["enterprise", "social_organization"])
    pool = await feed.pool(ms, price_ceiling=CEILING, max_round_budget=CEILING)
    center = auth("procurement_center", sub="center-dump")
    rnd = await launch(bidding, center, round_body(
        pool, seconds=600, ceiling_price=CEILING, sme_price_deduction="0.06",
        disclosure="rank", min_decrement="1.00",
        extension={"window_seconds": 3600, "extend_seconds": 1, "max_extensions": 50}))
    rid = rnd["id"]
    amounts = distinctive_amounts(2 * len(ms))
    random.shuffle(amounts)
    last: dict[uuid.UUID, tuple[str, Decimal]] = {}
    for i, m in enumerate(ms):
        first, second = sorted(amounts[2 * i: 2 * i + 2], reverse=True)
        headers = auth("supplier", sub=f"s-{m.id}", supplier_id=str(m.id))
        assert (await bid(bidding, headers, rid, f"{first:.2f}"))[0] == 201
        # The second bid goes with an Idempotency-Key: its stored answer must be sealed too.
        key = {"Idempotency-Key": f"dump-{m.id}"}
        for _ in range(2):  # the replay answers the same
            async with bidding.post(f"/v1/rounds/{rid}/bids", json={"amount": f"{second:.2f}"},
                                    headers={**headers, **key}) as resp:
                body = await resp.json()
                assert resp.status == 201 and body["amount"] == f"{second:.2f}", body
        last[m.id] = (body["id"], second)
    # The bidder still sees its own amount and its rank while the round is open.
    mine = auth("supplier", sub=f"s-{ms[0].id}", supplier_id=str(ms[0].id))
    async with bidding.get(f"/v1/rounds/{rid}", headers=mine) as resp:
        view = await resp.json()
    assert view["status"] == "open" and view["my_bid"]["amount"] == f"{last[ms[0].id][1]:.2f}"
    assert 1 <= view["rank"] <= len(ms)

    dump = await pg_dump(bidding_settings)
    assert f"{Decimal(CEILING):.2f}" in dump  # the dump is real: the public ceiling is in it
    leaked = {form for a in amounts for form in textual_forms(a) if form in dump}
    assert leaked == set()
    assert (await _sql(bidding_settings, "SELECT status FROM rounds WHERE id = $1",
                       uuid.UUID(rid)))[0]["status"] == "open"

    # After the close the result is right: each bidder's last amount, ranked by the rule.
    await _sql(bidding_settings, "UPDATE rounds SET closes_at = clock_timestamp()"
               " WHERE id = $1", uuid.UUID(rid))
    view = await wait_status(bidding, rid, {"awarded"}, center)
    assert {r["supplier_id"]: r["amount"] for r in view["ranking"]} == \
        {str(sid): f"{a:.2f}" for sid, (_, a) in last.items()}
    async with bidding.get(f"/v1/rounds/{rid}/bids", params={"limit": "200"},
                           headers=center) as resp:
        bids = (await resp.json())["items"]
    at = {b["id"]: datetime.fromisoformat(b["submitted_at"]) for b in bids}
    assert len(bids) == 2 * len(ms)
    expected = evaluate([Candidate(m.id, m.name, m.credit_code, m.kind, m.size, last[m.id][1],
                                   at[last[m.id][0]]) for m in ms], Decimal("0.06"))
    assert [r["supplier_id"] for r in view["ranking"]] == \
        [str(x.candidate.supplier_id) for x in expected]
    assert view["award"]["supplier"]["id"] == str(expected[0].candidate.supplier_id)
    assert view["award"]["amount"] == f"{expected[0].candidate.amount:.2f}"
