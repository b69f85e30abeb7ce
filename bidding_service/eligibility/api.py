"""HTTP route of the event-fed eligibility copy."""

from __future__ import annotations

from aiohttp import web

from bidding_service.eligibility import service
from bidding_service.routes import (
    CENTER,
    api,
)
from bidding_service.schemas import (
    Eligible,
)
from shared.http import (
    DB,
    authenticate,
    path_uuid,
    render,
)


@api.route("GET", "/v1/pools/{pool_id}/eligible",
           summary="Suppliers this service holds as admitted in the pool (its event-fed copy)",
           roles=(CENTER,), response=Eligible)
async def eligible(request: web.Request) -> web.Response:
    await authenticate(request, CENTER)
    return render(await service.eligible(request.app[DB], path_uuid(request, "pool_id")))
