"""HTTP routes of the rotation order: parse, call a use case, render."""

from __future__ import annotations

from aiohttp import web

from bidding_service.methods import service
from bidding_service.routes import BUYER, CENTER, api
from bidding_service.schemas import RotationOut, SetRotation
from shared.http import DB, authenticate, parse_body, path_uuid, render


@api.route("GET", "/v1/pools/{pool_id}/rotation",
           summary="The pool's rotation order, who was served this period, who is next",
           roles=(CENTER, BUYER), response=RotationOut, errors=(404,))
async def get_rotation(request: web.Request) -> web.Response:
    await authenticate(request, CENTER, BUYER)
    return render(await service.rotation_view(request.app[DB], path_uuid(request, "pool_id")))


@api.route("PUT", "/v1/pools/{pool_id}/rotation", summary="Set the pool's rotation order",
           roles=(CENTER,), body=SetRotation, response=RotationOut, errors=(404,))
async def set_rotation(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER)
    pool_id = path_uuid(request, "pool_id")
    cmd = await parse_body(request, SetRotation)
    return render(await service.set_rotation(request.app[DB], pool_id, cmd.order, caller))
