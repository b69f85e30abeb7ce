"""Public routes (no token): the notices, the public round view, the paged ranking."""

from __future__ import annotations

from aiohttp import web

from bidding_service.bids.sealed import Sealer
from bidding_service.notices import service
from bidding_service.notices.schemas import NoticePage, NoticeQuery, PublicRound, RankingPage
from bidding_service.rounds import service as rounds
from bidding_service.routes import after_cursor
from shared.http import DB, Api, parse_query, path_uuid, render
from shared.paging import PageQuery, decode_cursor, encode_cursor
from shared.problems import unprocessable


def install_notice_routes(api: Api, sealer: web.AppKey[Sealer]) -> None:
    """Adds the public transparency routes to the bidding service's API."""

    @api.route("GET", "/v1/notices", summary="Public notices, newest first", query=NoticeQuery,
               response=NoticePage)
    async def list_notices(request: web.Request) -> web.Response:
        q = parse_query(request, NoticeQuery)
        items, after = await service.list_notices(
            request.app[DB], kind=q.kind.value if q.kind else None, pool_id=q.pool_id,
            round_id=q.round_id, after=after_cursor(q.cursor), limit=q.limit)
        return render({"items": items, "next_cursor": encode_cursor(
            [after[0].isoformat(), str(after[1])]) if after else None})

    @api.route("GET", "/v1/public/rounds/{round_id}",
               summary="A round as the public may see it (no counts before the result)",
               response=PublicRound, errors=(404,))
    async def public_round(request: web.Request) -> web.Response:
        round_id = path_uuid(request, "round_id")
        body = await service.open_round(request.app[DB], round_id)
        if body is None:
            body = await rounds.round_view(request.app[DB], round_id, None, request.app[sealer])
            body.setdefault("method", "price_competition")
        return render(body)

    @api.route("GET", "/v1/rounds/{round_id}/ranking",
               summary="The full ranking, paged (public once the result is published)",
               query=PageQuery, response=RankingPage, errors=(404, 409))
    async def round_ranking(request: web.Request) -> web.Response:
        q = parse_query(request, PageQuery)
        values = decode_cursor(q.cursor, 1)
        if values is not None and not isinstance(values[0], int):
            raise unprocessable("the cursor is not valid")
        after_rank = int(values[0]) if values is not None else 0
        items, last, size = await service.ranking(request.app[DB], path_uuid(request, "round_id"),
                                                  after_rank, q.limit)
        return render({"items": items, "size": size,
                       "next_cursor": encode_cursor([last]) if last is not None else None})
