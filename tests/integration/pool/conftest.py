"""The pool service in-process against the session's throwaway database and broker."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from pool_service import domain
from pool_service.app import build_app
from pool_service.settings import PoolSettings
from shared.auth import Role
from shared.http import BROKER, DB
from shared.migrations import migrate
from tests.support import running_app

MIGRATIONS = Path(__file__).resolve().parents[3] / "pool_service" / "migrations"
Auth = Callable[..., dict[str, str]]


def settings_from(env: dict[str, str], **overrides: Any) -> PoolSettings:
    # Small pools: other services' apps share the server's connection limit in a session.
    values: dict[str, Any] = {"db_pool_min": 1, "db_pool_max": 8,
                              **{k.lower(): v for k, v in env.items()}}
    values.update(overrides)
    return PoolSettings(**values)


@pytest.fixture(scope="session")
async def pool_settings(service_env: dict[str, str]) -> PoolSettings:
    settings = settings_from(service_env, suspension_sweep_seconds=0.2)
    await migrate(settings.database_url, settings.db_schema, MIGRATIONS, "pool")
    return settings


@pytest.fixture(scope="session")
async def client(pool_settings: PoolSettings) -> AsyncIterator[TestClient]:
    async with running_app(build_app(pool_settings)) as client:
        # Its queue is declared once the broker connection is up: wait, so that events
        # published by tests are never dropped as unroutable.
        await client.app[BROKER].wait_ready()
        yield client


@pytest.fixture(scope="session")
def db(client: TestClient) -> asyncpg.Pool:
    return client.app[DB]


@pytest.fixture(scope="session")
def center(auth: Auth) -> dict[str, str]:
    return auth(Role.PROCUREMENT_CENTER)


def new_credit_code(prefix: str = "91330300") -> str:
    body = prefix + "".join(secrets.choice(domain.CREDIT_CODE_CHARSET) for _ in range(9))
    return body + domain.credit_code_check_char(body)


def pool_body(**overrides: Any) -> dict[str, Any]:
    start = date.today() - timedelta(days=30)
    body: dict[str, Any] = {
        "code": f"test-{uuid.uuid4().hex[:12]}",
        "name": "会议服务",
        "category": "government_support",
        "jurisdiction": "温州市",
        "description": "Conference services",
        "valid_from": start.isoformat(),
        "valid_to": (start + timedelta(days=700)).isoformat(),
        "price_ceiling": "300000.00",
        "max_round_budget": "1000000.00",
    }
    body.update(overrides)
    return body


def supplier_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"温州测试服务有限公司 {uuid.uuid4().hex[:6]}",
                            "credit_code": new_credit_code(), "kind": "enterprise",
                            "size": "small"}
    body.update(overrides)
    return body


@pytest.fixture
def make_pool(client: TestClient, center: dict[str, str]) -> Callable[..., Any]:
    async def make(**overrides: Any) -> dict[str, Any]:
        resp = await client.post("/v1/pools", json=pool_body(**overrides), headers=center)
        assert resp.status == 201, await resp.text()
        return dict(await resp.json())
    return make


@pytest.fixture
def make_supplier(client: TestClient, center: dict[str, str]) -> Callable[..., Any]:
    async def make(**overrides: Any) -> dict[str, Any]:
        resp = await client.post("/v1/suppliers", json=supplier_body(**overrides),
                                 headers=center)
        assert resp.status == 201, await resp.text()
        return dict(await resp.json())
    return make


@pytest.fixture
def admit(client: TestClient, center: dict[str, str]) -> Callable[..., Any]:
    async def do(pool_id: str, supplier_id: str) -> dict[str, Any]:
        resp = await client.post(f"/v1/pools/{pool_id}/members",
                                 json={"supplier_id": supplier_id}, headers=center)
        assert resp.status == 201, await resp.text()
        return dict(await resp.json())
    return do


@pytest.fixture
def move(client: TestClient, center: dict[str, str]) -> Callable[..., Any]:
    """`await move(pool_id, supplier_id, to, **fields)` -> (status, body)."""
    async def do(pool_id: str, supplier_id: str, to: str,
                 **fields: Any) -> tuple[int, dict[str, Any]]:
        resp = await client.post(f"/v1/pools/{pool_id}/members/{supplier_id}/transitions",
                                 json={"to": to, **fields}, headers=center)
        return resp.status, dict(await resp.json())
    return do
