"""`build_app(settings)`: the one place where the pool service is wired together."""

from __future__ import annotations

import asyncio

from aiohttp import web

from pool_service import ocds, service
from pool_service.api import api
from pool_service.consumers import handle_award_event
from pool_service.settings import PoolSettings
from shared.app import ServiceSpec, build_service_app
from shared.http import DB
from shared.uow import register_projection

POOL_SETTINGS = web.AppKey("pool_settings", PoolSettings)


async def lift_suspensions(app: web.Application) -> None:
    """Reinstate members whose timed suspension has passed, by the database's clock."""
    pause = app[POOL_SETTINGS].suspension_sweep_seconds
    while True:
        lifted = True
        while lifted:
            lifted = await service.lift_due_suspension(app[DB])
        await asyncio.sleep(pause)


def build_app(settings: PoolSettings, *, run_background: bool = True) -> web.Application:
    # OCDS releases are a projection of this service's events, in their transaction.
    register_projection(service.SOURCE, ocds.release_writer(settings))
    spec = ServiceSpec(
        name="pool-service",
        api=api,
        consumers=[(settings.awards_queue, handle_award_event)],
        ordered_sources=["/bidding-service"],
        workers=[lift_suspensions],
    )
    app = build_service_app(settings, spec, run_background=run_background)
    app[POOL_SETTINGS] = settings
    return app
