"""Fixtures against the real PostgreSQL and RabbitMQ: a throwaway database per test
session and broker names of its own, so runs never collide."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from shared.auth import Role, mint_token

ADMIN_DSN = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
JWT_SECRET = "test-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
async def database_url(run_id: str) -> AsyncIterator[str]:
    name = f"test_{run_id}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = ADMIN_DSN.rpartition("/")
    yield f"{base}/{name}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def broker_names(run_id: str) -> dict[str, str]:
    """Exchange and queue names private to this test session."""
    return {
        "EVENTS_EXCHANGE": f"test.{run_id}.events",
        "AWARDS_QUEUE": f"test.{run_id}.pool-service.awards",
        "POOL_EVENTS_QUEUE": f"test.{run_id}.bidding-service.pool-events",
        "FINANCE_QUEUE": f"test.{run_id}.finance.awards",
        "FINANCE_BUDGET_QUEUE": f"test.{run_id}.finance.budget",
        "BUDGET_ANSWERS_QUEUE": f"test.{run_id}.bidding-service.budget-answers",
    }


@pytest.fixture(scope="session", autouse=True)
async def _broker_cleanup(broker_names: dict[str, str], run_id: str) -> AsyncIterator[None]:
    """Delete this session's queues and exchange afterwards: quorum queues left behind by
    every run would pile up in the shared broker."""
    yield
    import subprocess

    import aio_pika

    listed = subprocess.run(["rabbitmqctl", "list_queues", "-q", "--no-table-headers", "name"],
                            capture_output=True, text=True, timeout=60, check=False)
    names = [n.strip() for n in listed.stdout.splitlines()
             if n.strip().startswith(f"test.{run_id}.")]
    conn = await aio_pika.connect(AMQP_URL)
    try:
        channel = await conn.channel()
        for name in names:
            await channel.queue_delete(name)
        await channel.exchange_delete(broker_names["EVENTS_EXCHANGE"])
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def service_env(database_url: str, broker_names: dict[str, str]) -> dict[str, str]:
    """Environment for settings objects and service processes of this session."""
    return {
        "DATABASE_URL": database_url,
        "AMQP_URL": AMQP_URL,
        "JWT_SECRET": JWT_SECRET,
        "DEV_MODE": "true",
        # In-process apps bind their /metrics listener to any free port (ServiceProcess
        # picks a concrete one for processes).
        "METRICS_PORT": "0",
        "LOG_LEVEL": "warning",
        "OUTBOX_POLL_SECONDS": "0.2",
        "ROUND_MIN_DURATION_SECONDS": "1",
        # PostgreSQL allows 100 connections here; many processes share them in tests.
        "DB_POOL_MIN": "1",
        "DB_POOL_MAX": "8",
        **broker_names,
    }


@pytest.fixture(scope="session")
def token() -> Callable[..., str]:
    """`token(role, supplier_id=..., org=...)` -> a valid bearer token for this session."""

    def make(role: Role | str, **claims: Any) -> str:
        return mint_token(JWT_SECRET, role, **claims)

    return make


@pytest.fixture(scope="session")
def auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """`auth(role, ...)` -> headers with a bearer token."""

    def make(role: Role | str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(role, **claims)}"}

    return make


@pytest.fixture
async def amqp_channel() -> AsyncIterator[Any]:
    import aio_pika

    conn = await aio_pika.connect(AMQP_URL)
    channel = await conn.channel()
    yield channel
    await conn.close()
