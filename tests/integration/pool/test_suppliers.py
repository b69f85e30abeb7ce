"""Suppliers over HTTP: registration, look-up, who may see what."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from shared.auth import Role
from tests.integration.pool.conftest import Auth, new_credit_code, supplier_body


async def test_register_and_read_a_supplier(client: TestClient, center: dict[str, str],
                                            auth: Auth) -> None:
    body = supplier_body(kind="social_organization", size="micro",
                         contact={"person": "张敏", "phone": "0577-88990000"})
    body["credit_code"] = body["credit_code"].lower()
    resp = await client.post("/v1/suppliers", json=body, headers=center)
    assert resp.status == 201
    supplier = await resp.json()
    location = resp.headers["Location"]
    assert location == f"/v1/suppliers/{supplier['id']}"
    assert supplier["credit_code"] == body["credit_code"].upper()
    assert supplier["kind"] == "social_organization"
    assert supplier["contact"] == {"person": "张敏", "phone": "0577-88990000",
                                   "email": None, "address": None}

    for headers in (center, auth(Role.BUYER, org="WZ-COMMERCE"),
                    auth(Role.SUPPLIER, supplier_id=supplier["id"])):
        resp = await client.get(location, headers=headers)
        assert resp.status == 200
        assert await resp.json() == supplier


async def test_well_known_code_registers_once(client: TestClient, center: dict[str, str],
                                              db: Any) -> None:
    code = "91350100M000100Y43"
    first = await client.post("/v1/suppliers", json=supplier_body(credit_code=code),
                              headers=center)
    assert first.status in (201, 409)  # 409 when an earlier run of this session made it
    again = await client.post("/v1/suppliers", json=supplier_body(credit_code=code),
                              headers=center)
    assert again.status == 409
    problem = await again.json()
    assert again.content_type == "application/problem+json"
    assert problem["status"] == 409 and "already registered" in problem["detail"]
    assert await db.fetchval("SELECT count(*) FROM suppliers WHERE credit_code = $1", code) == 1


async def test_look_up_by_credit_code(client: TestClient, center: dict[str, str], auth: Auth,
                                      make_supplier: Callable[..., Any]) -> None:
    supplier = await make_supplier()
    for headers in (center, auth(Role.BUYER, org="WZ-FIN")):
        resp = await client.get("/v1/suppliers", params={"credit_code": supplier["credit_code"]},
                                headers=headers)
        assert resp.status == 200
        assert await resp.json() == {"items": [supplier], "next_cursor": None}
    resp = await client.get("/v1/suppliers", params={"credit_code": new_credit_code()},
                            headers=center)
    assert await resp.json() == {"items": [], "next_cursor": None}


async def test_supplier_list_pages(client: TestClient, center: dict[str, str],
                                   make_supplier: Callable[..., Any]) -> None:
    for _ in range(3):
        await make_supplier()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        resp = await client.get("/v1/suppliers", params=params, headers=center)
        assert resp.status == 200
        page = await resp.json()
        assert len(page["items"]) <= 2
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 3


async def test_who_may_see_a_supplier(client: TestClient, auth: Auth,
                                      make_supplier: Callable[..., Any]) -> None:
    supplier = await make_supplier()
    url = f"/v1/suppliers/{supplier['id']}"
    other = auth(Role.SUPPLIER, supplier_id=uuid.uuid4())
    assert (await client.get(url, headers=other)).status == 403
    assert (await client.get(url, headers=auth(Role.FINANCE))).status == 403
    assert (await client.get(url)).status == 401
    supplier_lookup = await client.get("/v1/suppliers", headers=other)
    assert supplier_lookup.status == 403
    assert (await client.post("/v1/suppliers", json=supplier_body(),
                              headers=auth(Role.BUYER, org="X"))).status == 403
    assert (await client.post("/v1/suppliers", json=supplier_body(), headers=other)).status == 403


async def test_unknown_supplier_is_404(client: TestClient, center: dict[str, str]) -> None:
    resp = await client.get(f"/v1/suppliers/{uuid.uuid4()}", headers=center)
    assert resp.status == 404
    assert (await resp.json())["status"] == 404
    resp = await client.get("/v1/suppliers/not-a-uuid", headers=center)
    assert resp.status == 404


async def test_invalid_supplier_content_is_422(client: TestClient,
                                               center: dict[str, str]) -> None:
    cases = [
        supplier_body(credit_code="91330300MA2867XXXX"),   # bad check character
        supplier_body(credit_code="91350100M000100Y44"),
        supplier_body(kind="company"),
        supplier_body(size="huge"),
        supplier_body(name=""),
        supplier_body(contact={"fax": "1"}),
        {**supplier_body(), "vat_number": "x"},
    ]
    for body in cases:
        resp = await client.post("/v1/suppliers", json=body, headers=center)
        assert resp.status == 422, body
        problem = await resp.json()
        assert problem["errors"] and all("loc" in e and "msg" in e for e in problem["errors"])
    resp = await client.post("/v1/suppliers",
                             json=supplier_body(credit_code="91330300MA2867XXXX"),
                             headers=center)
    problem = await resp.json()
    assert problem["errors"][0]["loc"] == ["credit_code"]
    assert "check character" in problem["errors"][0]["msg"]
