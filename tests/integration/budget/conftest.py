"""The bidding service with BUDGET_RESERVATION=required, in-process over real HTTP, on an
exchange and queues of its own, and a finance system played by the test over the real
broker: it reads the requests from `finance.budget` and publishes answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient

from bidding_service.app import MIGRATIONS, build_app
from bidding_service.settings import BiddingSettings
from shared.events import new_event
from shared.migrations import migrate
from tests.integration.bidding.conftest import PoolFeed, settings_from
from tests.support import running_app

FINANCE_SOURCE = "/finance-tests"


def budget_names(run_id: str) -> dict[str, str]:
    prefix = f"test.{run_id}.budget"
    return {"events_exchange": f"{prefix}.events", "awards_queue": f"{prefix}.pool-awards",
            "pool_events_queue": f"{prefix}.pool-events", "finance_queue": f"{prefix}.awards",
            "finance_budget_queue": f"{prefix}.finance-budget",
            "budget_answers_queue": f"{prefix}.answers"}


@pytest.fixture(scope="session")
async def budget_settings(service_env: dict[str, str], run_id: str,
                          ) -> AsyncIterator[BiddingSettings]:
    settings = settings_from(service_env, db_schema="budget_loop",
                             budget_reservation="required", budget_reply_seconds=600,
                             **budget_names(run_id))
    await migrate(settings.database_url, settings.db_schema, MIGRATIONS, "bidding")
    yield settings
    conn = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await conn.channel()
        await channel.exchange_delete(settings.events_exchange)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def budget_app(budget_settings: BiddingSettings) -> AsyncIterator[TestClient]:
    async with running_app(build_app(budget_settings)) as client:
        for _ in range(100):
            async with client.get("/readyz") as resp:
                if resp.status == 200:
                    break
            await asyncio.sleep(0.1)
        yield client


@pytest.fixture(scope="session")
async def budget_feed(budget_app: TestClient, budget_settings: BiddingSettings,
                      auth: Callable[..., dict[str, str]]) -> AsyncIterator[PoolFeed]:
    feed = PoolFeed(budget_settings.amqp_url, budget_settings.events_exchange, budget_app,
                    auth("procurement_center", sub="center-budget"))
    await feed.start()
    yield feed
    await feed.close()


@pytest.fixture
async def budget_db(budget_settings: BiddingSettings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(budget_settings.database_url,
                                 server_settings={"search_path": budget_settings.db_schema})
    yield conn
    await conn.close()


class Finance:
    """The test's finance system: the requests as they arrive on `finance.budget` (each
    acknowledged), and answers published as a finance system would."""

    def __init__(self, settings: BiddingSettings) -> None:
        self.settings = settings
        self.requests: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._conn: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._sequence: dict[str, int] = {}

    async def start(self) -> None:
        self._conn = await aio_pika.connect(self.settings.amqp_url)
        self._channel = await self._conn.channel()
        self._exchange = await self._channel.declare_exchange(
            self.settings.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await self._channel.get_queue(self.settings.finance_budget_queue, ensure=True)
        await queue.consume(self._on_request)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def _on_request(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with self._arrived:
            self.requests.append(orjson.loads(message.body))
            self._arrived.notify_all()
        await message.ack()

    def of(self, type_: str, round_id: str) -> list[dict[str, Any]]:
        return [e for e in self.requests if e["type"] == type_
                and e["data"]["round_id"] == round_id]

    async def request(self, type_: str, round_id: str, timeout: float = 20) -> dict[str, Any]:
        """The (first) request of `type_` for the round, once it arrived."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(
                lambda: bool(self.of(type_, round_id))), timeout)
        return self.of(type_, round_id)[0]

    async def answer(self, type_: str, round_id: str, data: dict[str, Any], *,
                     event_id: uuid.UUID | None = None) -> dict[str, Any]:
        """Publish one answer: routing key = its type, subject and partitionkey = the
        round id, and finance's own sequence per round."""
        assert self._exchange is not None
        seq = self._sequence.get(round_id, 0) + 1
        self._sequence[round_id] = seq
        event = new_event(FINANCE_SOURCE, type_, round_id, data, partitionkey=round_id,
                          sequence=seq).to_json_dict()
        if event_id is not None:
            event["id"] = str(event_id)
        await self._exchange.publish(
            aio_pika.Message(orjson.dumps(event), message_id=event["id"], type=type_,
                             content_type="application/json",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=type_)
        return event

    async def dead_letters(self, timeout: float = 20) -> list[dict[str, Any]]:
        """Messages now in the answers queue's .dlq (taken off it)."""
        assert self._channel is not None
        dlq = await self._channel.get_queue(f"{self.settings.budget_answers_queue}.dlq",
                                            ensure=True)
        found: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while not found and asyncio.get_running_loop().time() < deadline:
            while (message := await dlq.get(fail=False)) is not None:
                found.append(orjson.loads(message.body))
                await message.ack()
            await asyncio.sleep(0.2)
        return found


@pytest.fixture(scope="session")
async def finance(budget_app: TestClient, budget_settings: BiddingSettings,
                  ) -> AsyncIterator[Finance]:
    system = Finance(budget_settings)
    await system.start()
    yield system
    await system.close()
