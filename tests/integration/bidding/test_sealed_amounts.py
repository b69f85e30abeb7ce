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

from bidding_service.awards.domain import Candidate, evaluate
from bidding_service.routes import BID_MEMORY
from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status
from tests.integration.bidding.storm import check_storm, storm

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


async def _swap(settings: BiddingSettings, table: str, column: str, key: str,
                round_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID) -> None:
    """An insider swaps two rows' ciphertexts (valid ones, each under the right key)."""
    await _sql(settings, f"""
        UPDATE {table} t SET {column} = o.{column}
          FROM {table} o
         WHERE t.round_id = $1 AND o.round_id = $1 AND t.{key} IN ($2, $3)
           AND o.{key} IN ($2, $3) AND t.{key} <> o.{key}""", round_id, a, b)


async def test_a_ciphertext_moved_to_another_row_is_refused_not_used(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, auth("procurement_center", sub="center-tamper"),
                       round_body(pool, seconds=600, disclosure="rank"))
    rid = uuid.UUID(rnd["id"])
    heads = [auth("supplier", sub=f"s-{m.id}", supplier_id=str(m.id)) for m in ms]
    bids = []
    for h, amount in zip(heads, ("5000.00", "6000.00"), strict=True):
        status, body = await bid(bidding, h, str(rid), amount)
        assert status == 201
        bids.append(uuid.UUID(body["id"]))
    await _swap(bidding_settings, "bids", "amount_ct", "id", rid, *bids)
    await _swap(bidding_settings, "invitations", "last_amount_ct", "supplier_id", rid,
                ms[0].id, ms[1].id)
    # Each row now holds an authentic ciphertext of the other bid: it must not open.
    async with bidding.get(f"/v1/rounds/{rid}/bids/{bids[0]}", headers=heads[0]) as resp:
        assert resp.status == 500 and resp.content_type == "application/problem+json"
        assert "5000.00" not in await resp.text() and "6000.00" not in await resp.text()
    async with bidding.get(f"/v1/rounds/{rid}", headers=heads[0]) as resp:
        assert resp.status == 500
    # A new bid is checked against the previous amount: refused, not taken as 6000.00,
    # by the process that remembers the amount it took, and by one that reads the row.
    assert (await bid(bidding, heads[0], str(rid), "5500.00"))[0] == 422
    bidding.app[BID_MEMORY].forget_bid(rid, ms[0].id)
    assert (await bid(bidding, heads[0], str(rid), "5500.00"))[0] == 500
    # The close refuses too: no result from swapped amounts, the round stays open.
    await _sql(bidding_settings, "UPDATE rounds SET closes_at = clock_timestamp()"
               " WHERE id = $1", rid)
    await asyncio.sleep(2)
    row = (await _sql(bidding_settings, "SELECT status, (SELECT count(*) FROM awards"
                      " WHERE round_id = $1) AS awards FROM rounds WHERE id = $1", rid))[0]
    assert (row["status"], row["awards"]) == ("open", 0)
    # Put them back: the close then awards the real lowest bid.
    await _swap(bidding_settings, "bids", "amount_ct", "id", rid, *bids)
    await _swap(bidding_settings, "invitations", "last_amount_ct", "supplier_id", rid,
                ms[0].id, ms[1].id)
    view = await wait_status(bidding, str(rid), {"awarded"}, heads[0])
    assert view["award"]["supplier"]["id"] == str(ms[0].id)
    assert view["award"]["amount"] == "5000.00"


async def test_anti_sniping_best_is_recomputed_after_the_best_bidder_is_excluded(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, auth("procurement_center", sub="center-best"), round_body(
        pool, seconds=600, extension={"window_seconds": 3600, "extend_seconds": 5,
                                      "max_extensions": 10}))
    rid = rnd["id"]
    heads = [auth("supplier", sub=f"s-{m.id}", supplier_id=str(m.id)) for m in ms]

    async def used() -> int:
        rows = await _sql(bidding_settings, "SELECT extensions_used FROM rounds WHERE id = $1",
                          uuid.UUID(rid))
        return int(rows[0]["extensions_used"])

    assert (await bid(bidding, heads[0], rid, "700.00"))[0] == 201  # a first best: +1
    assert (await bid(bidding, heads[1], rid, "900.00"))[0] == 201  # not better
    assert await used() == 1
    await feed.member(pool, ms[0], "suspended")  # the best bid no longer counts
    assert (await bid(bidding, heads[2], rid, "800.00"))[0] == 201  # best of the valid: +1
    assert (await bid(bidding, heads[1], rid, "850.00"))[0] == 201  # not better than 800
    assert await used() == 2
    best = (await _sql(bidding_settings, "SELECT best_ct FROM rounds WHERE id = $1",
                       uuid.UUID(rid)))[0]["best_ct"]
    assert best is not None and b"800" not in best


async def test_200_bidders_with_anti_sniping_close_correctly(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    """Every bid in the window reads the sealed best; new bests update it under the
    round's row lock while the others keep only their key-share lock."""
    bidders = members(200)
    for m in bidders:
        m.size = random.choice(["large", "small"])
    pool = await feed.pool(bidders)
    center = auth("procurement_center", sub="center-storm-best")
    tokens = {m.id: auth("supplier", sub=f"s-{m.id}", supplier_id=str(m.id)) for m in bidders}
    rnd = await launch(bidding, center, round_body(
        pool, seconds=4, ceiling_price="500000.00", sme_price_deduction="0.06",
        extension={"window_seconds": 2, "extend_seconds": 1, "max_extensions": 3}))
    result = await storm([bidding], rnd["id"], bidders, lambda m: tokens[m.id],
                         Decimal("480000"))
    view = await wait_status(bidding, rnd["id"], {"awarded"}, center, timeout=60)
    bids: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        async with bidding.get(f"/v1/rounds/{rnd['id']}/bids", params=params,
                               headers=center) as resp:
            page = await resp.json()
        bids += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    check_storm(result, bids, bidders, Decimal("0.06"), view["award"], view["ranking"])
    assert 1 <= view["extensions_used"] <= 3
    best = (await _sql(bidding_settings, "SELECT best_ct FROM rounds WHERE id = $1",
                       uuid.UUID(rnd["id"])))[0]["best_ct"]
    assert best is not None


async def test_a_clear_amount_written_into_an_open_round_is_refused(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, auth("procurement_center", sub="center-downgrade"),
                       round_body(pool, seconds=600))
    rid = uuid.UUID(rnd["id"])
    head = auth("supplier", sub=f"s-{ms[0].id}", supplier_id=str(ms[0].id))
    assert (await bid(bidding, head, str(rid), "5000.00"))[0] == 201
    # An insider replaces the sealed last amount by a clear one, to lift the own floor.
    await _sql(bidding_settings, "UPDATE invitations SET last_amount_ct = NULL,"
               " legacy_last_amount = 99999.00 WHERE round_id = $1 AND supplier_id = $2",
               rid, ms[0].id)
    # The process that took the bid remembers its amount: the floor is not lifted.
    assert (await bid(bidding, head, str(rid), "6000.00"))[0] == 422
    # A process that does not remember it (another one, or after a restart) reads the
    # tampered row and refuses to use it.
    bidding.app[BID_MEMORY].forget_bid(rid, ms[0].id)
    assert (await bid(bidding, head, str(rid), "6000.00"))[0] == 500
    assert (await bid(bidding, head, str(rid), "4000.00"))[0] == 500
    assert (await _sql(bidding_settings, "SELECT count(*) AS n FROM bids WHERE round_id = $1",
                       rid))[0]["n"] == 1
    await _sql(bidding_settings, "UPDATE rounds SET status = 'cancelled' WHERE id = $1", rid)
