"""The bidding service in-process over real HTTP, fed pool events over real RabbitMQ."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aio_pika
import orjson
import pytest
from aiohttp.test_utils import TestClient

from bidding_service.app import MIGRATIONS, build_app
from bidding_service.settings import BiddingSettings
from shared.events import new_event
from shared.migrations import migrate
from tests.support import running_app

CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def credit_code() -> str:
    """A random Unified Social Credit Code with a correct check digit."""
    # Registration department and type, a 6-digit division code, then the org code.
    body = "91330300" + "".join(random.choice(CODE_CHARS) for _ in range(9))
    total = sum(CODE_CHARS.index(c) * w for c, w in zip(body, WEIGHTS, strict=True))
    return body + CODE_CHARS[(31 - total % 31) % 31]


def settings_from(env: dict[str, str], **overrides: Any) -> BiddingSettings:
    values: dict[str, Any] = {k.lower(): v for k, v in env.items()}
    values.update(timer_max_sleep_seconds=0.2, bid_rate_per_second=1000, bid_rate_burst=1000,
                  timer_retry_base_seconds=0.2, timer_retry_max_seconds=1.0)
    values.update(overrides)
    return BiddingSettings(**values)


@pytest.fixture(scope="session")
async def bidding_settings(service_env: dict[str, str]) -> BiddingSettings:
    settings = settings_from(service_env)
    await migrate(settings.database_url, settings.db_schema, MIGRATIONS, "bidding")
    return settings


@pytest.fixture(scope="session")
async def bidding(bidding_settings: BiddingSettings) -> AsyncIterator[TestClient]:
    async with running_app(build_app(bidding_settings)) as client:
        for _ in range(100):
            async with client.get("/readyz") as resp:
                if resp.status == 200:
                    break
            await asyncio.sleep(0.1)
        yield client


@dataclass
class Member:
    id: uuid.UUID
    name: str
    kind: str = "enterprise"
    size: str = "large"
    credit_code: str = field(default_factory=credit_code)
    version: int = 0

    def summary(self) -> dict[str, Any]:
        return {"id": str(self.id), "name": self.name, "credit_code": self.credit_code,
                "kind": self.kind, "size": self.size}


@dataclass
class PoolFixture:
    id: uuid.UUID
    code: str
    members: list[Member]
    price_ceiling: str = "1000000.00"
    max_round_budget: str = "500000.00"


class PoolFeed:
    """Publishes pool.* events the way the pool service does, and waits for them to land."""

    def __init__(self, amqp_url: str, exchange: str, client: TestClient,
                 center: dict[str, str]) -> None:
        self.amqp_url = amqp_url
        self.exchange_name = exchange
        self.client = client
        self.center = center
        self._conn: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def start(self) -> None:
        self._conn = await aio_pika.connect(self.amqp_url)
        channel = await self._conn.channel()
        self._exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def publish(self, type_: str, subject: object, data: dict[str, Any],
                      event_id: uuid.UUID | None = None, sequence: int | None = None,
                      ) -> dict[str, Any]:
        """One event as the pool service sends it; without `sequence` as a v1 producer
        would (applied as it comes), with it in its partition's order."""
        assert self._exchange is not None
        event = new_event("/pool-service", type_, subject, data,
                          sequence=sequence).to_json_dict()
        if event_id is not None:
            event["id"] = str(event_id)
        await self._exchange.publish(
            aio_pika.Message(orjson.dumps(event), message_id=event["id"],
                             content_type="application/json",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=type_)
        return event

    async def pool(self, members: list[Member], *, price_ceiling: str = "1000000.00",
                   max_round_budget: str = "500000.00", wait: bool = True) -> PoolFixture:
        pool_id = uuid.uuid4()
        code = f"pool-{pool_id.hex[:8]}"
        today = datetime.now(UTC).date()
        await self.publish("pool.created", pool_id, {
            "id": str(pool_id), "code": code, "name": f"Pool {code}",
            "category": "public_service", "jurisdiction": "city", "status": "active",
            "valid_from": str(today - timedelta(days=1)),
            "valid_to": str(today + timedelta(days=365)), "price_ceiling": price_ceiling,
            "max_round_budget": max_round_budget, "version": 1})
        fixture = PoolFixture(pool_id, code, members, price_ceiling, max_round_budget)
        for m in members:
            await self.member(fixture, m, "admitted", wait=False)
        if wait:
            await self.wait_eligible(pool_id, {m.id for m in members})
        return fixture

    async def member(self, pool: PoolFixture, m: Member, status: str, *,
                     version: int | None = None, wait: bool = True,
                     reason: str | None = None, event: str | None = None,
                     sequence: int | None = None) -> None:
        m.version = version if version is not None else m.version + 1
        await self.publish(f"pool.member.{event or _event_word(status)}", pool.id, {
            "pool_id": str(pool.id), "pool_code": pool.code, "supplier": m.summary(),
            "status": status, "reason": reason, "ground": None, "until": None,
            "at": datetime.now(UTC).isoformat(), "version": m.version}, sequence=sequence)
        if wait:
            expected = status == "admitted"
            await self.wait_until(lambda ids: (str(m.id) in ids) == expected, pool.id)

    async def eligible_ids(self, pool_id: uuid.UUID) -> list[str]:
        async with self.client.get(f"/v1/pools/{pool_id}/eligible", headers=self.center) as r:
            assert r.status == 200
            return list((await r.json())["supplier_ids"])

    async def wait_until(self, predicate: Callable[[list[str]], bool], pool_id: uuid.UUID,
                         timeout: float = 15) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if predicate(await self.eligible_ids(pool_id)):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the bidding service did not apply the pool events in time")

    async def wait_eligible(self, pool_id: uuid.UUID, ids: set[uuid.UUID]) -> None:
        want = {str(i) for i in ids}
        await self.wait_until(lambda got: want <= set(got), pool_id)


def _event_word(status: str) -> str:
    return {"admitted": "admitted", "suspended": "suspended", "removed": "removed",
            "applied": "applied", "rejected": "rejected"}.get(status, status)


@pytest.fixture(scope="session")
async def feed(bidding: TestClient, bidding_settings: BiddingSettings,
               auth: Callable[..., dict[str, str]]) -> AsyncIterator[PoolFeed]:
    feed = PoolFeed(bidding_settings.amqp_url, bidding_settings.events_exchange, bidding,
                    auth("procurement_center", sub="center-tests"))
    await feed.start()
    yield feed
    await feed.close()


def members(n: int, **kw: Any) -> list[Member]:
    return [Member(uuid.uuid4(), f"Supplier {i}", **kw) for i in range(n)]


def round_body(pool: PoolFixture, *, seconds: float = 3, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "pool_id": str(pool.id), "title": "Study trip to Hamburg port authority",
        "description": "10 people, 7 days", "buyer": {"org": "WZ-COMMERCE", "name": "温州市商务局"},
        "budget_line": "2026-CG-0101", "ceiling_price": "100000.00",
        "closes_at": (now + timedelta(seconds=seconds)).isoformat(), "min_bids": 2,
    }
    body.update(overrides)
    return body


TODAY: date = datetime.now(UTC).date()
