"""HTTP routes of awards and result notices: parse, call a use case, render."""

from __future__ import annotations

from aiohttp import web

from bidding_service.awards import service
from bidding_service.routes import (
    CENTER,
    SUPPLIER,
    after_cursor,
    api,
    page,
)
from bidding_service.schemas import (
    AcceptAward,
    AwardPage,
    AwardQuery,
    AwardView,
    CancelAward,
    DeclineAward,
    ReviewAward,
    ReviewDecision,
)
from shared.http import (
    DB,
    authenticate,
    parse_body,
    parse_query,
    path_uuid,
    render,
)


@api.route("POST", "/v1/awards/{award_id}/accept", summary="The winner accepts its award",
           roles=(SUPPLIER,), body=AcceptAward, response=AwardView, errors=(404, 409))
async def accept_award(request: web.Request) -> web.Response:
    caller = await authenticate(request, SUPPLIER)
    award_id = path_uuid(request, "award_id")
    if request.can_read_body:
        await parse_body(request, AcceptAward)
    return render(await service.accept_award(request.app[DB], award_id, caller))


@api.route("POST", "/v1/awards/{award_id}/decline",
           summary="The winner declines; the next-ranked bidder gets a new award",
           roles=(SUPPLIER,), body=DeclineAward, response=AwardView, errors=(404, 409))
async def decline_award(request: web.Request) -> web.Response:
    caller = await authenticate(request, SUPPLIER)
    award_id = path_uuid(request, "award_id")
    cmd = await parse_body(request, DeclineAward)
    return render(await service.decline_award(request.app[DB], award_id, caller, cmd.reason))


@api.route("GET", "/v1/awards", summary="Published result notices, newest first",
           query=AwardQuery, response=AwardPage)
async def list_awards(request: web.Request) -> web.Response:
    q = parse_query(request, AwardQuery)
    items, after = await service.list_awards(request.app[DB], pool_id=q.pool_id,
                                             buyer_org=q.buyer_org, after=after_cursor(q.cursor),
                                             limit=q.limit)
    return render(page(items, after))


@api.route("GET", "/v1/awards/{award_id}", summary="One result notice", response=AwardView,
           errors=(404,))
async def get_award(request: web.Request) -> web.Response:
    return render(await service.get_award(request.app[DB], path_uuid(request, "award_id")))


@api.route("POST", "/v1/awards/{award_id}/cancel",
           summary="The center cancels an award (a correction, on the record)",
           roles=(CENTER,), body=CancelAward, response=AwardView, errors=(404, 409))
async def cancel_award(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER)
    award_id = path_uuid(request, "award_id")
    cmd = await parse_body(request, CancelAward)
    return render(await service.cancel_award(request.app[DB], award_id, caller, cmd.reason_code,
                                             cmd.reason, cmd.reaward_next))


@api.route("POST", "/v1/awards/{award_id}/review",
           summary="The center confirms or rejects an award held for an abnormally low price",
           roles=(CENTER,), body=ReviewAward, response=AwardView, errors=(404, 409))
async def review_award(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER)
    award_id = path_uuid(request, "award_id")
    cmd = await parse_body(request, ReviewAward)
    return render(await service.review_award(request.app[DB], award_id, caller,
                                             cmd.decision is ReviewDecision.CONFIRM, cmd.note))
