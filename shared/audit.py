"""The append-only audit trail (who, what, when) and its read-back for the center.

Rows are written by `UnitOfWork.audit` in the transaction of the change; the table
refuses UPDATE and DELETE (see shared/migrations/0001_messaging.sql), and every entry is
a link of a hash chain (trust.md section 6, shared/audit_chain.py) whose head is public."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, Field

from shared.audit_chain import format_at
from shared.auth import Role
from shared.http import DB, Api, authenticate, parse_query, render
from shared.paging import PageQuery, decode_cursor, page
from shared.problems import unprocessable
from shared.types import Text, Timestamp


class AuditQuery(PageQuery):
    subject: Text | None = Field(default=None, max_length=300,
                                 description="a resource path, e.g. /v1/rounds/{id}")


class AuditEntry(BaseModel):
    seq: int
    at: Timestamp
    actor: str
    actor_role: str
    action: str
    subject: str
    details: dict[str, Any]
    content_hash: str | None = Field(
        description="SHA-256 hex of the canonical JSON of seq, at, actor, actor_role, action,"
                    " subject, details (null only before the chain began)")
    hash: str | None = Field(description="SHA-256 hex of previous hash + content_hash")


class AuditHead(BaseModel):
    seq: int
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


async def list_audit(db: asyncpg.Pool, query: AuditQuery) -> dict[str, Any]:
    """Newest first, keyset-paginated by sequence number."""
    after = decode_cursor(query.cursor, 1)
    try:
        before = int(after[0]) if after else None
    except (TypeError, ValueError):
        raise unprocessable("the cursor is not valid") from None
    rows = await db.fetch(
        "SELECT seq, at, actor, actor_role, action, subject, details, content_hash, hash"
        " FROM audit_log"
        " WHERE ($1::text IS NULL OR subject = $1) AND ($2::bigint IS NULL OR seq < $2)"
        " ORDER BY seq DESC LIMIT $3", query.subject, before, query.limit + 1)
    items = [{**dict(r), "at": _iso(r["at"])} for r in rows]
    return page(items, query.limit, lambda item: [item["seq"]])


def _iso(value: datetime) -> str:
    return format_at(value)


def install_audit_route(api: Api) -> None:
    """`GET /v1/audit` on a service's API, for the procurement center."""

    @api.route("GET", "/v1/audit", summary="The audit trail, newest first (filter by subject)",
               roles=(Role.PROCUREMENT_CENTER,), query=AuditQuery, response=AuditPage)
    async def audit_trail(request: web.Request) -> web.Response:
        await authenticate(request, Role.PROCUREMENT_CENTER)
        return render(await list_audit(request.app[DB], parse_query(request, AuditQuery)))

    @api.route("GET", "/v1/audit/head", summary="The audit chain's head (public)",
               response=AuditHead)
    async def audit_chain_head(request: web.Request) -> web.Response:
        row = await request.app[DB].fetchrow("SELECT seq, hash FROM audit_head")
        assert row is not None
        return render({"seq": row["seq"], "hash": row["hash"]})
