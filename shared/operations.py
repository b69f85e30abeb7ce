"""The operations listener: /metrics on METRICS_PORT, never on the API port (trust.md 1).

Prometheus scrapes it; the network keeps it to the monitoring namespace. /healthz and
/readyz stay on the API port, where the probes and load balancers look.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.http import DB, METRICS
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

# The port the operations listener is bound to (the real one when METRICS_PORT=0).
OPERATIONS_PORT = web.AppKey("operations_port", int)

ExtraMetrics = Callable[[web.Application], Awaitable[None]]


def metrics_handler(app: web.Application, extra_metrics: ExtraMetrics | None = None,
                    ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET /metrics: the service's registry, with the outbox gauges read at scrape time."""

    async def metrics(_request: web.Request) -> web.Response:
        m = app[METRICS]
        try:
            async with asyncio.timeout(1):
                row = await app[DB].fetchrow(
                    "SELECT count(*) AS n, extract(epoch FROM clock_timestamp() - min(created_at))"
                    " AS age FROM outbox WHERE published_at IS NULL")
            if row is not None:
                m.outbox_backlog.set(row["n"])
                m.outbox_oldest_age.set(float(row["age"] or 0))
            if extra_metrics is not None:
                async with asyncio.timeout(1):
                    await extra_metrics(app)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pass  # scrape what we have; /readyz reports the database
        return web.Response(body=generate_latest(m.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


def operations_listener(settings: ServiceSettings, extra_metrics: ExtraMetrics | None = None,
                        ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context serving /metrics of `app` on its own port while `app` runs."""

    async def operations(app: web.Application) -> AsyncIterator[None]:
        ops = web.Application()
        ops.router.add_get("/metrics", metrics_handler(app, extra_metrics))
        # A scrape in flight must not hold the exit past SIGTERM's 10 s budget.
        runner = web.AppRunner(ops, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, settings.http_host, settings.operations_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        app[OPERATIONS_PORT] = int(runner.addresses[0][1])
        log.info("operations_listening", host=settings.http_host, port=app[OPERATIONS_PORT])
        yield
        await runner.cleanup()

    return operations
