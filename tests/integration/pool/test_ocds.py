"""The pool service's OCDS releases over HTTP: a pool's life as a framework agreement,
its record and compiled release, and the feed followed by `links.next`."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient
from yarl import URL

from pool_service.settings import PoolSettings
from shared.ocds.releases import loads
from tests.ocds_schema import problems


async def get_json(client: TestClient, url: str, status: int = 200) -> Any:
    async with client.get(url) as resp:
        assert resp.status == status, await resp.text()
        return loads(await resp.read())


async def follow_feed(client: TestClient, limit: int) -> list[dict[str, Any]]:
    """Every release of the feed, following links.next from the start."""
    releases: list[dict[str, Any]] = []
    url: str | None = f"/ocds/release-packages?limit={limit}"
    while url is not None:
        package = await get_json(client, url)
        if package["releases"]:
            assert problems("release-package", package) == []
        releases += package["releases"]
        assert len(package["releases"]) <= limit
        following = package["links"].get("next")
        url = None if following is None else URL(following).path_qs  # absolute links
        if url is None:
            assert "resume" in package["links"]
    return releases


async def test_a_pool_is_published_as_a_framework_agreement(
        client: TestClient, center: dict[str, str], make_pool: Callable[..., Any],
        make_supplier: Callable[..., Any], admit: Callable[..., Any],
        move: Callable[..., Any], pool_settings: PoolSettings) -> None:
    pool = await make_pool(price_ceiling="123456.78")
    stays, leaves = await make_supplier(), await make_supplier()
    await admit(pool["id"], stays["id"])
    await admit(pool["id"], leaves["id"])
    status, _ = await move(pool["id"], leaves["id"], "suspended", reason="late")
    assert status == 200
    status, _ = await move(pool["id"], leaves["id"], "removed", reason="forged",
                           ground="false_documents")
    assert status == 200
    async with client.patch(f"/v1/pools/{pool['id']}", json={"name": "会议服务 2027"},
                            headers=center) as resp:
        assert resp.status == 200, await resp.text()
    async with client.post(f"/v1/pools/{pool['id']}/terminate", json={"reason": "ended"},
                           headers=center) as resp:
        assert resp.status == 200, await resp.text()

    ocid = f"{pool_settings.ocid_prefix}-pool-{pool['id']}"
    assert ocid.startswith("ocds-wz0000-pool-")
    record_package = await get_json(client, f"/ocds/records/{ocid}")
    assert problems("record-package", record_package) == []
    [record] = record_package["records"]
    tags = [r["tag"] for r in record["releases"]]
    assert tags == [["tender"], ["award"], ["award"], ["awardUpdate"], ["tenderUpdate"],
                    ["tenderUpdate"]]
    for release in record["releases"]:
        assert problems("release", release) == []
    compiled = record["compiledRelease"]
    tender = compiled["tender"]
    assert tender["techniques"]["hasFrameworkAgreement"] is True
    assert tender["techniques"]["frameworkAgreement"]["method"] == \
        "withAndWithoutReopeningCompetition"
    assert tender["procurementMethod"] == "selective"
    assert tender["value"] == {"amount": Decimal("123456.78"), "currency": "CNY"}
    assert tender["contractPeriod"]["startDate"].startswith(pool["valid_from"])
    assert tender["contractPeriod"]["endDate"].startswith(pool["valid_to"])
    assert (tender["title"], tender["status"]) == ("会议服务 2027", "complete")
    awards = {a["suppliers"][0]["id"]: a["status"] for a in compiled["awards"]}
    assert awards == {stays["id"]: "active", leaves["id"]: "cancelled"}
    assert {p["id"] for p in compiled["parties"]} == {stays["id"], leaves["id"]}
    assert all(p["roles"] == ["supplier"] for p in compiled["parties"])
    # The amount is written as a JSON number with its exact digits.
    async with client.get(f"/ocds/records/{ocid}") as resp:
        assert b'"amount":123456.78,' in await resp.read()

    # The feed holds every one of these releases exactly once, across small pages.
    feed = [r for r in await follow_feed(client, 2) if r["ocid"] == ocid]
    assert sorted(r["id"] for r in feed) == sorted(r["id"] for r in record["releases"])


async def test_feed_and_record_refuse_bad_input(client: TestClient) -> None:
    for query in ("limit=0", "limit=1001", "cursor=%21%21", "cursor=WzEsMl0", "surprise=1"):
        async with client.get(f"/ocds/release-packages?{query}") as resp:
            assert resp.status == 422, query
            assert resp.content_type == "application/problem+json"
    for ocid in ("ocds-wz0000-pool-00000000-0000-0000-0000-000000000000", "x%20y"):
        async with client.get(f"/ocds/records/{ocid}") as resp:
            assert resp.status == 404
            assert resp.content_type == "application/problem+json"
    package = await get_json(client, "/ocds/release-packages?limit=1000")
    assert package["version"] == "1.1" and package["publisher"]["name"]
    assert package["extensions"][0].endswith("/extension.json")
