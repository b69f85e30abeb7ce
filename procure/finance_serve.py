"""`procure finance serve` and `procure finance pay`: the reference finance system.

It consumes the bidding service's budget requests from the durable quorum queue
`finance.budget` (`budget.*.requested`, declared with the same arguments as the
bidding service declares it), answers each from its ledger (`procure.ledger`) and
publishes the answer to the events exchange with publisher confirms: routing key =
the answer's type, `subject` and `partitionkey` = the round id, `sequence` counted per
round by this system's own source. Per request: ledger written durably, answer
published and confirmed, request acknowledged, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection

from procure.errors import START_INFRA_HINT, Unreachable
from procure.ledger import Answer, LedgerFile
from procure.settings import ProcureSettings
from shared.broker import BUDGET_REQUEST_KEYS, QueueSpec, declare_events_exchange, declare_queue

OnLine = Callable[[str], None]


async def _connect(settings: ProcureSettings) -> AbstractRobustConnection:
    try:
        return await aio_pika.connect_robust(settings.amqp_url, timeout=5)
    except Exception as exc:  # aio-pika raises several unrelated types for "no broker"
        raise Unreachable("RabbitMQ", settings.masked_amqp_url,
                          f"{type(exc).__name__}: {exc}".rstrip(": "),
                          START_INFRA_HINT) from None


async def publish(exchange: AbstractExchange, event: dict[str, Any]) -> None:
    """One answer, persistent, confirmed and `mandatory` (unroutable is an error)."""
    await exchange.publish(
        aio_pika.Message(orjson.dumps(event), message_id=str(event["id"]),
                         type=str(event["type"]), content_type="application/json",
                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
        routing_key=str(event["type"]), mandatory=True)


class FinanceSystem:
    """Answers the budget requests of `finance.budget` from a ledger file."""

    def __init__(self, settings: ProcureSettings, ledger: Path, on_line: OnLine,
                 on_warning: OnLine | None = None) -> None:
        self.settings = settings
        self.ledger = LedgerFile(ledger)
        self.answered = 0
        self._on_line = on_line
        self._on_warning = on_warning or (lambda _text: None)
        self._conn: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._queue: aio_pika.abc.AbstractQueue | None = None
        self.answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @property
    def queue_name(self) -> str:
        return self.settings.finance_budget_queue

    async def connect(self) -> None:
        self._conn = await _connect(self.settings)
        channel = await self._conn.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=1)
        self._exchange = await declare_events_exchange(channel, self.settings.events_exchange)
        self._queue = await declare_queue(channel, self._exchange,
                                          QueueSpec(self.queue_name, BUDGET_REQUEST_KEYS))

    async def run(self, max_seconds: float | None = None) -> int:
        """Answer requests until cancelled (or `max_seconds`); returns how many."""
        assert self._queue is not None, "connect() first"
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max_seconds), self._queue.iterator() as messages:
                async for message in messages:
                    await self._handle(message)
        return self.answered

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        assert self._exchange is not None
        try:
            request = orjson.loads(message.body)
            request["data"]["reservation_id"]
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
            self._on_warning(f"message {message.message_id} is not a budget request "
                             f"({type(exc).__name__}); dead-lettered to {self.queue_name}.dlq")
            await message.reject(requeue=False)
            return
        answer: Answer | None = None

        def decide() -> Answer | None:
            with self.ledger.edit() as ledger:
                return ledger.answer(request)

        answer = await asyncio.to_thread(decide)  # the ledger is durable when this returns
        if answer is None:
            self._on_warning(f"{request.get('type')} for unknown reservation "
                             f"{request['data'].get('reservation_id')}: acknowledged, "
                             "nothing to answer")
            await message.ack()
            return
        try:
            await publish(self._exchange, answer.event)
        except aio_pika.exceptions.DeliveryError:
            self._on_warning(f"{answer.event['type']} was not routable (is the bidding "
                             "service's answers queue declared?); the request comes again")
            await message.nack(requeue=True)
            await asyncio.sleep(1)
            return
        await message.ack()
        self.answered += 1
        self._on_line(f"{request['type']}  round {request['data'].get('round_id')}: "
                      f"{answer.summary}  -> {answer.event['type']}")
        self.answers.put_nowait(answer.event)

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


async def pay(settings: ProcureSettings, ledger: Path, award_id: str, amount: Decimal,
              ) -> Answer:
    """Report a payment on a committed award (`payment.recorded`)."""
    file = LedgerFile(ledger)

    def record() -> Answer:
        with file.edit() as state:
            return state.pay(award_id, amount)

    answer = await asyncio.to_thread(record)
    conn = await _connect(settings)
    try:
        channel = await conn.channel(publisher_confirms=True)
        exchange = await declare_events_exchange(channel, settings.events_exchange)
        await publish(exchange, answer.event)
    finally:
        await conn.close()
    return answer
