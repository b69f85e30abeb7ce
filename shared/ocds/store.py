"""The `ocds_releases` table (shared migration 0004) and the feed's paging.

Why not page by `id`: ids are handed out when a row is inserted, and transactions
commit out of order, so a release with a lower id can become visible after a reader
has paged past it. The feed is ordered by `(xid, id)` instead, `xid` being the id of
the writing transaction, and serves only rows whose transaction is older than the
oldest transaction still in flight (`pg_snapshot_xmin` of the reading statement's
snapshot). Every transaction that could still commit a release has an xid at or above
that bound, above every xid served so far, so a later release always sorts after
every position already handed out. The cost: the feed lags by the oldest open
transaction of the server (it delays releases, it never loses one)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.db import Conn
from shared.paging import decode_cursor, encode_cursor
from shared.problems import unprocessable

MAX_LIMIT = 1000


@dataclass(frozen=True)
class StoredRelease:
    ocid: str
    release_id: str
    tag: str
    date: str
    body: bytes  # the release JSON, amounts as exact JSON numbers


@dataclass(frozen=True)
class Position:
    xid: int
    id: int

    def cursor(self) -> str:
        return encode_cursor([str(self.xid), self.id])


def parse_cursor(cursor: str | None) -> Position | None:
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    xid, row_id = values
    if not (isinstance(xid, str) and xid.isdigit() and len(xid) <= 20
            and isinstance(row_id, int) and not isinstance(row_id, bool) and row_id >= 0
            and int(xid) < 2**63):
        raise unprocessable("the cursor is not valid")
    return Position(int(xid), row_id)


async def insert_releases(conn: Conn, releases: list[StoredRelease]) -> None:
    """Write releases on `conn`, inside the transaction of the events they project."""
    if not releases:
        return
    await conn.executemany(
        "INSERT INTO ocds_releases (ocid, release_id, tag, released_at, release)"
        " VALUES ($1, $2, $3, $4::text::timestamptz, $5::text::jsonb)",
        [(r.ocid, r.release_id, r.tag, r.date, r.body.decode()) for r in releases])


FEED = """
SELECT xid::text AS xid, id, release::text AS body
FROM ocds_releases
WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
  AND ($1::text IS NULL OR (xid, id) > ($1::text::xid8, $2::bigint))
ORDER BY xid, id
LIMIT $3
"""


async def read_feed(conn: Conn, after: Position | None, limit: int,
                    ) -> tuple[list[str], Position | None, bool]:
    """Up to `limit` releases after `after`, in feed order: (release JSON texts, the
    position of the last one, whether more are already servable)."""
    rows = await conn.fetch(FEED, None if after is None else str(after.xid),
                            None if after is None else after.id, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    last = Position(int(rows[-1]["xid"]), int(rows[-1]["id"])) if rows else after
    return [r["body"] for r in rows], last, more


async def read_ocid(conn: Conn, ocid: str) -> list[str]:
    """Every committed release of one ocid, oldest first."""
    rows = await conn.fetch(
        "SELECT release::text AS body FROM ocds_releases WHERE ocid = $1"
        " ORDER BY released_at, id", ocid)
    return [r["body"] for r in rows]


async def latest_award_id(conn: Conn, ocid: str, supplier_id: str) -> str | None:
    """The id of the newest award to `supplier_id` in `ocid`'s releases (for an update)."""
    value = await conn.fetchval(
        "SELECT release->'awards'->0->>'id' FROM ocds_releases"
        " WHERE ocid = $1 AND tag = 'award'"
        "   AND release->'awards'->0->'suppliers'->0->>'id' = $2"
        " ORDER BY id DESC LIMIT 1", ocid, supplier_id)
    return None if value is None else str(value)
