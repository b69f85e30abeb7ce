"""RabbitMQ: one robust connection per process and the topology (queues with explicit
arguments and their `.dlq`). The outbox relay is in shared.outbox, the idempotent
inbox consumer in shared.inbox; both services use exactly these pieces."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
import asyncpg
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.connection import make_url

log = structlog.get_logger(__name__)

# Errors that say "try again later", not "this message is bad" or "this request is bad".
# InternalClientError: a pooled connection the server had just terminated (its FATAL
# notice arrived before the socket closed); the statement never ran.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.AdminShutdownError,
    asyncpg.QueryCanceledError,
    TimeoutError,
)

DLX_NAME = "procurement.dlx"


# Every queue argument is explicit, so RabbitMQ 3.10 and 4.x behave alike: 4.x gives
# quorum queues a delivery limit of 20 by default, 3.10 none; at-least-once
# dead-lettering needs `reject-publish` overflow. A queue that already exists with other
# arguments refuses the redeclaration (PRECONDITION_FAILED): see docs/reliability.md.
DEFAULT_DELIVERY_LIMIT = 20
# A dead-letter queue is read (and put back) by `procure dlq list`; every such return
# counts as a delivery in a quorum queue. With no dead-letter exchange of its own a
# message over the limit would be dropped, so the limit is set far out of reach.
DLQ_DELIVERY_LIMIT = 1_000_000


@dataclass(frozen=True)
class QueueSpec:
    """A durable quorum queue bound to routing keys, with its own `.dlq`."""

    name: str
    routing_keys: Sequence[str]
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


def queue_arguments(spec: QueueSpec) -> dict[str, Any]:
    """The consumer queue's arguments: poison messages (rejected, or redelivered more
    than `delivery_limit` times) go to `<name>.dlq`, at least once."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": spec.delivery_limit,
        "x-dead-letter-exchange": DLX_NAME,
        "x-dead-letter-routing-key": spec.dlq,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def dlq_arguments() -> dict[str, Any]:
    """The `.dlq` queue's arguments: no dead-lettering of its own, nothing dropped."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DLQ_DELIVERY_LIMIT,
        "x-overflow": "reject-publish",
    }


async def declare_events_exchange(channel: AbstractChannel, name: str) -> AbstractExchange:
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_queue(channel: AbstractChannel, exchange: AbstractExchange,
                        spec: QueueSpec) -> aio_pika.abc.AbstractQueue:
    """Declare `spec` with a dead-letter queue `<name>.dlq` for poison messages."""
    dlx = await channel.declare_exchange(DLX_NAME, aio_pika.ExchangeType.DIRECT, durable=True)
    dlq = await channel.declare_queue(spec.dlq, durable=True, arguments=dlq_arguments())
    await dlq.bind(dlx, routing_key=spec.dlq)
    queue = await channel.declare_queue(spec.name, durable=True,
                                        arguments=queue_arguments(spec))
    for key in spec.routing_keys:
        await queue.bind(exchange, routing_key=key)
    return queue


# What the finance queue receives: every award event, failed and cancelled rounds.
FINANCE_KEYS = ("award.*", "round.failed", "round.cancelled")
# finance.md, "Queues": the bidding service's requests to finance (`finance.budget`)
# and finance's answers, consumed on the bidding service's own queue.
BUDGET_REQUEST_KEYS = ("budget.*.requested",)
BUDGET_ANSWER_KEYS = ("budget.reserved", "budget.refused", "budget.committed",
                      "budget.released", "payment.recorded")
# The pool service's queue gets every event of a round's partition (round.*, award.*,
# budget.*), not only the award.* it acts on: so it sees each `sequence` of the bidding
# service's round partitions and can tell a missing event from one it does not need.
AWARDS_KEYS = ("award.*", "round.*", "budget.*")


def system_queues(awards: str, pool_events: str, finance: str) -> list[QueueSpec]:
    """Every consumer queue of the system with its bindings (declared by every service)."""
    return [
        QueueSpec(awards, AWARDS_KEYS),  # the pool service: award history, refusals
        QueueSpec(pool_events, ["pool.#"]),  # the bidding service: its eligibility copy
        QueueSpec(finance, FINANCE_KEYS),  # finance systems
    ]


class Broker:
    """The process's RabbitMQ connection; connects in the background and keeps reconnecting.

    The service serves HTTP while the broker is down (bids are taken, events wait in
    the outbox); `/readyz` reports the broker as unreachable meanwhile.
    """

    def __init__(self, url: str, exchange: str, queues: Sequence[QueueSpec] = ()) -> None:
        self._url = url
        self.exchange_name = exchange
        self._queues = list(queues)
        self.connection: AbstractRobustConnection | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending: AbstractRobustConnection | None = None

    @property
    def is_connected(self) -> bool:
        conn = self.connection
        return conn is not None and not conn.is_closed and conn.connected.is_set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="broker-connect")

    async def _connect(self) -> None:
        while True:
            # Built by hand (not connect_robust) so close() can reach a connection that is
            # still trying: its own reconnect task would otherwise outlive SIGTERM.
            conn = aio_pika.RobustConnection(make_url(self._url, reconnect_interval=1,
                                                      fail_fast=False))
            self._pending = conn
            try:
                await conn.connect(timeout=5)
                channel = await conn.channel()
                exchange = await declare_events_exchange(channel, self.exchange_name)
                for spec in self._queues:
                    await declare_queue(channel, exchange, spec)
                await channel.close()
                self.connection = conn
                self._pending = None
                self._ready.set()
                log.info("broker_connected")
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep trying: the broker may start later
                if isinstance(exc, aiormq.exceptions.ChannelPreconditionFailed):
                    # A queue declared earlier with other arguments (an older version):
                    # the operator must recreate it (docs/reliability.md, "Upgrading").
                    log.error("broker_queue_arguments_differ", detail=str(exc)[:300])
                log.warning("broker_connect_failed", error=type(exc).__name__)
                self._pending = None
                with contextlib.suppress(Exception):
                    await conn.close()
                await asyncio.sleep(1)

    async def wait_ready(self) -> AbstractRobustConnection:
        await self._ready.wait()
        assert self.connection is not None
        return self.connection

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for conn in (self._pending, self.connection):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)
