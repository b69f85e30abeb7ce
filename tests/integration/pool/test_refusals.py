"""Refused requests: the right problem+json answer, and nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import jwt
import pytest
from aiohttp.test_utils import TestClient

from shared.auth import Role, mint_token
from tests.integration.pool.conftest import Auth, pool_body, supplier_body

TABLES = ("suppliers", "pools", "memberships", "membership_history", "ratings", "outbox",
          "audit_log")


async def counts(db: asyncpg.Pool) -> dict[str, int]:
    return {t: int(await db.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}


@pytest.fixture
async def unchanged(db: asyncpg.Pool) -> AsyncIterator[None]:
    """Fails the test if any table gained a row while it ran."""
    before = await counts(db)
    yield
    assert await counts(db) == before


async def test_no_or_bad_token_is_401(client: TestClient, service_env: dict[str, str],
                                      unchanged: None) -> None:
    body = supplier_body()
    secret = service_env["JWT_SECRET"]
    expired = mint_token(secret, Role.PROCUREMENT_CENTER, ttl_seconds=-60)
    forged = mint_token("not-the-secret-but-long-enough-for-hs256", Role.PROCUREMENT_CENTER)
    no_exp = jwt.encode({"sub": "c", "role": "procurement_center"}, secret, algorithm="HS256")
    no_role = mint_token(secret, Role.SUPPLIER)  # a supplier token without supplier_id
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer not.a.jwt"}, {"Authorization": f"Bearer {forged}"},
                    {"Authorization": f"Bearer {expired}"},
                    {"Authorization": f"Bearer {no_exp}"},
                    {"Authorization": f"Bearer {no_role}"}):
        resp = await client.post("/v1/suppliers", json=body, headers=headers)
        assert resp.status == 401, headers
        assert resp.content_type == "application/problem+json"
        assert "Bearer" in resp.headers["WWW-Authenticate"]
        problem = await resp.json()
        assert set(problem) >= {"type", "title", "status", "detail"}


async def test_wrong_role_is_403(client: TestClient, auth: Auth, unchanged: None) -> None:
    for headers in (auth(Role.BUYER, org="WZ"), auth(Role.FINANCE),
                    auth(Role.SUPPLIER, supplier_id="6f1c3a9e-08f4-4f0b-9d4e-1f3b2c5d7a90")):
        assert (await client.post("/v1/suppliers", json=supplier_body(),
                                  headers=headers)).status == 403
        assert (await client.post("/v1/pools", json=pool_body(), headers=headers)).status == 403
        assert (await client.get("/v1/audit", headers=headers)).status == 403


async def test_malformed_oversize_and_wrong_type_bodies(client: TestClient,
                                                        center: dict[str, str],
                                                        unchanged: None) -> None:
    json_headers = {**center, "Content-Type": "application/json"}
    for raw in (b"{", b'{"name": }', b"\xff\xfe", b'{"a": NaN}'):
        resp = await client.post("/v1/pools", data=raw, headers=json_headers)
        assert resp.status == 400, raw
        assert (await resp.json())["status"] == 400
    resp = await client.post("/v1/pools", data=b"[1, 2]", headers=json_headers)
    assert resp.status == 422

    big = pool_body(description="x" * (70 * 1024))
    resp = await client.post("/v1/pools", json=big, headers=center)
    assert resp.status == 413
    assert resp.content_type == "application/problem+json"

    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        resp = await client.post("/v1/pools", data=b'{"code": "x"}',
                                 headers={**center, "Content-Type": content_type})
        assert resp.status == 415, content_type


async def test_invalid_content_is_422_and_writes_nothing(
        client: TestClient, center: dict[str, str], make_pool: Callable[..., Any],
        make_supplier: Callable[..., Any], admit: Callable[..., Any],
        db: asyncpg.Pool) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    await admit(pool["id"], supplier["id"])
    before = await counts(db)
    moves = f"/v1/pools/{pool['id']}/members/{supplier['id']}/transitions"
    refused = [
        ("/v1/suppliers", supplier_body(credit_code="91330300MA2867XXXX"), 422),
        ("/v1/pools", pool_body(price_ceiling="10.123"), 422),
        ("/v1/pools", pool_body(valid_from="2026-05-01", valid_to="2026-04-01"), 422),
        ("/v1/pools", {**pool_body(), "unknown": True}, 422),
        ("/v1/pools", pool_body(code=pool["code"]), 409),
        (moves, {"to": "suspended", "reason": "x", "until": "2031-01-01T09:00:00"}, 422),
        (moves, {"to": "rejected", "reason": "x"}, 409),
        (moves, {"to": "removed", "reason": "x"}, 422),
        (moves, {"to": "suspended", "reason": "nul\u0000byte"}, 422),
        (moves, {"to": "suspended", "reason": "x", "until": "9999-12-31T23:00:00-10:00"}, 422),
        ("/v1/suppliers", supplier_body(name="bad\u0000name"), 422),
        ("/v1/pools", pool_body(valid_from="9999-01-01", valid_to="9999-06-01"), 422),
    ]
    for url, body, status in refused:
        resp = await client.post(url, json=body, headers=center)
        assert resp.status == status, (url, body, await resp.text())
        problem = await resp.json()
        assert problem["status"] == status
        assert "Traceback" not in str(problem) and "asyncpg" not in str(problem)
    assert await counts(db) == before
