"""Pools over HTTP: create, read, list with filters, change, terminate."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from shared.auth import Role
from tests.integration.pool.conftest import Auth, pool_body


async def test_create_and_read_a_pool(client: TestClient, center: dict[str, str]) -> None:
    body = pool_body(price_ceiling=250000, max_round_budget="800000.5")
    resp = await client.post("/v1/pools", json=body, headers=center)
    assert resp.status == 201
    pool = await resp.json()
    assert resp.headers["Location"] == f"/v1/pools/{pool['id']}"
    assert pool["code"] == body["code"]
    assert pool["price_ceiling"] == "250000.00"
    assert pool["max_round_budget"] == "800000.50"
    assert pool["status"] == "active"
    assert pool["admitted_count"] == 0 and pool["needs_top_up"] is False
    assert pool["version"] == 1
    assert pool["valid_from"] == body["valid_from"]
    public = await client.get(f"/v1/pools/{pool['id']}")  # no token: public
    assert public.status == 200
    assert await public.json() == pool


async def test_duplicate_pool_code_is_409(client: TestClient, center: dict[str, str],
                                          make_pool: Callable[..., Any], db: Any) -> None:
    pool = await make_pool()
    resp = await client.post("/v1/pools", json=pool_body(code=pool["code"]), headers=center)
    assert resp.status == 409
    assert await db.fetchval("SELECT count(*) FROM pools WHERE code = $1", pool["code"]) == 1


async def test_pool_rules_are_422(client: TestClient, center: dict[str, str]) -> None:
    start = date(2026, 3, 1)
    cases = {
        "valid_to": pool_body(valid_from=start.isoformat(),
                              valid_to=(start - timedelta(days=1)).isoformat()),
        "valid_to ": pool_body(valid_from=start.isoformat(), valid_to="2028-03-01"),
        "price_ceiling": pool_body(price_ceiling="0.00"),
        "max_round_budget": pool_body(max_round_budget="-1"),
        "price_ceiling ": pool_body(price_ceiling="100.005"),
        "code": pool_body(code="Not A Slug"),
        "category": pool_body(category="goods"),
        "extra": {**pool_body(), "owner": "me"},
    }
    for field, body in cases.items():
        resp = await client.post("/v1/pools", json=body, headers=center)
        assert resp.status == 422, field
        problem = await resp.json()
        if field.strip() != "extra":
            assert problem["errors"][0]["loc"][0] == field.strip(), problem
    resp = await client.post("/v1/pools", json=cases["valid_to "], headers=center)
    assert "at most 2 years" in (await resp.json())["detail"]


async def test_list_filters_and_status(client: TestClient, center: dict[str, str],
                                       make_pool: Callable[..., Any]) -> None:
    jurisdiction = f"测试县-{uuid.uuid4().hex[:6]}"
    today = date.today()
    active = await make_pool(jurisdiction=jurisdiction, category="public_service")
    upcoming = await make_pool(jurisdiction=jurisdiction,
                               valid_from=(today + timedelta(days=10)).isoformat(),
                               valid_to=(today + timedelta(days=400)).isoformat())
    expired = await make_pool(jurisdiction=jurisdiction,
                              valid_from=(today - timedelta(days=400)).isoformat(),
                              valid_to=(today - timedelta(days=10)).isoformat())
    terminated = await make_pool(jurisdiction=jurisdiction)
    resp = await client.post(f"/v1/pools/{terminated['id']}/terminate",
                             json={"reason": "merged into another pool"}, headers=center)
    assert resp.status == 200
    expected = {active["id"]: "active", upcoming["id"]: "upcoming",
                expired["id"]: "expired", terminated["id"]: "terminated"}

    resp = await client.get("/v1/pools", params={"jurisdiction": jurisdiction})
    page = await resp.json()
    assert {p["id"]: p["status"] for p in page["items"]} == expected
    assert [p["code"] for p in page["items"]] == sorted(p["code"] for p in page["items"])
    for pool_id, status in expected.items():
        resp = await client.get("/v1/pools", params={"jurisdiction": jurisdiction,
                                                     "status": status})
        assert [p["id"] for p in (await resp.json())["items"]] == [pool_id]
        single = await (await client.get(f"/v1/pools/{pool_id}")).json()
        assert single["status"] == status
    resp = await client.get("/v1/pools", params={"jurisdiction": jurisdiction,
                                                 "category": "public_service"})
    assert [p["id"] for p in (await resp.json())["items"]] == [active["id"]]

    first = await (await client.get("/v1/pools", params={"jurisdiction": jurisdiction,
                                                         "limit": "3"})).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = await (await client.get("/v1/pools", params={
        "jurisdiction": jurisdiction, "limit": "3", "cursor": first["next_cursor"]})).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    for params in ({"status": "open"}, {"limit": "0"}, {"limit": "201"},
                   {"cursor": "!!"}, {"colour": "red"}):
        assert (await client.get("/v1/pools", params=params)).status == 422, params


async def test_patch_and_terminate(client: TestClient, center: dict[str, str], auth: Auth,
                                   make_pool: Callable[..., Any]) -> None:
    pool = await make_pool()
    url = f"/v1/pools/{pool['id']}"
    resp = await client.patch(url, json={"name": "会议及展览服务", "price_ceiling": "350000",
                                         "description": None}, headers=center)
    assert resp.status == 200
    changed = await resp.json()
    assert changed["name"] == "会议及展览服务" and changed["price_ceiling"] == "350000.00"
    assert changed["description"] is None
    assert changed["version"] == 2
    # The same values again change nothing.
    same = await (await client.patch(url, json={"name": "会议及展览服务"}, headers=center)).json()
    assert same["version"] == 2
    too_long = (date.fromisoformat(pool["valid_from"]) + timedelta(days=800)).isoformat()
    for body in ({"valid_to": too_long}, {"name": None}, {"code": "x"}, {},
                 {"max_round_budget": "0"}):
        assert (await client.patch(url, json=body, headers=center)).status == 422, body
    assert (await client.patch(url, json={"name": "x"},
                               headers=auth(Role.BUYER, org="O"))).status == 403

    resp = await client.post(f"{url}/terminate", json={"reason": "framework agreement ended"},
                             headers=center)
    terminated = await resp.json()
    assert terminated["status"] == "terminated" and terminated["version"] == 3
    assert terminated["termination_reason"] == "framework agreement ended"
    assert terminated["terminated_at"]
    assert (await client.post(f"{url}/terminate", json={"reason": "again"},
                              headers=center)).status == 409
    assert (await client.patch(url, json={"name": "y"}, headers=center)).status == 409
    assert (await client.post(f"{url}/terminate", json={}, headers=center)).status == 422


async def test_unknown_pool_is_404(client: TestClient, center: dict[str, str]) -> None:
    unknown = f"/v1/pools/{uuid.uuid4()}"
    assert (await client.get(unknown)).status == 404
    assert (await client.patch(unknown, json={"name": "x"}, headers=center)).status == 404
    assert (await client.post(f"{unknown}/terminate", json={"reason": "x"},
                              headers=center)).status == 404
    assert (await client.get(f"{unknown}/members", headers=center)).status == 404


async def test_openapi_names_every_route(client: TestClient) -> None:
    resp = await client.get("/openapi.json")
    doc = await resp.json()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert {"/v1/suppliers", "/v1/pools", "/v1/pools/{pool_id}/members/{supplier_id}/transitions",
            "/v1/audit"} <= set(doc["paths"])
    create = doc["paths"]["/v1/pools"]["post"]
    assert "procurement_center" in create["description"]
    assert {"201", "401", "403", "409", "422"} <= set(create["responses"])
