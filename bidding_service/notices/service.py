"""The notices projection (called by the UnitOfWork before its outbox rows) and the
public queries: the notice feed, the public round view and the paged ranking."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from bidding_service.notices import repository as repo
from bidding_service.notices.domain import (
    PRICE_COMPETITION,
    NoticeKind,
    draft_for,
    invitation_body,
    open_round_view,
)
from bidding_service.rounds.domain import PUBLIC_STATUSES
from shared.db import Conn
from shared.errors import Conflict, NotFound
from shared.events import CloudEvent
from shared.types import format_money


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def round_fields(r: asyncpg.Record) -> dict[str, Any]:
    """The public identity and terms of a round, from `repo.round_identity`."""
    ext = None if r["ext_window_seconds"] is None else {
        "window_seconds": r["ext_window_seconds"], "extend_seconds": r["ext_extend_seconds"],
        "max_extensions": r["ext_max_extensions"]}
    return {"id": str(r["id"]), "title": r["title"], "description": r["description"],
            "buyer": {"org": r["buyer_org"], "name": r["buyer_name"]}, "method": r["method"],
            "pool": {"id": str(r["pool_id"]), "code": r["pool_code"], "name": r["pool_name"]},
            "ceiling_price": r["ceiling_price"], "opens_at": _iso(r["opens_at"]),
            "closes_at": _iso(r["closes_at"]), "extensions_used": r["extensions_used"],
            "status": r["status"], "extension": ext, "min_decrement": r["min_decrement"]}


async def project_notices(conn: Conn, events: list[CloudEvent]) -> None:
    """The projection: the notice each event makes, in the event's own transaction."""
    for event in events:
        draft = draft_for(event.type, event.subject, event.data)
        if draft is None:
            continue
        r = await repo.round_identity(conn, uuid.UUID(draft.round_id))
        if r is None:
            continue  # not a round of this service (never the case for its own events)
        body = invitation_body(round_fields(r)) if draft.kind is NoticeKind.INVITATION \
            else draft.body
        await repo.insert_notice(conn, event.id, draft.kind.value, r, event.time, body)


async def publish_invitation(conn: Conn, round_id: uuid.UUID,
                             notice_id: uuid.UUID | None = None) -> bool:
    """The invitation of a round that has just left `pending_budget` (call it in the
    transaction that moves the round on, e.g. with the id of the event it emits).

    False when the round is unknown or already has its invitation."""
    r = await repo.round_identity(conn, round_id)
    if r is None or r["method"] != PRICE_COMPETITION \
            or await repo.has_notice(conn, round_id, NoticeKind.INVITATION.value):
        return False  # direct selection and rotation publish only their result
    return await repo.insert_notice(conn, notice_id or uuid.uuid4(),
                                    NoticeKind.INVITATION.value, r,
                                    await conn.fetchval("SELECT clock_timestamp()"),
                                    invitation_body(round_fields(r)))


def notice_public(n: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(n["id"]), "kind": n["kind"], "round_id": str(n["round_id"]),
            "pool": {"id": str(n["pool_id"]), "code": n["pool_code"], "name": n["pool_name"]},
            "title": n["title"], "buyer": n["buyer"], "method": n["method"],
            "published_at": n["published_at"].isoformat(), **n["body"]}


async def list_notices(db: asyncpg.Pool, *, kind: str | None, pool_id: uuid.UUID | None,
                       round_id: uuid.UUID | None, after: tuple[datetime, uuid.UUID] | None,
                       limit: int,
                       ) -> tuple[list[dict[str, Any]], tuple[datetime, uuid.UUID] | None]:
    async with db.acquire() as conn:
        rows = await repo.list_notices(conn, kind=kind, pool_id=pool_id, round_id=round_id,
                                       after=after, limit=limit)
    last = rows[limit - 1] if len(rows) > limit else None
    return [notice_public(n) for n in rows[:limit]], \
        (last["published_at"], last["id"]) if last is not None else None


async def open_round(db: asyncpg.Pool, round_id: uuid.UUID) -> dict[str, Any] | None:
    """The round before its result as the public sees it, or None once the result is
    public (the caller then shows v1's public view). 404 until it has a notice."""
    async with db.acquire() as conn:
        r = await repo.round_identity(conn, round_id)
        if r is None or not await repo.has_notice(conn, round_id):
            raise NotFound("the round")
    if r["status"] in PUBLIC_STATUSES:
        return None
    return open_round_view(round_fields(r))


async def ranking(db: asyncpg.Pool, round_id: uuid.UUID, after_rank: int, limit: int,
                  ) -> tuple[list[dict[str, Any]], int | None, int]:
    """One page of the published ranking, the rank to continue after, and its size."""
    async with db.acquire() as conn:
        r = await repo.round_identity(conn, round_id)
        if r is None:
            raise NotFound("the round")
        if r["status"] not in PUBLIC_STATUSES:
            raise Conflict("the ranking is public once the result is published",
                           slug="result-not-published")
        rows = await repo.ranking_page(conn, round_id, after_rank, limit)
        size = await repo.ranking_size(conn, round_id)
    items = [{"rank": x["rank"], "supplier_id": str(x["supplier_id"]),
              "supplier_name": x["name"], "amount": format_money(x["amount"]),
              "evaluated_amount": format_money(x["evaluated_amount"]),
              "skipped_reason": x["skipped_reason"]} for x in rows[:limit]]
    return items, rows[limit - 1]["rank"] if len(rows) > limit else None, size
