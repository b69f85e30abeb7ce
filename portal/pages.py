"""The pages: read the services' public APIs, render a template. No rules, no state."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from yarl import URL

from portal import views
from portal.client import Unavailable
from portal.i18n import DEFAULT, choose, translate
from portal.keys import FEED, SERVICES, SETTINGS, TEMPLATES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RESULT_STATUSES = ("awarded", "accepted", "reawarded")
RANKING_PAGE = "50"
KEEPALIVE_SECONDS = 15.0


def _lang(request: web.Request) -> str:
    return choose(request.query.get("lang"))


def _render(request: web.Request, template: str, status: int = 200,
            **context: Any) -> web.Response:
    lang = _lang(request)
    settings = request.app[SETTINGS]
    context.setdefault("active", "")

    def url(path: str, **params: str) -> str:
        query = {**params, **({"lang": "en"} if lang == "en" else {})}
        return str(URL(path).with_query(query)) if query else path

    toggle = dict(request.query)
    toggle.pop("lang", None)
    if lang == DEFAULT:
        toggle["lang"] = "en"
    html = request.app[TEMPLATES].get_template(template).render(
        lang=lang, t=lambda key: translate(key, lang), url=url,
        other_lang_url=str(request.rel_url.with_query(toggle)),
        other_lang="en" if lang == DEFAULT else DEFAULT,
        money=views.money, when=lambda v: views.local_time(v, settings.zone),
        tz=settings.jurisdiction_tz, **context)
    return web.Response(text=html, status=status, content_type="text/html",
                        headers={"Content-Language": lang, "Cache-Control": "no-cache"})


def _not_found(request: web.Request) -> web.Response:
    return _render(request, "message.html", 404, title_key="not_found",
                   text_key="not_found_text")


async def home(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    (_, notices), (_, results), (_, pools) = await asyncio.gather(
        services.bidding("/v1/notices", {"limit": "200"}),
        services.bidding("/v1/notices", {"kind": "result", "limit": "10"}),
        services.pool("/v1/pools", {"limit": "200"}))
    now = datetime.now(UTC)
    live = views.live_rounds(notices["items"], now)
    return _render(request, "home.html", active="home", live=live,
                   remaining={r["round_id"]: views.remaining(r["closes_at"], now) for r in live},
                   results=results["items"], pools=pools["items"])


async def pool_list(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    if status not in (None, "active", "upcoming", "expired", "terminated"):
        status = None
    params = {"limit": "200", **({"status": status} if status else {})}
    _, pools = await request.app[SERVICES].pool("/v1/pools", params)
    return _render(request, "pools.html", active="pools", pools=pools["items"],
                   status_filter=status or "")


async def _find_pool(request: web.Request, code: str) -> dict[str, Any] | None:
    cursor: str | None = None
    for _ in range(50):  # pools are few; a bounded walk through the list by code
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        _, page = await request.app[SERVICES].pool("/v1/pools", params)
        for p in page["items"]:
            if p["code"] == code:
                return dict(p)
        cursor = page.get("next_cursor")
        if not cursor:
            return None
    return None


async def pool_page(request: web.Request) -> web.Response:
    pool = await _find_pool(request, request.match_info["code"])
    if pool is None:
        return _not_found(request)
    services = request.app[SERVICES]
    (_, notices), (_, results) = await asyncio.gather(
        services.bidding("/v1/notices", {"pool_id": pool["id"], "limit": "200"}),
        services.bidding("/v1/notices", {"pool_id": pool["id"], "kind": "result",
                                         "limit": "50"}))
    now = datetime.now(UTC)
    live = views.live_rounds(notices["items"], now)
    return _render(request, "pool.html", active="pools", pool=pool, live=live,
                   remaining={r["round_id"]: views.remaining(r["closes_at"], now) for r in live},
                   results=results["items"])


def _uuid(request: web.Request, name: str) -> str | None:
    try:
        return str(uuid.UUID(request.match_info[name]))
    except ValueError:
        return None


async def round_page(request: web.Request) -> web.Response:
    rid = _uuid(request, "round_id")
    if rid is None:
        return _not_found(request)
    services = request.app[SERVICES]
    cursor = request.query.get("ranking_cursor")
    ranking_params = {"limit": RANKING_PAGE, **({"cursor": cursor} if cursor else {})}
    (status, rnd), (_, notices), (ranked, ranking) = await asyncio.gather(
        services.bidding(f"/v1/public/rounds/{rid}"),
        services.bidding("/v1/notices", {"round_id": rid, "limit": "200"}),
        services.bidding(f"/v1/rounds/{rid}/ranking", ranking_params))
    if status != 200:
        return _not_found(request)
    live = rnd["status"] in views.LIVE_STATUSES
    by_kind: dict[str, dict[str, Any]] = {}
    for n in notices.get("items", []):
        by_kind.setdefault(n["kind"], n)
    context = {
        "rnd": rnd, "live": live, "notices": by_kind,
        "remaining": views.remaining(rnd.get("closes_at"), datetime.now(UTC)),
        "ranking": ranking if ranked == 200 else None,
        "result": rnd["status"] in RESULT_STATUSES, "award": rnd.get("award"),
    }
    if request.query.get("fragment") == "1":
        return _render(request, "round_main.html", **context)
    return _render(request, "round.html", active="home", **context)


async def round_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events of one round: `state` first, then `extended` and `ended`."""
    rid = _uuid(request, "round_id")
    if rid is None:
        return _not_found(request)
    zone = request.app[SETTINGS].zone
    feed = request.app[FEED]
    queue = feed.subscribe(rid)  # before the state is read: nothing falls in between
    try:
        try:
            status, rnd = await request.app[SERVICES].bidding(f"/v1/public/rounds/{rid}")
        except Unavailable:
            raise web.HTTPServiceUnavailable() from None
        if status != 200:
            return _not_found(request)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)

        async def send(event: str, data: dict[str, Any]) -> None:
            if data.get("closes_at"):
                data = {**data, "closes_at_text": views.local_time(data["closes_at"], zone)}
            await resp.write(f"event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n")

        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            await send("state", {"status": rnd["status"], "closes_at": rnd.get("closes_at"),
                                 "extensions_used": rnd.get("extensions_used")})
            if rnd["status"] not in views.LIVE_STATUSES:
                await send("ended", {"outcome": rnd["status"]})
                return resp
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if item is None:
                    break  # the portal is stopping
                event = item.pop("event")
                await send(event, item)
                if event == "ended":
                    break
        return resp
    finally:
        feed.unsubscribe(rid, queue)


async def award_list(request: web.Request) -> web.Response:
    params = {"limit": "20"}
    if request.query.get("cursor"):
        params["cursor"] = request.query["cursor"]
    status, page = await request.app[SERVICES].bidding("/v1/awards", params)
    if status != 200:
        return _not_found(request)
    return _render(request, "awards.html", active="awards", awards=page["items"],
                   next_cursor=page.get("next_cursor"))


async def award_page(request: web.Request) -> web.Response:
    aid = _uuid(request, "award_id")
    if aid is None:
        return _not_found(request)
    status, award = await request.app[SERVICES].bidding(f"/v1/awards/{aid}")
    if status != 200:
        return _not_found(request)
    ranked, ranking = await request.app[SERVICES].bidding(
        f"/v1/rounds/{award['round_id']}/ranking", {"limit": RANKING_PAGE})
    return _render(request, "award.html", active="awards", award=award,
                   ranking=ranking if ranked == 200 else None)


async def open_data(request: web.Request) -> web.Response:
    pool_url, bidding_url = request.app[SETTINGS].open_data_urls
    return _render(request, "ocds.html", active="ocds", pool_url=pool_url,
                   bidding_url=bidding_url)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    pool_ok, bidding_ok = await asyncio.gather(services.healthy(services.pool_url),
                                               services.healthy(services.bidding_url))
    checks = {"pool_service": pool_ok, "bidding_service": bidding_ok,
              "broker": request.app[FEED].connected}
    ok = all(checks.values())
    return web.json_response({"status": "ready" if ok else "unavailable", "checks": checks},
                             status=200 if ok else 503)


@web.middleware
async def unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A service that cannot be reached is a 503 page, never a 500."""
    try:
        return await handler(request)
    except Unavailable:
        return _render(request, "message.html", 503, title_key="unavailable",
                       text_key="unavailable_text")


def install(app: web.Application) -> None:
    app.middlewares.append(unavailable)
    r = app.router
    r.add_get("/", home, name="root")
    r.add_get("/pools", pool_list)
    r.add_get("/pools/{code}", pool_page)
    r.add_get("/rounds/{round_id}", round_page)
    r.add_get("/rounds/{round_id}/events", round_events)
    r.add_get("/awards", award_list)
    r.add_get("/awards/{award_id}", award_page)
    r.add_get("/ocds", open_data)
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
