"""The portal's own queue on the events exchange, fanned out to the live pages.

One exclusive, auto-delete queue per process, bound only to what moves a live page:
an extension (the new close) and the ends of a round. Nothing else of an event is
passed on: never a count, a bidder or an amount."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

import aio_pika
import orjson
import structlog

log = structlog.get_logger(__name__)

BINDINGS = ("round.extended", "round.closed", "round.failed", "round.cancelled",
            "award.published")
ENDINGS = {"round.closed": "closed", "round.failed": "failed",
           "round.cancelled": "cancelled", "award.published": "result"}


def page_event(type_: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """What a live page is told of an event (a whitelist of fields), or None."""
    if type_ == "round.extended":
        return {"event": "extended", "closes_at": data.get("closes_at"),
                "extensions_used": data.get("extensions_used")}
    if type_ in ENDINGS:
        return {"event": "ended", "outcome": ENDINGS[type_]}
    return None


class LiveFeed:
    """Subscribers per round id; each gets the page events of its round in order."""

    def __init__(self, amqp_url: str, exchange: str) -> None:
        self._url = amqp_url
        self._exchange = exchange
        self._conn: aio_pika.abc.AbstractRobustConnection | None = None
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = \
            defaultdict(set)

    @property
    def connected(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.is_closed and conn.connected.is_set()

    async def start(self) -> None:
        self._conn = await aio_pika.connect_robust(self._url)
        channel = await self._conn.channel()
        exchange = await channel.declare_exchange(self._exchange, aio_pika.ExchangeType.TOPIC,
                                                  durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in BINDINGS:
            await queue.bind(exchange, key)
        await queue.consume(self._on_message, no_ack=True)

    async def close(self) -> None:
        for queues in self._subscribers.values():
            for q in queues:
                q.put_nowait(None)  # ends the stream
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 3)

    def subscribe(self, round_id: str) -> asyncio.Queue[dict[str, Any] | None]:
        q: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=100)
        self._subscribers[round_id].add(q)
        return q

    def unsubscribe(self, round_id: str, q: asyncio.Queue[dict[str, Any] | None]) -> None:
        queues = self._subscribers.get(round_id)
        if queues is not None:
            queues.discard(q)
            if not queues:
                del self._subscribers[round_id]

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            event = orjson.loads(message.body)
            data = event.get("data") or {}
            round_id = str(data.get("round_id") or "")
            shown = page_event(str(event.get("type") or message.routing_key), data)
        except (orjson.JSONDecodeError, AttributeError):
            log.warning("portal_event_unreadable")
            return
        if shown is None or not round_id:
            return
        for q in list(self._subscribers.get(round_id, ())):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(shown)
