"""`python -m pool_service` as a real process: migrate, seed (twice), serve, SIGTERM."""

from __future__ import annotations

import asyncio
import sys
import uuid

import aiohttp
import asyncpg
import pytest

from pool_service.seed import CATALOGUE
from tests.support import ROOT, ServiceProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(service_env: dict[str, str]) -> dict[str, str]:
    """A schema and an awards queue of this test's own."""
    tag = uuid.uuid4().hex[:8]
    return {**service_env, "DB_SCHEMA": f"pool_e2e_{tag}",
            "AWARDS_QUEUE": f"{service_env['AWARDS_QUEUE']}.e2e-{tag}"}


async def run(env: dict[str, str], *args: str) -> int:
    process = ServiceProcess("pool_service", env)  # for its environment and log file
    process.log_path.parent.mkdir(exist_ok=True)
    with process.log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pool_service", *args, env=process.env, cwd=ROOT,
            stdout=log, stderr=log)
        return await proc.wait()


async def test_seed_twice_then_serve_and_stop_on_sigterm(env: dict[str, str]) -> None:
    assert await run(env, "migrate") == 0
    assert await run(env, "seed") == 0
    assert await run(env, "seed") == 0
    assert await run(env, "no-such-command") == 2

    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        schema = env["DB_SCHEMA"]
        codes = [r["code"] for r in await conn.fetch(f'SELECT code FROM "{schema}".pools')]
        created = await conn.fetchval(
            f"SELECT count(*) FROM \"{schema}\".outbox WHERE type = 'pool.created'")
    finally:
        await conn.close()
    assert len(codes) == len(set(codes)) == len(CATALOGUE) >= 24
    assert created == len(CATALOGUE)  # the second run inserted nothing, emitted nothing

    service = ServiceProcess("pool_service", env)
    await service.start()  # waits for /readyz
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(service.url + "/healthz") as resp:
                assert resp.status == 200
            async with http.get(service.url + "/readyz") as resp:
                assert resp.status == 200
                assert (await resp.json())["checks"] == {"database": True, "broker": True}
            async with http.get(service.url + "/v1/pools", params={"limit": "200"}) as resp:
                pools = {p["code"]: p for p in (await resp.json())["items"]}
            async with http.get(service.url + "/openapi.json") as resp:
                assert resp.status == 200
            # /metrics only on the operations listener (METRICS_PORT), 404 on the API.
            async with http.get(service.url + "/metrics") as resp:
                assert resp.status == 404
            async with http.get(service.metrics_url) as resp:
                assert resp.status == 200
                assert "outbox_backlog" in await resp.text()
    finally:
        returncode = service.terminate(timeout=10)
    assert returncode == 0, service.log_text()[-2000:]
    trips = pools["overseas-study-trips"]
    assert (trips["name"], trips["category"], trips["status"]) == \
        ("出国考察学习", "government_support", "active")
    assert {p["category"] for p in pools.values()} == {"public_service", "government_support"}
