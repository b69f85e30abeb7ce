"""Dead-lettered messages: list them without consuming them, replay them to their queue.

`list_dead` takes the messages of a `.dlq` queue unacknowledged and gives them back
(the channel closes without acks, so the broker requeues them): nothing is consumed.
`replay` publishes each one, unchanged, to the queue it died in (through the default
exchange, so no other queue gets a copy), waits for the broker's confirm, and only then
acknowledges it in the `.dlq`. Replaying twice is harmless: consumers dedupe by event
id in their inbox.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from procure.errors import START_INFRA_HINT, ProcureError, Unreachable
from procure.settings import ProcureSettings

DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message as `procure dlq list` shows it."""

    message_id: str | None
    event_id: str | None
    type: str | None
    reason: str | None
    queue: str | None
    deaths: int
    died_at: datetime | None
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "event_id": self.event_id, "type": self.type,
                "reason": self.reason, "queue": self.queue, "deaths": self.deaths,
                "died_at": self.died_at.isoformat() if self.died_at else None,
                "size": self.size}


def dlq_name(queue: str) -> str:
    """`finance.awards` or `finance.awards.dlq` -> `finance.awards.dlq`."""
    return queue if queue.endswith(DLQ_SUFFIX) else queue + DLQ_SUFFIX


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    headers = dict(message.headers or {})
    deaths = headers.get("x-death")
    first: dict[str, Any] = {}
    count = 0
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        first = deaths[0]
        count = sum(_int(d.get("count", 1)) for d in deaths if isinstance(d, dict))
    event_id = event_type = None
    with contextlib.suppress(orjson.JSONDecodeError, TypeError, AttributeError):
        body = orjson.loads(message.body)
        if isinstance(body, dict):
            event_id, event_type = _text(body.get("id")), _text(body.get("type"))
    died = first.get("time")
    keys = first.get("routing-keys")
    # Dead-lettering replaced the routing key; the original one (the type) is in x-death.
    original = _text(keys[0]) if isinstance(keys, list) and keys else None
    return DeadLetter(
        message_id=message.message_id, event_id=event_id,
        type=event_type or message.type or original or message.routing_key,
        reason=_text(headers.get("x-first-death-reason") or first.get("reason")),
        queue=_text(headers.get("x-first-death-queue") or first.get("queue")),
        deaths=count, died_at=died if isinstance(died, datetime) else None,
        size=len(message.body))


async def _connect(settings: ProcureSettings) -> aio_pika.abc.AbstractConnection:
    try:
        return await aio_pika.connect(settings.amqp_url, timeout=5)
    except Exception as exc:  # aio-pika raises several unrelated types for "no broker"
        raise Unreachable("RabbitMQ", settings.masked_amqp_url,
                          f"{type(exc).__name__}: {exc}".rstrip(": "),
                          START_INFRA_HINT) from None


async def _take(channel: AbstractChannel, name: str,
                limit: int) -> list[AbstractIncomingMessage]:
    """Up to `limit` messages of `name`, unacknowledged (they come back on close)."""
    try:
        queue = await channel.declare_queue(name, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        raise ProcureError(f"there is no queue {name!r} on this broker") from None
    taken: list[AbstractIncomingMessage] = []
    while len(taken) < limit:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        taken.append(message)
    return taken


async def list_dead(settings: ProcureSettings, queue: str, limit: int = 100,
                    ) -> list[DeadLetter]:
    """The dead-lettered messages of `queue`'s `.dlq`, left where they are."""
    conn = await _connect(settings)
    try:
        channel = await conn.channel()
        messages = await _take(channel, dlq_name(queue), limit)
        found = [describe(m) for m in messages]
        # Closing the channel without acks hands every one of them back to the queue.
        await channel.close()
        return found
    finally:
        await conn.close()


@dataclass
class Replayed:
    moved: list[DeadLetter]
    kept: list[DeadLetter]


async def replay(settings: ProcureSettings, queue: str, limit: int = 100,
                 only: Iterable[str] = ()) -> Replayed:
    """Move dead-lettered messages back to the queue they died in (each confirmed by
    the broker before it leaves the `.dlq`). `only`: message or event ids to move."""
    wanted = {str(i) for i in only}
    conn = await _connect(settings)
    result = Replayed([], [])
    try:
        reader = await conn.channel()
        publisher = await conn.channel(publisher_confirms=True, on_return_raises=True)
        for message in await _take(reader, dlq_name(queue), limit):
            dead = describe(message)
            if wanted and not wanted & {dead.message_id, dead.event_id}:
                result.kept.append(dead)
                continue
            target = dead.queue or dlq_name(queue)[: -len(DLQ_SUFFIX)]
            headers = {k: v for k, v in (message.headers or {}).items()
                       if k != "x-delivery-count"}
            copy = aio_pika.Message(
                body=message.body, headers=headers, content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message.message_id, type=message.type,
                timestamp=message.timestamp, correlation_id=message.correlation_id)
            try:
                await publisher.default_exchange.publish(copy, routing_key=target,
                                                         mandatory=True, timeout=10)
            except (aio_pika.exceptions.DeliveryError, TimeoutError) as exc:
                raise ProcureError(f"the broker did not take the message back into "
                                   f"{target!r} ({type(exc).__name__}); it stays in "
                                   f"{dlq_name(queue)}") from None
            await message.ack()
            result.moved.append(dead)
        await reader.close()
        return result
    finally:
        await conn.close()
