"""Hostile input against both services: every case gets a clear 4xx problem+json,
no 5xx, nothing written and nothing leaked."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
from aiohttp.test_utils import TestClient

from bidding_service.app import MIGRATIONS as BIDDING_MIGRATIONS
from bidding_service.app import build_app as build_bidding
from bidding_service.settings import BiddingSettings
from pool_service.app import build_app as build_pool
from pool_service.settings import PoolSettings
from shared.migrations import migrate
from tests.support import running_app

POOL_MIGRATIONS = Path(__file__).resolve().parents[2] / "pool_service" / "migrations"
Auth = Callable[..., dict[str, str]]
SCHEMAS: dict[int, tuple[str, str]] = {}


def _values(env: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {**{k.lower(): v for k, v in env.items()}, **extra}


@pytest.fixture(scope="module")
async def apps(service_env: dict[str, str]) -> AsyncIterator[dict[str, TestClient]]:
    tag = uuid.uuid4().hex[:6]
    queues = {k.lower(): f"{service_env[k]}.h{tag}"
              for k in ("AWARDS_QUEUE", "POOL_EVENTS_QUEUE", "FINANCE_QUEUE",
                        "FINANCE_BUDGET_QUEUE", "BUDGET_ANSWERS_QUEUE")}
    pool = PoolSettings(**_values(service_env, db_schema=f"pool_h{tag}", **queues))
    bidding = BiddingSettings(**_values(
        service_env, db_schema=f"bidding_h{tag}", bid_rate_per_second=2, bid_rate_burst=3,
        **queues))
    await migrate(pool.database_url, pool.db_schema, POOL_MIGRATIONS, "pool")
    await migrate(bidding.database_url, bidding.db_schema, BIDDING_MIGRATIONS, "bidding")
    async with running_app(build_pool(pool, run_background=False)) as p, \
            running_app(build_bidding(bidding, run_background=False)) as b:
        SCHEMAS[id(p)] = (pool.database_url, pool.db_schema)
        SCHEMAS[id(b)] = (bidding.database_url, bidding.db_schema)
        yield {"pool": p, "bidding": b}


async def _row_count(client: TestClient) -> int:
    """Every row of every table of the service's schema: a refusal must not change it."""
    dsn, schema = SCHEMAS[id(client)]
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1"
            " AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'", schema)
        total = 0
        for t in tables:
            total += await conn.fetchval(f'SELECT count(*) FROM "{schema}"."{t["table_name"]}"')
        return int(total)
    finally:
        await conn.close()


CENTER: dict[str, Any] = {"role": "procurement_center"}
WRITES: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "pool": [("POST", "/v1/suppliers", CENTER), ("POST", "/v1/pools", CENTER),
             ("POST", f"/v1/pools/{uuid.uuid4()}/members", CENTER),
             ("PATCH", f"/v1/pools/{uuid.uuid4()}", CENTER)],
    "bidding": [("POST", "/v1/rounds", CENTER),
                ("POST", f"/v1/rounds/{uuid.uuid4()}/bids",
                 {"role": "supplier", "supplier_id": "fresh"}),
                ("POST", f"/v1/rounds/{uuid.uuid4()}/cancel", CENTER),
                ("POST", f"/v1/awards/{uuid.uuid4()}/decline",
                 {"role": "supplier", "supplier_id": "fresh"})],
}

BODIES: list[tuple[str, bytes, dict[str, str], set[int]]] = [
    ("oversize", b'{"name": "' + b"x" * 70_000 + b'"}', {}, {413}),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, {}, {400, 413}),
    ("nested object", b'{"a":' * 5_000 + b"1" + b"}" * 5_000, {}, {400}),
    ("not json", b"{'single': 'quotes'}", {}, {400}),
    ("truncated", b'{"name": "abc', {}, {400}),
    ("array", b"[1, 2, 3]", {}, {422}),
    ("string", b'"hello"', {}, {422}),
    ("NaN", b'{"amount": NaN}', {}, {400}),
    ("invalid utf-8", b'{"name": "\xff\xfe"}', {}, {400}),
    ("NUL", b'{"name": "a\\u0000b", "title": "a\\u0000b"}', {}, {422}),
    ("lone surrogate", b'{"name": "\\ud800", "title": "\\udfff"}', {}, {422}),
    ("NUL key", b'{"a\\u0000": 1}', {}, {422}),
    ("text/plain", b'{"name": "x"}', {"Content-Type": "text/plain"}, {415}),
    ("form", b"name=x", {"Content-Type": "application/x-www-form-urlencoded"}, {415}),
    ("empty", b"", {"Content-Type": "application/json"}, {400}),
    ("duplicate key", b'{"amount": "100.00", "amount": "1.00"}', {}, {400}),
    ("duplicate key, same value", b'{"name": "x", "name": "x"}', {}, {400}),
    ("nested duplicate key",
     b'{"contact": {"email": "a@b.cn", "email": "c@d.cn"}, "buyer": {"org": "A", "org": "B"},'
     b' "extension": {"window_seconds": 60, "window_seconds": 61}}', {}, {400}),
    ("duplicate key deep in a list", b'{"items": [{"a": 1}, {"b": [{"c": 1, "c": 2}]}]}', {},
     {400}),
    ("sql in fields", b'{"name": "x\'); DROP TABLE suppliers; --", "code": "a\' OR 1=1 --",'
     b' "credit_code": "\' OR \'1\'=\'1", "kind": "enterprise", "size": "small"}', {}, {422}),
]


@pytest.mark.parametrize("service", ["pool", "bidding"])
async def test_hostile_bodies_are_refused_cleanly(apps: dict[str, TestClient], auth: Auth,
                                                  service: str) -> None:
    client = apps[service]
    before = await _row_count(client)
    for method, path, who in WRITES[service]:
        for name, body, extra, statuses in BODIES:
            claims = dict(who)
            if claims.get("supplier_id") == "fresh":  # a caller of its own: no rate limit
                claims["supplier_id"] = str(uuid.uuid4())
            h = {"Content-Type": "application/json", **auth(**claims), **extra}
            async with client.request(method, path, data=body, headers=h) as resp:
                text = await resp.text()
                assert resp.status in statuses, (service, path, name, resp.status, text[:300])
                assert resp.content_type == "application/problem+json", (name, text[:200])
                problem = await resp.json()
                assert {"type", "title", "status", "detail"} <= set(problem)
                for leak in ("Traceback", "asyncpg", "SELECT", "psycopg", "File \""):
                    assert leak not in text
    assert await _row_count(client) == before


@pytest.mark.parametrize("service", ["pool", "bidding"])
async def test_forged_and_wrong_tokens(apps: dict[str, TestClient], service_env: dict[str, str],
                                       service: str) -> None:
    client = apps[service]
    secret = service_env["JWT_SECRET"]
    now = int(time.time())
    tokens = {
        "alg none": jwt.encode({"sub": "x", "role": "procurement_center", "exp": now + 60},
                               None, algorithm="none"),
        "wrong secret": jwt.encode({"sub": "x", "role": "procurement_center", "exp": now + 60},
                                   "another-secret-another-secret-xx", algorithm="HS256"),
        "expired": jwt.encode({"sub": "x", "role": "procurement_center", "exp": now - 5},
                              secret, algorithm="HS256"),
        "no exp": jwt.encode({"sub": "x", "role": "procurement_center"}, secret,
                             algorithm="HS256"),
        "unknown role": jwt.encode({"sub": "x", "role": "root", "exp": now + 60}, secret,
                                   algorithm="HS256"),
        "HS512": jwt.encode({"sub": "x", "role": "procurement_center", "exp": now + 60},
                            secret + secret, algorithm="HS512"),
        "garbage": "eyJhbGciOiJIUzI1NiJ9.e30.xyz",
    }
    path, body = ("/v1/suppliers", {}) if service == "pool" else ("/v1/rounds", {})
    before = await _row_count(client)
    for name, token in tokens.items():
        for header in (f"Bearer {token}", f"Basic {token}", token):
            async with client.post(path, json=body, headers={"Authorization": header}) as resp:
                assert resp.status == 401, (name, header[:10], await resp.text())
                assert resp.content_type == "application/problem+json"
    for role, claims in (("supplier", {"supplier_id": str(uuid.uuid4())}),
                         ("buyer", {"org": "X"}), ("finance", {})):
        token = jwt.encode({"sub": "x", "role": role, "exp": now + 60, **claims}, secret,
                           algorithm="HS256")
        async with client.post(path, json=body,
                               headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 403, (role, await resp.text())
    assert await _row_count(client) == before


async def test_injection_in_queries_and_headers(apps: dict[str, TestClient], auth: Auth) -> None:
    center = auth("procurement_center")
    pool, bidding = apps["pool"], apps["bidding"]
    for client, path, params in (
        (pool, "/v1/suppliers", {"credit_code": "' OR '1'='1"}),
        (pool, "/v1/pools", {"category": "x' OR 1=1 --"}),
        (pool, "/v1/pools", {"limit": "1; DROP TABLE pools"}),
        (pool, "/v1/pools", {"cursor": "'; --"}),
        (bidding, "/v1/rounds", {"status": "open' OR '1'='1"}),
        (bidding, "/v1/awards", {"pool_id": "1 OR 1=1"}),
        (bidding, "/v1/awards", {"cursor": "eyJ4Ijoi"}),
        (bidding, "/v1/awards", {"limit": "100000"}),
        (bidding, "/v1/awards", {"buyer_org": "a\x00b"}),
    ):
        async with client.get(path, params=params, headers=center) as resp:
            assert resp.status in (200, 422), (path, params, resp.status)
            if resp.status == 200:
                assert (await resp.json())["items"] == []
            else:
                assert resp.content_type == "application/problem+json"
    for client in (pool, bidding):
        async with client.get(f"/v1/pools/{'%27%20OR%201=1'}/eligible", headers=center) as resp:
            assert resp.status in (404, 405)
        async with client.get("/v1/awards", headers={"X-Request-ID": "evil value; a=b"}) as r:
            assert r.headers["X-Request-ID"] != "evil value; a=b"
    async with bidding.post(f"/v1/rounds/{uuid.uuid4()}/bids", json={"amount": "1.00"},
                            headers={**auth("supplier", supplier_id=str(uuid.uuid4())),
                                     "Idempotency-Key": "k" * 201}) as resp:
        assert resp.status in (404, 422)


async def test_bid_submission_is_rate_limited_per_caller(apps: dict[str, TestClient],
                                                         auth: Auth) -> None:
    bidding = apps["bidding"]
    me = auth("supplier", supplier_id=str(uuid.uuid4()))
    other = auth("supplier", supplier_id=str(uuid.uuid4()))
    statuses = []
    for _ in range(6):
        async with bidding.post(f"/v1/rounds/{uuid.uuid4()}/bids", json={"amount": "1.00"},
                                headers=me) as resp:
            statuses.append(resp.status)
            if resp.status == 429:
                assert int(resp.headers["Retry-After"]) >= 1
                assert resp.content_type == "application/problem+json"
    assert statuses[:3] == [404, 404, 404] and 429 in statuses[3:]
    async with bidding.post(f"/v1/rounds/{uuid.uuid4()}/bids", json={"amount": "1.00"},
                            headers=other) as resp:
        assert resp.status == 404  # another caller has its own budget


# Where each service takes money, and a body that is valid apart from that field's text
# (pydantic reports every field, so the money field's own error is what is asserted).
MONEY_FIELDS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    ("pool", "POST", "/v1/pools", "price_ceiling", CENTER),
    ("pool", "POST", "/v1/pools", "max_round_budget", CENTER),
    ("pool", "PATCH", f"/v1/pools/{uuid.UUID(int=1)}", "price_ceiling", CENTER),
    ("pool", "PATCH", f"/v1/pools/{uuid.UUID(int=1)}", "max_round_budget", CENTER),
    ("bidding", "POST", "/v1/rounds", "ceiling_price", CENTER),
    ("bidding", "POST", "/v1/rounds", "min_decrement", CENTER),
    ("bidding", "POST", f"/v1/rounds/{uuid.UUID(int=1)}/bids", "amount",
     {"role": "supplier", "supplier_id": "fresh"}),
]
HOSTILE_MONEY: list[bytes] = [
    b'"1E+2"', b'"1e2"', '"１００.００"'.encode(), b'"1_000.00"', b'" 100.00 "', b'"+100.00"',
    b'"-100.00"', b'"0100.00"', b'"100."', b'".5"', b'"100.001"', b'"100,00"',
    # JSON numbers, judged by their text:
    b"1E+2", b"1e2", b"-5", b"-0", b"100.001", b"1.5e1", b"0e0",
]


@pytest.mark.parametrize("service,method,path,field,who", MONEY_FIELDS)
async def test_money_text_must_be_plain_ascii_decimal(
        apps: dict[str, TestClient], auth: Auth, service: str, method: str, path: str,
        field: str, who: dict[str, Any]) -> None:
    client = apps[service]
    before = await _row_count(client)

    async def field_errors(value: bytes) -> list[Any]:
        claims = dict(who)
        if claims.get("supplier_id") == "fresh":  # a caller of its own: no rate limit
            claims["supplier_id"] = str(uuid.uuid4())
        body = b'{"' + field.encode() + b'": ' + value + b"}"
        h = {"Content-Type": "application/json", **auth(**claims)}
        async with client.request(method, path, data=body, headers=h) as resp:
            problem = await resp.json(content_type=None)
            if resp.status != 422:
                return [resp.status]
            assert resp.content_type == "application/problem+json"
            return [e for e in problem.get("errors", []) if e["loc"][:1] == [field]]

    # The control: plain text and a plain number pass this field's validation.
    assert await field_errors(b'"100.00"') in ([], [404])
    assert await field_errors(b"100.5") in ([], [404])
    for value in HOSTILE_MONEY:
        errors = await field_errors(value)
        assert len(errors) == 1 and "money" in errors[0]["msg"], (field, value, errors)
    assert await _row_count(client) == before
