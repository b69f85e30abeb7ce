"""The whole system as real processes — two pool-service and two bidding-service
processes on one database and broker — with the means to break it and to check it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import orjson

from shared.auth import mint_token
from tests.integration.bidding.conftest import credit_code
from tests.support import ServiceProcess

KINDS = ["enterprise", "social_organization", "public_institution"]
SIZES = ["large", "medium", "small", "micro"]


class System:
    def __init__(self, env: dict[str, str], tag: str, *, budget: bool = False) -> None:
        self.tag = tag
        self.budget = budget
        self.pool_schema = f"pool_{tag}"
        self.bidding_schema = f"bidding_{tag}"
        base = {**env, "LOG_LEVEL": "info", "OUTBOX_POLL_SECONDS": "0.2",
                "TIMER_MAX_SLEEP_SECONDS": "0.2", "BID_RATE_PER_SECOND": "1000",
                "BID_RATE_BURST": "1000", "SUSPENSION_SWEEP_SECONDS": "0.5"}
        self.finance_queue = f"{env['FINANCE_QUEUE']}.{tag}"
        # Its own exchange: events of the run's other services (a test app still closing
        # a round) never reach this system's queues.
        self.exchange = f"{env['EVENTS_EXCHANGE']}.{tag}"
        # Both services know every queue of the system (each declares all of them).
        base.update({"EVENTS_EXCHANGE": self.exchange,
                     "AWARDS_QUEUE": f"{env['AWARDS_QUEUE']}.{tag}",
                     "POOL_EVENTS_QUEUE": f"{env['POOL_EVENTS_QUEUE']}.{tag}",
                     "FINANCE_QUEUE": self.finance_queue,
                     "FINANCE_BUDGET_QUEUE": f"{env['FINANCE_BUDGET_QUEUE']}.{tag}",
                     "BUDGET_ANSWERS_QUEUE": f"{env['BUDGET_ANSWERS_QUEUE']}.{tag}"})
        self.pool_env = {**base, "DB_SCHEMA": self.pool_schema}
        self.bidding_env = {**base, "DB_SCHEMA": self.bidding_schema}
        if budget:  # finance.md: every round waits for its budget reservation
            self.bidding_env["BUDGET_RESERVATION"] = "required"
        self.secret = env["JWT_SECRET"]
        self.dsn = env["DATABASE_URL"]
        self.amqp_url = env["AMQP_URL"]
        self.pools: list[ServiceProcess] = []
        self.biddings: list[ServiceProcess] = []
        self.http: aiohttp.ClientSession | None = None
        self.center = self.headers("procurement_center", sub="center-faults")

    # ------------------------------------------------------------ processes

    async def start(self, n_pool: int = 2, n_bidding: int = 2) -> System:
        self.http = aiohttp.ClientSession()
        for env, module in ((self.pool_env, "pool_service"),
                            (self.bidding_env, "bidding_service")):
            proc = subprocess.run([*_python(), "-m", module, "migrate"],
                                  env=ServiceProcess(module, env).env, capture_output=True,
                                  timeout=60, check=False)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        self.pools = [ServiceProcess("pool_service", self.pool_env) for _ in range(n_pool)]
        self.biddings = [ServiceProcess("bidding_service", self.bidding_env)
                         for _ in range(n_bidding)]
        await asyncio.gather(*(p.start() for p in self.pools + self.biddings))
        return self

    async def stop(self) -> list[int]:
        codes = [p.terminate() for p in self.pools + self.biddings
                 if p.proc is not None and p.proc.poll() is None]
        if self.http is not None:
            await self.http.close()
        with contextlib.suppress(Exception):  # the broker may be the fault under test
            conn = await aio_pika.connect(self.amqp_url)
            try:
                await (await conn.channel()).exchange_delete(self.exchange)
            finally:
                await conn.close()
        return codes

    async def restart(self, proc: ServiceProcess) -> ServiceProcess:
        fresh = ServiceProcess(proc.module, {k: v for k, v in proc.env.items()
                                             if k not in ("HTTP_PORT",)}, port=proc.port)
        await fresh.start()
        group = self.pools if proc in self.pools else self.biddings
        group[group.index(proc)] = fresh
        return fresh

    async def all_ready(self, timeout: float = 60) -> None:
        await asyncio.gather(*(p.wait_ready(timeout=timeout) for p in self.pools + self.biddings))

    def headers(self, role: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(self.secret, role, **claims)}"}

    def supplier_headers(self, supplier_id: str) -> dict[str, str]:
        return self.headers("supplier", sub=f"s-{supplier_id}", supplier_id=supplier_id)

    # ------------------------------------------------------------ HTTP

    def pool_url(self) -> str:
        return random.choice(self.pools).url

    def bidding_url(self) -> str:
        return random.choice(self.biddings).url

    async def call(self, method: str, url: str, *, json: Any = None,
                   headers: dict[str, str] | None = None, expect: int | None = None,
                   ) -> tuple[int, Any]:
        assert self.http is not None
        async with self.http.request(method, url, json=json, headers=headers) as resp:
            body = await resp.json(content_type=None)
            if expect is not None:
                assert resp.status == expect, (method, url, resp.status, body)
            return resp.status, body

    async def make_pool(self, n_members: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        today = date.today()
        _, pool = await self.call("POST", f"{self.pool_url()}/v1/pools", headers=self.center,
                                  expect=201, json={
            "code": f"faults-{uuid.uuid4().hex[:10]}", "name": "出国考察学习",
            "category": "government_support", "jurisdiction": "温州市",
            "valid_from": str(today - timedelta(days=1)),
            "valid_to": str(today + timedelta(days=365)),
            "price_ceiling": "900000.00", "max_round_budget": "900000.00"})
        suppliers = []
        for i in range(n_members):
            _, s = await self.call("POST", f"{self.pool_url()}/v1/suppliers", headers=self.center,
                                   expect=201, json={
                "name": f"温州故障测试服务有限公司{i}-{uuid.uuid4().hex[:4]}",
                "credit_code": credit_code(), "kind": random.choice(KINDS),
                "size": random.choice(SIZES)})
            await self.call("POST", f"{self.pool_url()}/v1/pools/{pool['id']}/members",
                            headers=self.center, json={"supplier_id": s["id"]}, expect=201)
            suppliers.append(s)
        await self.wait_eligible(pool["id"], {s["id"] for s in suppliers})
        return pool, suppliers

    async def eligible(self, pool_id: str) -> set[str]:
        _, body = await self.call("GET", f"{self.bidding_url()}/v1/pools/{pool_id}/eligible",
                                  headers=self.center, expect=200)
        return set(body["supplier_ids"])

    async def wait_eligible(self, pool_id: str, want: set[str], timeout: float = 60) -> None:
        await wait_for(lambda: self._eligible_is(pool_id, want), timeout)

    async def _eligible_is(self, pool_id: str, want: set[str]) -> bool:
        try:
            return await self.eligible(pool_id) == want
        except (aiohttp.ClientError, AssertionError):
            return False

    async def launch(self, pool_id: str, seconds: float, **extra: Any) -> dict[str, Any]:
        body = {"pool_id": pool_id, "title": "考察团 fault drill", "buyer": {
            "org": "WZ-FIN", "name": "温州市财政局"}, "budget_line": "2026-FAULT-1",
            "ceiling_price": "500000.00", "min_bids": 2,
            "closes_at": (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(), **extra}
        _, rnd = await self.call("POST", f"{self.bidding_url()}/v1/rounds", headers=self.center,
                                 json=body, expect=201)
        return dict(rnd)

    async def round(self, round_id: str) -> dict[str, Any]:
        _, body = await self.call("GET", f"{self.bidding_url()}/v1/rounds/{round_id}",
                                  headers=self.center)
        return dict(body)

    async def wait_round(self, round_id: str, statuses: set[str], timeout: float = 60,
                         ) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def done() -> bool:
            try:
                seen.update(await self.round(round_id))
            except aiohttp.ClientError:
                return False
            return seen.get("status") in statuses

        await wait_for(done, timeout)
        return seen

    # ------------------------------------------------------------ database views

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def unsent(self) -> int:
        rows = await self.sql(
            f"SELECT (SELECT count(*) FROM {self.pool_schema}.outbox WHERE published_at IS NULL)"
            f" + (SELECT count(*) FROM {self.bidding_schema}.outbox"
            " WHERE published_at IS NULL) AS n")
        return int(rows[0]["n"])

    async def wait_outbox_empty(self, timeout: float = 60) -> None:
        async def empty() -> bool:
            try:
                return await self.unsent() == 0
            except (OSError, asyncpg.PostgresError):
                return False
        await wait_for(empty, timeout)

    async def finance_event_ids(self) -> list[str]:
        """Ids of events the bidding service sent that finance must receive."""
        rows = await self.sql(
            f"SELECT event_id FROM {self.bidding_schema}.outbox"
            " WHERE type LIKE 'award.%' OR type = 'round.failed'")
        return [str(r["event_id"]) for r in rows]

    async def kill_db_connections(self) -> int:
        rows = await self.sql(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
            " WHERE application_name IN ($1, $2) AND pid <> pg_backend_pid()",
            f"svc-{self.pool_schema}", f"svc-{self.bidding_schema}")
        return int(rows[0]["n"])

    # ------------------------------------------------------------ broker

    async def drain_finance(self, idle: float = 2.0) -> list[dict[str, Any]]:
        """Everything waiting in the finance queue (acked), as a finance system sees it."""
        conn = await aio_pika.connect(self.amqp_url)
        got: list[dict[str, Any]] = []
        try:
            channel = await conn.channel()
            queue = await channel.get_queue(self.finance_queue, ensure=True)
            quiet_since = asyncio.get_running_loop().time()
            while asyncio.get_running_loop().time() - quiet_since < idle:
                msg = await queue.get(no_ack=False, fail=False)
                if msg is None:
                    await asyncio.sleep(0.1)
                    continue
                got.append(orjson.loads(msg.body))
                await msg.ack()
                quiet_since = asyncio.get_running_loop().time()
        finally:
            await conn.close()
        return got

    async def dlq_bodies(self, queue: str) -> list[bytes]:
        conn = await aio_pika.connect(self.amqp_url)
        try:
            channel = await conn.channel()
            q = await channel.get_queue(f"{queue}.dlq", ensure=True)
            bodies = []
            while (msg := await q.get(no_ack=True, fail=False)) is not None:
                bodies.append(msg.body)
            return bodies
        finally:
            await conn.close()

    async def publish_raw(self, routing_key: str, body: bytes) -> None:
        conn = await aio_pika.connect(self.amqp_url)
        try:
            channel = await conn.channel()
            ex = await channel.get_exchange(self.exchange)
            await ex.publish(aio_pika.Message(body, content_type="application/json"),
                             routing_key=routing_key)
        finally:
            await conn.close()

    def logs(self) -> str:
        return "".join(p.log_text() for p in self.pools + self.biddings)


def _python() -> list[str]:
    import sys

    return [sys.executable]


async def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.2) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached in time")
        await asyncio.sleep(interval)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)
