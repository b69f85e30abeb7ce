"""The image running: one-shot jobs, both services ready and healthy, a round driven end
to end through the containers over HTTP and RabbitMQ, and a clean, quick stop.

The tests run in file order on one session-wide set of containers; the last two stop
them and look at what they ran on."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import subprocess
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import orjson
import pytest

from shared.auth import mint_token
from tests.integration.bidding.conftest import credit_code

from .conftest import APP_UID, Stack, report

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1500)]

SERVICES = ("pool_service", "bidding_service")


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not reached in {timeout:.0f}s"
        await asyncio.sleep(0.5)


def inspect(stack: Stack, name: str) -> dict[str, Any]:
    return dict(json.loads(stack.engine.run("inspect", name).stdout)[0])


@pytest.fixture(scope="session")
async def migrated(stack: Stack) -> dict[str, str]:
    """The one-shot jobs, in compose's order: both migrations (side by side, as compose
    runs them), then the seed."""
    started = time.monotonic()
    pool, bidding = await asyncio.gather(
        asyncio.to_thread(stack.docker_run, "pool_service", "migrate"),
        asyncio.to_thread(stack.docker_run, "bidding_service", "migrate"))
    outputs = {"pool_service migrate": pool, "bidding_service migrate": bidding,
               "pool_service seed": stack.docker_run("pool_service", "seed")}
    report(f"one-shot jobs (2 migrations, seed) took {time.monotonic() - started:.1f}s")
    return outputs


@pytest.fixture(scope="session")
async def running(stack: Stack, migrated: dict[str, str]) -> AsyncIterator[Stack]:
    names = {service: f"ctr-{stack.tag}-{service.split('_')[0]}" for service in SERVICES}
    await asyncio.gather(*(asyncio.to_thread(stack.docker_run, service, detach=True,
                                             name=name) for service, name in names.items()))
    stack.containers.update(names)
    try:
        async with aiohttp.ClientSession() as http:
            for service in SERVICES:
                async def ready(service: str = service) -> bool:
                    state = inspect(stack, stack.containers[service])["State"]
                    assert state["Running"], stack.logs(stack.containers[service])
                    try:
                        async with http.get(f"{stack.url(service)}/readyz") as resp:
                            return resp.status == 200
                    except aiohttp.ClientError:
                        return False

                await wait_for(ready, 90, f"{service} /readyz")
    except BaseException:
        for name in stack.containers.values():
            print(stack.logs(name))
        raise
    yield stack


async def test_one_shot_jobs_migrate_and_seed(stack: Stack, migrated: dict[str, str]) -> None:
    conn = await asyncpg.connect(stack.env["DATABASE_URL"])
    try:
        schemas = {r["nspname"] for r in await conn.fetch("SELECT nspname FROM pg_namespace")}
        assert {"pool", "bidding"} <= schemas
        pools = await conn.fetchval("SELECT count(*) FROM pool.pools")
    finally:
        await conn.close()
    assert pools > 0, "seed created no pool"


async def test_services_are_ready_healthy_non_root_read_only_on_the_host_network(
        running: Stack) -> None:
    for service, name in running.containers.items():
        async def healthy(name: str = name) -> bool:
            health = inspect(running, name)["State"].get("Health") or {}
            assert health.get("Status") != "unhealthy", health
            return bool(health.get("Status") == "healthy")

        # The image's own HEALTHCHECK (interval 15 s): the first probe decides.
        await wait_for(healthy, 90, f"{service} HEALTHCHECK healthy")
        details = inspect(running, name)
        host = details["HostConfig"]
        assert host["ReadonlyRootfs"] is True and host["NetworkMode"] == "host", host
        uid = running.engine.run("exec", name, "python", "-c",
                                 "import os; print(os.getuid(), os.getgid())").stdout.split()
        assert uid == [str(APP_UID), str(APP_UID)], uid
        probe = running.engine.run("exec", name, "sh", "-c", "touch /opt/venv/x", check=False)
        assert probe.returncode != 0, "root filesystem is writable"
        # Host network: the container's listeners are the host's, on loopback only.
        listeners = listening_addresses(running.ports[service]["HTTP_PORT"])
        assert listeners and all(a in ("127.0.0.1", "::1") for a in listeners), listeners
    drivers = running.engine.run("network", "ls", "--format", "{{.Driver}}").stdout.split()
    assert "bridge" not in drivers and set(drivers) <= {"host", "null"}, drivers


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the host's TCP sockets listening on `port` (/proc/net/tcp*)."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                raw = bytes.fromhex(address)
                if width == 8:
                    found.append(str(ipaddress.IPv4Address(raw[::-1])))
                else:  # four little-endian 32-bit words
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.append(str(ipaddress.IPv6Address(words)))
    return found


class Driver:
    """Drives a round through the containers, with tokens signed by their JWT secret."""

    def __init__(self, stack: Stack, http: aiohttp.ClientSession) -> None:
        self.stack, self.http = stack, http
        self.center = self.headers("procurement_center", sub="center-containers")

    def headers(self, role: str, **claims: Any) -> dict[str, str]:
        token = mint_token(self.stack.secrets["JWT_SECRET"], role, **claims)
        return {"Authorization": f"Bearer {token}"}

    def supplier(self, supplier_id: str) -> dict[str, str]:
        return self.headers("supplier", sub=f"s-{supplier_id}", supplier_id=supplier_id)

    async def call(self, method: str, url: str, *, expect: int, json: Any = None,
                   headers: dict[str, str] | None = None) -> Any:
        async with self.http.request(method, url, json=json,
                                     headers=headers or self.center) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == expect, (method, url, resp.status, body)
            return body


async def finance_events(amqp_url: str, round_id: str, timeout: float) -> list[dict[str, Any]]:
    """Events in the vhost's `finance.awards` queue (as finance reads it) for the round."""
    got: list[dict[str, Any]] = []
    conn = await aio_pika.connect(amqp_url)
    try:
        channel = await conn.channel()
        queue = await channel.get_queue("finance.awards", ensure=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = await queue.get(no_ack=False, fail=False)
            if msg is None:
                if any(e["type"] == "award.published" for e in got):
                    break
                await asyncio.sleep(0.3)
                continue
            event = orjson.loads(msg.body)
            await msg.ack()
            if round_id in orjson.dumps(event).decode():
                got.append(event)
    finally:
        await conn.close()
    return got


async def test_a_round_runs_end_to_end_through_the_containers(running: Stack) -> None:
    pool_url, bidding_url = running.url("pool_service"), running.url("bidding_service")
    async with aiohttp.ClientSession() as http:
        d = Driver(running, http)
        today = date.today()
        pool = await d.call("POST", f"{pool_url}/v1/pools", expect=201, json={
            "code": f"ctr-{uuid.uuid4().hex[:10]}", "name": "出国考察学习",
            "category": "government_support", "jurisdiction": "温州市",
            "valid_from": str(today - timedelta(days=1)),
            "valid_to": str(today + timedelta(days=365)),
            "price_ceiling": "900000.00", "max_round_budget": "900000.00"})
        suppliers = []
        for i in range(2):
            s = await d.call("POST", f"{pool_url}/v1/suppliers", expect=201, json={
                "name": f"温州容器测试服务有限公司{i}-{uuid.uuid4().hex[:4]}",
                "credit_code": credit_code(), "kind": "enterprise", "size": "small"})
            await d.call("POST", f"{pool_url}/v1/pools/{pool['id']}/members", expect=201,
                         json={"supplier_id": s["id"]})
            suppliers.append(s)
        want = {s["id"] for s in suppliers}

        async def eligible() -> bool:
            body = await d.call("GET", f"{bidding_url}/v1/pools/{pool['id']}/eligible",
                                expect=200)
            return set(body["supplier_ids"]) == want

        # Admissions reach the bidding container over RabbitMQ (pool.# events).
        await wait_for(eligible, 60, "admitted suppliers eligible in the bidding service")
        rnd = await d.call("POST", f"{bidding_url}/v1/rounds", expect=201, json={
            "pool_id": pool["id"], "title": "考察团 container drill",
            "buyer": {"org": "WZ-FIN", "name": "温州市财政局"},
            "budget_line": "2026-CTR-1", "ceiling_price": "500000.00", "min_bids": 2,
            "closes_at": (datetime.now(UTC) + timedelta(seconds=6)).isoformat()})
        for s, amount in zip(suppliers, ["41000.00", "40000.00"], strict=True):
            await d.call("POST", f"{bidding_url}/v1/rounds/{rnd['id']}/bids", expect=201,
                         json={"amount": amount}, headers=d.supplier(s["id"]))
        view: dict[str, Any] = {}

        async def awarded() -> bool:
            view.update(await d.call("GET", f"{bidding_url}/v1/rounds/{rnd['id']}",
                                     expect=200))
            assert view["status"] in ("open", "closed", "awarded"), view
            return bool(view["status"] == "awarded")

        await wait_for(awarded, 60, "round awarded after its close")
        assert view["award"]["supplier"]["id"] == suppliers[1]["id"]
    events = await finance_events(running.amqp_url, rnd["id"], timeout=30)
    published = [e for e in events if e["type"] == "award.published"]
    assert len(published) == 1, [e["type"] for e in events]
    assert published[0]["data"]["id"] == view["award"]["id"]


async def test_docker_stop_exits_zero_within_ten_seconds(running: Stack) -> None:
    """Last: stops the containers. `docker stop --time 10` sends SIGTERM and SIGKILL after
    10 s, so exit code 0 (not 137) means a graceful shutdown within the 10 s."""
    for service, name in running.containers.items():
        started = time.monotonic()
        running.engine.run("stop", "--time", "10", name, timeout=60)
        state = inspect(running, name)["State"]
        assert state["ExitCode"] == 0 and not state["OOMKilled"], (
            service, state, running.logs(name))
        report(f"{service}: docker stop took {time.monotonic() - started:.1f}s, exit 0")


def test_runtime_filesystem_has_no_build_only_files(running: Stack) -> None:
    """The host CA bundle (a build secret) and the build stage's leftovers are nowhere in
    what the container ran on, byte for byte (the stopped pool container, exported)."""
    image = running.image
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in image.build_only}
    sizes = {p.stat().st_size for p in image.build_only}
    engine = running.engine
    export = subprocess.Popen([engine.client, "export", running.containers["pool_service"]],
                              env=engine.env(), stdout=subprocess.PIPE)
    assert export.stdout is not None
    found, names = [], []
    with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
        for member in tar:
            names.append(member.name)
            if member.isfile() and member.size in sizes:
                data = tar.extractfile(member)
                assert data is not None
                if hashlib.sha256(data.read()).hexdigest() in digests:
                    found.append(member.name)
    # The reader stops at the archive's end marker; docker may still be writing the
    # trailing blocks: read them, or closing the pipe kills it with SIGPIPE.
    while export.stdout.read(1 << 16):
        pass
    export.stdout.close()
    assert export.wait(timeout=120) == 0
    assert not found, f"build-only files in the image: {found}"
    assert not [n for n in names if n.startswith(("run/secrets/", "src/"))
                or n.endswith("build-pip")], "build stage leftovers"
    assert any(n.startswith("opt/venv/lib/python3.11/site-packages/pool_service/")
               for n in names), "the project is not installed in the image"
