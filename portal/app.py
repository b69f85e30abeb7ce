"""build_app(settings): the portal wired together (templates, the services, the feed)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import jinja2
import structlog
from aiohttp import web

from portal import pages
from portal.client import Services
from portal.keys import FEED, SERVICES, SETTINGS, TEMPLATES
from portal.live import LiveFeed
from portal.settings import PortalSettings

log = structlog.get_logger(__name__)
HERE = Path(__file__).parent
SECURITY_HEADERS = {
    # Only our own stylesheet and script; the live updates come from our own origin.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@web.middleware
async def observe(request: web.Request, handler: pages.Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    started = time.perf_counter()
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        response = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        response.headers["X-Request-Id"] = request_id
        route = request.match_info.route.resource
        log.info("http_request", method=request.method, status=response.status,
                 route=route.canonical if route is not None else "unmatched",
                 ms=round((time.perf_counter() - started) * 1000, 2))
        return response


def build_app(settings: PortalSettings) -> web.Application:
    app = web.Application(middlewares=[observe])
    app[SETTINGS] = settings
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
        auto_reload=False, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined)
    pages.install(app)
    app.router.add_static("/static", HERE / "static", append_version=False)

    async def services(app: web.Application) -> AsyncIterator[None]:
        app[SERVICES] = Services(settings.pool_service_url, settings.bidding_service_url,
                                 settings.request_timeout_seconds)
        await app[SERVICES].start()
        yield
        await app[SERVICES].close()

    async def feed(app: web.Application) -> AsyncIterator[None]:
        app[FEED] = LiveFeed(settings.amqp_url, settings.events_exchange)

        async def connect() -> None:
            while True:  # the broker may come up after the portal
                try:
                    await app[FEED].start()
                    log.info("portal_feed_connected")
                    return
                except Exception as exc:  # any failure to connect: try again
                    log.warning("portal_feed_unavailable", error=repr(exc))
                    await asyncio.sleep(1)

        task = asyncio.create_task(connect())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app[FEED].close()

    app.cleanup_ctx.extend([services, feed])
    return app
