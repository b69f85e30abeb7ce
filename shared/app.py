"""Builds a service's aiohttp application: resources in cleanup contexts, one place."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from shared.auth import TokenVerifier
from shared.broker import Broker, QueueSpec, system_queues
from shared.db import create_pool
from shared.http import (
    API,
    BROKER,
    DB,
    MAX_BODY_BYTES,
    METRICS,
    SETTINGS,
    VERIFIER,
    Api,
    install_platform_routes,
    observe,
)
from shared.inbox import Handler, InboxConsumer
from shared.metrics import Metrics
from shared.operations import operations_listener
from shared.outbox import OutboxRelay
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

Worker = Callable[[web.Application], Awaitable[None]]


@dataclass
class ServiceSpec:
    """What makes one service: its API, queues, event handlers and background workers."""

    name: str
    api: Api
    queues: Sequence[QueueSpec] = ()
    consumers: Sequence[tuple[str, Handler]] = ()
    # Sources whose events the consumers apply in `sequence` order per partition.
    ordered_sources: Sequence[str] = ()
    workers: Sequence[Worker] = ()
    extra_metrics: Callable[[web.Application], Awaitable[None]] | None = None
    startup: Sequence[Callable[[web.Application], Awaitable[None]]] = field(default_factory=list)


def build_service_app(settings: ServiceSettings, spec: ServiceSpec, *,
                      run_background: bool = True) -> web.Application:
    app = web.Application(middlewares=[observe], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[API] = spec.api
    app[VERIFIER] = TokenVerifier(settings.jwt_secret.get_secret_value(),
                                  settings.jwt_jwks_url, settings.jwt_audience,
                                  settings.jwt_issuer)
    spec.api.install(app)
    install_platform_routes(app, spec.api)

    async def database(app: web.Application) -> AsyncIterator[None]:
        app[DB] = await create_pool(settings.database_url, settings.db_schema,
                                    min_size=settings.db_pool_min,
                                    max_size=settings.db_pool_max,
                                    jurisdiction_tz=settings.jurisdiction_tz)
        yield
        try:
            # A connection stuck in a dead query must not hold the exit past SIGTERM's budget.
            await asyncio.wait_for(app[DB].close(), 3)
        except TimeoutError:
            app[DB].terminate()

    async def broker(app: web.Application) -> AsyncIterator[None]:
        queues = [*system_queues(settings.awards_queue, settings.pool_events_queue,
                                 settings.finance_queue), *spec.queues]
        app[BROKER] = Broker(settings.amqp_url, settings.events_exchange, queues)
        await app[BROKER].start()
        yield
        try:
            await asyncio.wait_for(app[BROKER].close(), 3)
        except TimeoutError:
            log.warning("broker_close_timeout")

    async def background(app: web.Application) -> AsyncIterator[None]:
        for hook in spec.startup:
            await hook(app)
        tasks: list[asyncio.Task[None]] = []
        if run_background:
            relay = OutboxRelay(app[DB], settings.database_url, settings.db_schema,
                                app[BROKER], app[METRICS],
                                batch_size=settings.outbox_batch_size,
                                poll_seconds=settings.outbox_poll_seconds)
            tasks.append(asyncio.create_task(_forever("outbox-relay", relay.run)))
            for queue, handler in spec.consumers:
                consumer = InboxConsumer(app[BROKER], app[DB], queue, handler, app[METRICS],
                                         ordered_sources=spec.ordered_sources,
                                         hold_seconds=settings.event_hold_seconds)
                tasks.append(asyncio.create_task(_forever(f"consumer-{queue}", consumer.run)))
            for worker in spec.workers:
                tasks.append(asyncio.create_task(
                    _forever(worker.__name__, lambda w=worker: w(app))))  # type: ignore[misc]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # The operations listener last: it starts once everything /metrics reads exists,
    # and closes first.
    app.cleanup_ctx.extend([database, broker, background,
                            operations_listener(settings, spec.extra_metrics)])
    return app


async def _forever(name: str, run: Callable[[], Awaitable[None]]) -> None:
    """Keep a background loop alive: log and restart it if it ever fails."""
    while True:
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background_task_failed", task=name)
            await asyncio.sleep(1)
