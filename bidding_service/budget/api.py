"""HTTP routes of the budget loop: the reservations, for reconciliation."""

from __future__ import annotations

from aiohttp import web

from bidding_service.budget import service
from bidding_service.routes import CENTER, FINANCE, after_cursor, api, page
from bidding_service.schemas import ReservationPage, ReservationQuery
from shared.http import DB, authenticate, parse_query, render


@api.route("GET", "/v1/budget/reservations", summary="Budget reservations, for reconciliation",
           roles=(CENTER, FINANCE), query=ReservationQuery, response=ReservationPage)
async def list_reservations(request: web.Request) -> web.Response:
    await authenticate(request, CENTER, FINANCE)
    q = parse_query(request, ReservationQuery)
    items, after = await service.list_reservations(
        request.app[DB], status=q.status.value if q.status else None,
        budget_line=q.budget_line, after=after_cursor(q.cursor), limit=q.limit)
    return render(page(items, after))
