"""`GET /ocds/release-packages` and `GET /ocds/records/{ocid}` (public, no token)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from shared.http import DB, SETTINGS, Api, parse_query
from shared.ocds import store
from shared.ocds.packages import record_package, release_package
from shared.problems import not_found

_OCID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,199}$")


class FeedQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=100, ge=1, le=store.MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=500)


class Publisher(BaseModel):
    name: str


class PackageLinks(BaseModel):
    next: str | None = Field(default=None, description="the next page, while more exist")
    resume: str | None = Field(
        default=None, description="on the last page: where to continue later")


class ReleasePackage(BaseModel):
    model_config = ConfigDict(extra="allow")

    uri: str
    version: str
    extensions: list[str]
    publishedDate: str
    publisher: Publisher
    releases: list[dict[str, Any]]
    links: PackageLinks


class RecordPackage(BaseModel):
    model_config = ConfigDict(extra="allow")

    uri: str
    version: str
    extensions: list[str]
    publishedDate: str
    publisher: Publisher
    records: list[dict[str, Any]]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _ocds_response(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


def install_ocds_routes(api: Api) -> None:
    """The OCDS feed and records of the service's own releases (transparency.md)."""

    @api.route("GET", "/ocds/release-packages", query=FeedQuery, response=ReleasePackage,
               summary="OCDS release packages: every release once, in a stable order")
    async def release_packages(request: web.Request) -> web.Response:
        query = parse_query(request, FeedQuery)
        after = store.parse_cursor(query.cursor)
        async with request.app[DB].acquire() as conn:
            releases, last, more = await store.read_feed(conn, after, query.limit)
        link = None if last is None else str(request.url.with_query(
            {"cursor": last.cursor(), "limit": str(query.limit)}))
        settings = request.app[SETTINGS]
        body = release_package(releases, uri=str(request.url),
                               publisher=settings.ocds_publisher_name,
                               published_date=_now(), next_url=link if more else None,
                               resume_url=None if more else link)
        return _ocds_response(body)

    @api.route("GET", "/ocds/records/{ocid}", response=RecordPackage, errors=(404,),
               summary="An OCDS record package: every release of one ocid, compiled")
    async def record(request: web.Request) -> web.Response:
        ocid = request.match_info["ocid"]
        if not _OCID.match(ocid):
            raise not_found("the record")
        async with request.app[DB].acquire() as conn:
            releases = await store.read_ocid(conn, ocid)
        if not releases:
            raise not_found("the record")
        settings = request.app[SETTINGS]
        return _ocds_response(record_package(
            ocid, releases, uri=str(request.url), publisher=settings.ocds_publisher_name,
            published_date=_now()))
