"""HTTP routes of a round's life: parse, call a use case, render."""

from __future__ import annotations

from aiohttp import web

from bidding_service.rounds import service
from bidding_service.routes import (
    BUYER,
    CENTER,
    SEALER,
    SUPPLIER,
    after_cursor,
    api,
    created,
    page,
)
from bidding_service.schemas import (
    CancelRound,
    LaunchRound,
    RoundOut,
    RoundPage,
    RoundQuery,
)
from bidding_service.settings import BiddingSettings
from shared.http import (
    DB,
    SETTINGS,
    authenticate,
    optional_principal,
    parse_body,
    parse_query,
    path_uuid,
    render,
)
from shared.idempotency import check_key, request_hash


@api.route("POST", "/v1/rounds", summary="Launch a round against a pool", roles=(CENTER,),
           body=LaunchRound, response=RoundOut, status=201, errors=(409,), idempotent=True)
async def launch_round(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER)
    key = check_key(request.headers.get("Idempotency-Key"))
    cmd = await parse_body(request, LaunchRound)
    settings = request.app[SETTINGS]
    assert isinstance(settings, BiddingSettings)
    outcome = await service.launch_round(
        request.app[DB], cmd, caller, settings.round_min_duration_seconds, key,
        request_hash(cmd.model_dump(mode="json")),
        budget_reply_seconds=settings.budget_reply_seconds
        if settings.budget_reservation == "required" else None)
    return created(outcome)


@api.route("GET", "/v1/rounds", summary="List rounds the caller may see",
           roles=(CENTER, BUYER, SUPPLIER), query=RoundQuery, response=RoundPage)
async def list_rounds(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER, BUYER, SUPPLIER)
    q = parse_query(request, RoundQuery)
    items, after = await service.list_rounds(
        request.app[DB], caller, status=q.status.value if q.status else None,
        pool_id=q.pool_id, after=after_cursor(q.cursor), limit=q.limit)
    return render(page(items, after))


@api.route("GET", "/v1/rounds/{round_id}", summary="A round as the caller may see it",
           response=RoundOut, errors=(401, 403, 404))
async def get_round(request: web.Request) -> web.Response:
    caller = await optional_principal(request)
    body = await service.round_view(request.app[DB], path_uuid(request, "round_id"), caller,
                                    request.app[SEALER])
    return render(body)


@api.route("POST", "/v1/rounds/{round_id}/cancel", summary="Cancel a round before close",
           roles=(CENTER,), body=CancelRound, response=RoundOut, errors=(404, 409))
async def cancel_round(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER)
    round_id = path_uuid(request, "round_id")
    cmd = await parse_body(request, CancelRound)
    return render(await service.cancel_round(request.app[DB], round_id, caller, cmd.reason_code,
                                             cmd.reason,
                                             request.app[SEALER]))
