"""The bidding service's OCDS releases over HTTP: each round a call-off of its pool,
through extension, award, decline, acceptance, cancellation and failure; no bid amount
of an open round ever in the feed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient
from yarl import URL

from bidding_service import SOURCE
from bidding_service.ocds import publish_round_tender
from bidding_service.settings import BiddingSettings
from shared.http import DB
from shared.ocds.releases import loads
from shared.uow import UnitOfWork
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status
from tests.ocds_schema import problems

Auth = Callable[..., dict[str, str]]


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-ocds")


def supplier(auth: Auth, member_id: uuid.UUID) -> dict[str, str]:
    return auth("supplier", sub=f"s-{member_id}", supplier_id=str(member_id))


async def feed_bytes(client: TestClient) -> bytes:
    """The whole feed as served, every page followed by links.next."""
    out = b""
    url: str | None = "/ocds/release-packages?limit=7"
    while url is not None:
        async with client.get(url) as resp:
            assert resp.status == 200
            body = await resp.read()
        out += body
        package = loads(body)
        if package["releases"]:
            assert problems("release-package", package) == []
        following = package["links"].get("next")
        url = None if following is None else URL(following).path_qs
    return out


async def record(client: TestClient, ocid: str) -> dict[str, Any]:
    async with client.get(f"/ocds/records/{ocid}") as resp:
        assert resp.status == 200, await resp.text()
        package = loads(await resp.read())
    assert problems("record-package", package) == []
    for release in package["records"][0]["releases"]:
        assert problems("release", release) == []
    return dict(package["records"][0])


async def test_a_round_is_a_call_off_from_launch_to_acceptance(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(
        pool, seconds=3, ceiling_price="99000.00", acceptance_seconds=30,
        extension={"window_seconds": 60, "extend_seconds": 6, "max_extensions": 1}))
    rid = rnd["id"]
    amounts = ("87123.45", "88234.56", "89345.67")  # distinctive: grep-able in the feed
    for m, amount in zip(ms, amounts, strict=True):
        assert (await bid(bidding, supplier(auth, m.id), rid, amount))[0] == 201
    sealed = await feed_bytes(bidding)
    for amount in amounts:
        assert amount.encode() not in sealed, "a bid amount of an open round is in the feed"

    view = await wait_status(bidding, rid, {"awarded"}, {})
    first = view["award"]
    async with bidding.post(f"/v1/awards/{first['id']}/decline", json={"reason": "busy"},
                            headers=supplier(auth, ms[0].id)) as resp:
        assert resp.status == 200, await resp.text()
    view = await wait_status(bidding, rid, {"reawarded"}, {})
    second = view["award"]
    async with bidding.post(f"/v1/awards/{second['id']}/accept",
                            headers=supplier(auth, ms[1].id)) as resp:
        assert resp.status == 200, await resp.text()

    prefix = bidding_settings.ocid_prefix
    got = await record(bidding, f"{prefix}-round-{rid}")
    assert [r["tag"] for r in got["releases"]] == [
        ["tender"], ["tenderUpdate"], ["award"], ["awardUpdate"], ["award"], ["awardUpdate"]]
    compiled = got["compiledRelease"]
    assert compiled["relatedProcesses"] == [{
        "id": "framework", "relationship": ["framework"], "title": f"Pool {pool.code}",
        "scheme": "ocid", "identifier": f"{prefix}-pool-{pool.id}"}]
    tender = compiled["tender"]
    assert tender["competitive"] is True
    assert tender["value"] == {"amount": Decimal("99000.00"), "currency": "CNY"}
    assert tender["tenderPeriod"]["endDate"] == view["closes_at"]  # after the extension
    assert tender["tenderPeriod"]["endDate"] != rnd["closes_at"], got["releases"][:2]
    awards = {a["id"]: (a["status"], a["value"]["amount"], a["suppliers"][0]["id"])
              for a in compiled["awards"]}
    assert awards == {
        first["id"]: ("unsuccessful", Decimal(amounts[0]), str(ms[0].id)),
        second["id"]: ("active", Decimal(amounts[1]), str(ms[1].id))}
    # The third bid was never awarded: its amount is in no release, ever.
    assert amounts[2].encode() not in await feed_bytes(bidding)


async def test_cancelled_and_failed_rounds_end_their_tender(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(2)
    pool = await feed.pool(ms)
    cancelled = await launch(bidding, center(auth), round_body(pool, seconds=60))
    assert (await bid(bidding, supplier(auth, ms[0].id), cancelled["id"], "76543.21"))[0] == 201
    async with bidding.post(f"/v1/rounds/{cancelled['id']}/cancel",
                            json={"reason": "no demand"}, headers=center(auth)) as resp:
        assert resp.status == 200, await resp.text()
    failed = await launch(bidding, center(auth), round_body(pool, seconds=2))
    assert (await bid(bidding, supplier(auth, ms[0].id), failed["id"], "65432.19"))[0] == 201
    await wait_status(bidding, failed["id"], {"failed"}, {})

    prefix = bidding_settings.ocid_prefix
    for rnd, status in ((cancelled, "cancelled"), (failed, "unsuccessful")):
        got = await record(bidding, f"{prefix}-round-{rnd['id']}")
        assert [r["tag"] for r in got["releases"]] == [["tender"], ["tenderUpdate"]]
        assert got["compiledRelease"]["tender"]["status"] == status
        assert "awards" not in got["compiledRelease"]
    everything = await feed_bytes(bidding)
    assert b"76543.21" not in everything and b"65432.19" not in everything


async def test_a_round_leaving_pending_budget_gets_its_tender_release_then(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    """The hook of the budget handshake (finance.md): no tender release for a
    `round.launched` while the round is `pending_budget`; `publish_round_tender` writes
    it in the transaction that lets the round go."""
    pool = await feed.pool(members(2))
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=60,
                                                         ceiling_price="45000.00"))
    ocid = f"{bidding_settings.ocid_prefix}-round-{rnd['id']}"
    assert [r["tag"] for r in (await record(bidding, ocid))["releases"]] == [["tender"]]
    db = bidding.app[DB]
    pending = {**rnd, "status": "pending_budget"}
    async with UnitOfWork(db, SOURCE) as uow:
        uow.emit("round.launched", rnd["id"], pending)
    assert len((await record(bidding, ocid))["releases"]) == 1  # nothing while pending
    async with UnitOfWork(db, SOURCE) as uow:
        await publish_round_tender(uow.conn, {**rnd, "status": "scheduled"})
    got = await record(bidding, ocid)
    assert [r["tag"] for r in got["releases"]] == [["tender"], ["tender"]]
    assert got["releases"][1]["tender"]["value"]["amount"] == Decimal("45000.00")
    assert got["releases"][1]["relatedProcesses"][0]["identifier"] == \
        f"{bidding_settings.ocid_prefix}-pool-{pool.id}"
