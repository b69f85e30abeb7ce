"""Getting state into the services quickly: pool.* events the way the pool service
publishes them (so the bidding service builds its eligibility copy itself), COPY loads
for bulk setup, and a consumer of the finance queue that timestamps arrivals."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import orjson

from shared.events import new_event

CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
KINDS = ("enterprise", "enterprise", "enterprise", "social_organization", "public_institution")
SIZES = ("large", "medium", "small", "micro")


def credit_code(rng: random.Random) -> str:
    """A Unified Social Credit Code with a correct check digit (GB 32100-2015)."""
    body = "91" + "".join(rng.choice(CODE_CHARS) for _ in range(15))
    total = sum(CODE_CHARS.index(c) * w for c, w in zip(body, WEIGHTS, strict=True))
    return body + CODE_CHARS[(31 - total % 31) % 31]


@dataclass
class Member:
    id: uuid.UUID
    name: str
    credit_code: str
    kind: str
    size: str

    def summary(self) -> dict[str, Any]:
        return {"id": str(self.id), "name": self.name, "credit_code": self.credit_code,
                "kind": self.kind, "size": self.size}


def make_members(n: int, seed: int = 7) -> list[Member]:
    rng = random.Random(seed)
    return [Member(uuid.UUID(int=rng.getrandbits(128), version=4), f"供应商 {i:06d} 有限公司",
                   credit_code(rng), rng.choice(KINDS), rng.choice(SIZES))
            for i in range(n)]


@dataclass
class Pool:
    id: uuid.UUID
    code: str
    members: list[Member] = field(default_factory=list)


class PoolFeed:
    """Publishes pool.created / pool.member.admitted events with publisher confirms."""

    def __init__(self, amqp_url: str, exchange: str) -> None:
        self.amqp_url = amqp_url
        self.exchange_name = exchange
        self._conn: aio_pika.abc.AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def start(self) -> None:
        # Robust: the shared broker may be restarted by others' tests mid-run.
        self._conn = await aio_pika.connect_robust(self.amqp_url)
        channel = await self._conn.channel(publisher_confirms=True)
        self._exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def publish(self, type_: str, subject: object, data: dict[str, Any]) -> None:
        assert self._exchange is not None
        event = new_event("/pool-service", type_, subject, data).to_json_dict()
        await self._exchange.publish(
            aio_pika.Message(orjson.dumps(event), message_id=event["id"], type=type_,
                             content_type="application/json",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=type_)

    async def pool(self, code: str | None = None, pool_id: uuid.UUID | None = None) -> Pool:
        pool_id = pool_id or uuid.uuid4()
        code = code or f"bench-{pool_id.hex[:8]}"
        today = datetime.now(UTC).date()
        await self.publish("pool.created", pool_id, {
            "id": str(pool_id), "code": code, "name": f"压测预选库 {code}",
            "category": "public_service", "jurisdiction": "city", "status": "active",
            "valid_from": str(today - timedelta(days=1)),
            "valid_to": str(today + timedelta(days=365)), "price_ceiling": "1000000.00",
            "max_round_budget": "1000000.00", "version": 1})
        return Pool(pool_id, code)

    async def admit(self, pool: Pool, members: list[Member], chunk: int = 500) -> None:
        at = datetime.now(UTC).isoformat()
        for i in range(0, len(members), chunk):
            await asyncio.gather(*(
                self.publish("pool.member.admitted", pool.id, {
                    "pool_id": str(pool.id), "pool_code": pool.code, "supplier": m.summary(),
                    "status": "admitted", "reason": None, "ground": None, "until": None,
                    "at": at, "version": 1})
                for m in members[i:i + chunk]))
        pool.members.extend(members)


async def wait_eligible(http: aiohttp.ClientSession, base: str, headers: dict[str, str],
                        pool_id: uuid.UUID, count: int, within_s: float = 300) -> float:
    """Poll the bidding service's eligibility copy until it holds `count` members."""
    started = time.perf_counter()
    while time.perf_counter() - started < within_s:
        async with http.get(f"{base}/v1/pools/{pool_id}/eligible", headers=headers) as r:
            if r.status == 200:
                data = await r.json(loads=orjson.loads)
                if len(data["supplier_ids"]) >= count:
                    return time.perf_counter() - started
        await asyncio.sleep(0.1)
    raise TimeoutError(f"eligibility of pool {pool_id} did not reach {count}")


async def copy_eligibility(conn: asyncpg.Connection, pool: Pool, members: list[Member]) -> None:
    """Bulk setup of the bidding service's eligibility copy (pool row must exist)."""
    now = datetime.now(UTC)
    await conn.copy_records_to_table(
        "eligibility", schema_name="bidding",
        records=[(pool.id, m.id, "admitted", m.name, m.credit_code, m.kind, m.size, 1, now)
                 for m in members],
        columns=["pool_id", "supplier_id", "status", "name", "credit_code", "kind", "size",
                 "version", "changed_at"])
    pool.members.extend(members)


class FinanceTap:
    """Consumes the finance queue (as a finance system would) and timestamps arrivals."""

    def __init__(self, amqp_url: str, queue: str) -> None:
        self.amqp_url = amqp_url
        self.queue_name = queue
        self.arrivals: dict[tuple[str, str], float] = {}  # (type, round_id) -> epoch seconds
        # (type, round_id) -> ids of the events received: more than one id is a second
        # event, the same id twice a redelivery (at-least-once after a crash).
        self.event_ids: dict[tuple[str, str], list[str]] = {}
        self.reconnects = 0
        self._conn: aio_pika.abc.AbstractRobustConnection | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        self._conn = await aio_pika.connect_robust(self.amqp_url)
        self._conn.reconnect_callbacks.add(self._reconnected)
        channel = await self._conn.channel()
        await channel.set_qos(prefetch_count=64)
        queue = await channel.declare_queue(self.queue_name, passive=True)
        await queue.consume(self._on_message)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    def _reconnected(self, *_args: object) -> None:
        # The shared broker was restarted (by someone else's tests): worth a note.
        self.reconnects += 1

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        arrived = time.time()
        try:
            event = orjson.loads(message.body)
            data = event.get("data", {})
            key = (event["type"], str(data.get("round_id")))
            self.arrivals.setdefault(key, arrived)
            self.event_ids.setdefault(key, []).append(str(event.get("id")))
        finally:
            await message.ack()
        self._changed.set()

    async def wait_for(self, type_: str, round_id: uuid.UUID, within_s: float,
                       ) -> float | None:
        key = (type_, str(round_id))
        deadline = time.monotonic() + within_s
        while key not in self.arrivals:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return None
        return self.arrivals[key]
