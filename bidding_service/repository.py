"""SQL of the bidding service (asyncpg only here)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg

from bidding_service.domain import Extension, PoolTerms
from bidding_service.repo_eligibility import admitted_now
from shared.db import LOCAL_TODAY_SQL, Conn
from shared.uow import write_audit

# ---------------------------------------------------------------- pool copy


async def upsert_pool(conn: Conn, data: dict[str, Any]) -> None:
    """Apply a pool.* event unless we already hold that version or a newer one."""
    await conn.execute(
        """
        INSERT INTO pools (pool_id, code, name, terminated, valid_from, valid_to,
                           price_ceiling, max_round_budget, version)
        VALUES ($1, $2, $3, $4, $5::text::date, $6::text::date, $7::text::numeric,
                $8::text::numeric, $9)
        ON CONFLICT (pool_id) DO UPDATE SET
            code = EXCLUDED.code, name = EXCLUDED.name, terminated = EXCLUDED.terminated,
            valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,
            price_ceiling = EXCLUDED.price_ceiling,
            max_round_budget = EXCLUDED.max_round_budget, version = EXCLUDED.version,
            updated_at = clock_timestamp()
        WHERE pools.version < EXCLUDED.version
        """,
        uuid.UUID(str(data["id"])), data["code"], data["name"],
        data.get("status") == "terminated", str(data["valid_from"])[:10],
        str(data["valid_to"])[:10], str(data["price_ceiling"]),
        str(data["max_round_budget"]), int(data.get("version", 0)),
    )


async def upsert_membership(conn: Conn, data: dict[str, Any]) -> bool:
    """Apply a pool.member.* event; False when it is older than what we hold."""
    supplier = data["supplier"]
    row = await conn.fetchrow(
        """
        INSERT INTO eligibility (pool_id, supplier_id, status, name, credit_code, kind, size,
                                 version, changed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::timestamptz)
        ON CONFLICT (pool_id, supplier_id) DO UPDATE SET
            status = EXCLUDED.status, name = EXCLUDED.name,
            credit_code = EXCLUDED.credit_code, kind = EXCLUDED.kind, size = EXCLUDED.size,
            version = EXCLUDED.version, changed_at = EXCLUDED.changed_at,
            updated_at = clock_timestamp()
        WHERE eligibility.version < EXCLUDED.version
        RETURNING true
        """,
        uuid.UUID(str(data["pool_id"])), uuid.UUID(str(supplier["id"])), data["status"],
        supplier["name"], supplier["credit_code"], supplier["kind"], supplier["size"],
        int(data["version"]), str(data["at"]),
    )
    return row is not None


async def exclude_from_open_rounds(conn: Conn, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                                   reason: str) -> list[uuid.UUID]:
    """Invalidate a suspended/removed supplier's bids in the pool's rounds still open.

    Each round row is key-share locked like a bid does, so a close either happens
    before (the bids were evaluated, correctly) or waits for this to commit.
    """
    rounds = await conn.fetch(
        "SELECT id FROM rounds WHERE pool_id = $1 AND status IN ('scheduled', 'open')"
        " ORDER BY id FOR KEY SHARE", pool_id)
    affected: list[uuid.UUID] = []
    for r in rounds:
        hit = await conn.fetchval(
            "UPDATE invitations SET status = 'excluded', excluded_reason = $3,"
            " excluded_at = clock_timestamp()"
            " WHERE round_id = $1 AND supplier_id = $2 AND status = 'invited' RETURNING true",
            r["id"], supplier_id, reason)
        if hit:
            await conn.execute(
                "UPDATE bids SET valid = false, invalidated_reason = $3"
                " WHERE round_id = $1 AND supplier_id = $2 AND valid", r["id"], supplier_id,
                reason)
            # The round's sealed best price may have been this bid: recompute it when needed.
            await conn.execute("UPDATE rounds SET best_ct = NULL WHERE id = $1", r["id"])
            await write_audit(conn, "pool-events", "system", "invitation.excluded",
                              f"/v1/rounds/{r['id']}",
                              {"supplier_id": str(supplier_id), "reason": reason})
            affected.append(r["id"])
    return affected


async def get_pool(conn: Conn, pool_id: uuid.UUID) -> PoolTerms | None:
    row = await conn.fetchrow("SELECT * FROM pools WHERE pool_id = $1", pool_id)
    if row is None:
        return None
    return PoolTerms(row["pool_id"], row["code"], row["name"], row["terminated"],
                     row["valid_from"], row["valid_to"], row["price_ceiling"],
                     row["max_round_budget"])


async def admitted_members(conn: Conn, pool_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT supplier_id, name, credit_code, kind, size FROM eligibility"
        " WHERE pool_id = $1 AND status = 'admitted' ORDER BY supplier_id", pool_id)


async def eligible(conn: Conn, pool_id: uuid.UUID) -> tuple[list[uuid.UUID], datetime]:
    rows = await conn.fetch(
        "SELECT supplier_id FROM eligibility WHERE pool_id = $1 AND status = 'admitted'"
        " ORDER BY supplier_id", pool_id)
    as_of = await conn.fetchval(
        "SELECT coalesce(max(updated_at), clock_timestamp()) FROM eligibility"
        " WHERE pool_id = $1", pool_id)
    return [r["supplier_id"] for r in rows], as_of


# ---------------------------------------------------------------- rounds


async def now(conn: Conn) -> datetime:
    """The database clock: it alone decides what is open."""
    value: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return value


async def clock(conn: Conn) -> tuple[datetime, date]:
    """The database clock and today's date in the jurisdiction (JURISDICTION_TZ)."""
    row = await conn.fetchrow(f"SELECT clock_timestamp() AS now, {LOCAL_TODAY_SQL} AS today")
    assert row is not None
    return row["now"], row["today"]


async def insert_round(conn: Conn, r: dict[str, Any], invited: list[asyncpg.Record]) -> None:
    ext: Extension | None = r["extension"]
    await conn.execute(
        """
        INSERT INTO rounds (id, pool_id, pool_code, pool_name, title, description, buyer_org,
            buyer_name, budget_line, ceiling_price, opens_at, closes_at, scheduled_close_at,
            min_bids, sme_price_deduction, disclosure, min_decrement, ext_window_seconds,
            ext_extend_seconds, ext_max_extensions, acceptance_seconds, status,
            invited_count, launched_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16,
                $17, $18, $19, $20, $21, $22, $23)
        """,
        r["id"], r["pool_id"], r["pool_code"], r["pool_name"], r["title"], r["description"],
        r["buyer_org"], r["buyer_name"], r["budget_line"], r["ceiling_price"], r["opens_at"],
        r["closes_at"], r["min_bids"], r["sme_price_deduction"], r["disclosure"],
        r["min_decrement"], ext.window_seconds if ext else None,
        ext.extend_seconds if ext else None, ext.max_extensions if ext else None,
        r["acceptance_seconds"], r["status"], len(invited), r["launched_by"],
    )
    await conn.copy_records_to_table(
        "invitations",
        records=[(r["id"], m["supplier_id"], m["name"], m["credit_code"], m["kind"], m["size"])
                 for m in invited],
        columns=["round_id", "supplier_id", "name", "credit_code", "kind", "size"],
    )


async def get_round(conn: Conn, round_id: uuid.UUID, *, lock: str = "") -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM rounds WHERE id = $1 {lock}", round_id)


async def list_rounds(conn: Conn, *, status: str | None, pool_id: uuid.UUID | None,
                      buyer_org: str | None, supplier_id: uuid.UUID | None,
                      after: tuple[datetime, uuid.UUID] | None, limit: int,
                      ) -> list[asyncpg.Record]:
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if status is not None:
        clauses.append(f"r.status = {arg(status)}")
    if pool_id is not None:
        clauses.append(f"r.pool_id = {arg(pool_id)}")
    if buyer_org is not None:
        clauses.append(f"r.buyer_org = {arg(buyer_org)}")
    if supplier_id is not None:
        clauses.append("EXISTS (SELECT 1 FROM invitations i WHERE i.round_id = r.id"
                       f" AND i.supplier_id = {arg(supplier_id)})")
    if after is not None:
        clauses.append(f"(r.launched_at, r.id) < ({arg(after[0])}, {arg(after[1])})")
    where = " AND ".join(clauses) or "true"
    return await conn.fetch(
        f"SELECT r.* FROM rounds r WHERE {where} ORDER BY r.launched_at DESC, r.id DESC"
        f" LIMIT {arg(limit + 1)}", *args)


async def bid_counts(conn: Conn, round_id: uuid.UUID) -> tuple[int, int]:
    """Every bid answered 201, invalidated or not: a count that dropped when a supplier is
    suspended would tell who had bid (trust.md section 2)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS bids, count(DISTINCT supplier_id) AS bidders FROM bids"
        " WHERE round_id = $1", round_id)
    assert row is not None
    return int(row["bids"]), int(row["bidders"])


async def bid_counts_many(conn: Conn, round_ids: list[uuid.UUID],
                          ) -> dict[uuid.UUID, tuple[int, int]]:
    """`bid_counts` of several rounds in one query (a page of a listing)."""
    rows = await conn.fetch(
        "SELECT round_id, count(*) AS bids, count(DISTINCT supplier_id) AS bidders FROM bids"
        " WHERE round_id = ANY($1::uuid[]) GROUP BY round_id", round_ids)
    return {r["round_id"]: (int(r["bids"]), int(r["bidders"])) for r in rows}


async def invitation(conn: Conn, round_id: uuid.UUID, supplier_id: uuid.UUID,
                     ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM invitations WHERE round_id = $1 AND supplier_id = $2",
        round_id, supplier_id)


async def place_bid(conn: Conn, round_id: uuid.UUID, supplier_id: uuid.UUID, bid_id: uuid.UUID,
                    amount_ct: bytes, previous_bid_id: uuid.UUID | None, opens_at: datetime,
                    closes_at: datetime, actor: str, pool_id: uuid.UUID) -> datetime | None:
    """Record the bid if, by the database clock now, the round is open, the supplier is
    still invited, still admitted in the pool by the eligibility copy, with its last bid
    still `previous_bid_id`; else None.

    The caller holds a key-share lock on the round row, so a close cannot evaluate
    before this transaction has committed or rolled back, and has checked the amount
    against the previous one under the invitation's row lock (`amounts.lower_own_bid`):
    the amount is stored only sealed (trust.md 3). The audit entry (never the amount:
    bids are sealed) is written by the same statement, held back from the trail until
    the round closes (trust.md sections 2 and 6).
    """
    submitted: datetime | None = await conn.fetchval(
        """
        WITH accepted AS (
            UPDATE invitations
               SET last_bid_id = $3, last_amount_ct = $4, last_bid_at = clock_timestamp(),
                   bids_made = bids_made + 1
             WHERE round_id = $1 AND supplier_id = $2 AND status = 'invited'
               AND last_bid_id IS NOT DISTINCT FROM $5
               AND clock_timestamp() >= $6 AND clock_timestamp() < $7
               AND """ + admitted_now("$9", "$2") + """
            RETURNING last_bid_at
        ), stored AS (
            INSERT INTO bids (id, round_id, supplier_id, amount_ct, submitted_at)
            SELECT $3, $1, $2, $4, last_bid_at FROM accepted
            RETURNING submitted_at
        ), audited AS (
            INSERT INTO audit_held (round_id, bid_id, at, actor, actor_role, action, subject)
            SELECT $1, $3, submitted_at, $8, 'supplier', 'bid.submitted',
                   '/v1/rounds/' || $1::text || '/bids/' || $3::text
              FROM stored
        )
        SELECT submitted_at FROM stored
        """,
        round_id, supplier_id, bid_id, amount_ct, previous_bid_id, opens_at, closes_at, actor,
        pool_id)
    return submitted


async def extend_round(conn: Conn, round_id: uuid.UUID, extend_seconds: int,
                       ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        UPDATE rounds
           SET closes_at = greatest(closes_at,
                                    clock_timestamp() + make_interval(secs => $2)),
               extensions_used = extensions_used + 1
         WHERE id = $1 AND status IN ('scheduled', 'open')
           AND extensions_used < ext_max_extensions AND clock_timestamp() < closes_at
        RETURNING closes_at, extensions_used
        """, round_id, extend_seconds)


async def supplier_bids(conn: Conn, round_id: uuid.UUID, supplier_id: uuid.UUID | None,
                        after: tuple[datetime, uuid.UUID] | None, limit: int,
                        ) -> list[asyncpg.Record]:
    args: list[Any] = [round_id]
    where = "round_id = $1"
    if supplier_id is not None:
        args.append(supplier_id)
        where += f" AND supplier_id = ${len(args)}"
    if after is not None:
        args.extend(after)
        where += f" AND (submitted_at, id) > (${len(args) - 1}, ${len(args)})"
    args.append(limit + 1)
    return await conn.fetch(
        f"SELECT * FROM bids WHERE {where} ORDER BY submitted_at, id LIMIT ${len(args)}", *args)


async def mark_closed(conn: Conn, round_id: uuid.UUID, status: str, reason: str | None,
                      closed_at: datetime, bid_count: int, bidder_count: int) -> None:
    await conn.execute(
        "UPDATE rounds SET status = $2, status_reason = $3, closed_at = $4, bid_count = $5,"
        " bidder_count = $6 WHERE id = $1",
        round_id, status, reason, closed_at, bid_count, bidder_count)


async def set_status(conn: Conn, round_id: uuid.UUID, status: str, reason: str | None = None,
                     ) -> None:
    await conn.execute("UPDATE rounds SET status = $2, status_reason = coalesce($3, status_reason)"
                       " WHERE id = $1", round_id, status, reason)


async def ranking_json(conn: Conn, round_id: uuid.UUID, limit: int) -> tuple[str, int]:
    """The first `limit` entries of the ranking as the award.published event carries them,
    built as JSON by the database (numeric(16,2) as text is always the two-place decimal
    string of the contract), and the size of the whole ranking."""
    row = await conn.fetchrow(
        """
        SELECT coalesce((SELECT json_agg(json_build_object(
                   'supplier_id', supplier_id, 'amount', amount::text,
                   'evaluated_amount', evaluated_amount::text, 'rank', rank) ORDER BY rank)
                 FROM (SELECT * FROM round_results WHERE round_id = $1
                        ORDER BY rank LIMIT $2) x), '[]'::json)::text AS ranking,
               (SELECT count(*) FROM round_results WHERE round_id = $1) AS size
        """, round_id, limit)
    assert row is not None
    return str(row["ranking"]), int(row["size"])


async def results(conn: Conn, round_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM round_results WHERE round_id = $1 ORDER BY rank",
                            round_id)


async def result_at_rank(conn: Conn, round_id: uuid.UUID, rank: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM round_results WHERE round_id = $1 AND rank = $2", round_id, rank)


async def insert_award(conn: Conn, award_id: uuid.UUID, rnd: asyncpg.Record,
                       result: asyncpg.Record, accept_seconds: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        """
        INSERT INTO awards (id, round_id, pool_id, rank, supplier_id, status, amount,
                            evaluated_amount, awarded_at, accept_by)
        VALUES ($1, $2, $3, $4, $5, 'published', $6, $7, clock_timestamp(),
                clock_timestamp() + make_interval(secs => $8))
        RETURNING *
        """,
        award_id, rnd["id"], rnd["pool_id"], result["rank"], result["supplier_id"],
        result["amount"], result["evaluated_amount"], accept_seconds)
    assert row is not None
    return row


AWARD_SELECT = """
    SELECT a.*, r.buyer_org, r.buyer_name, r.budget_line, r.bid_count, r.invited_count,
           r.pool_code, r.pool_name, r.bids_root, r.bids_tree_size,
           x.name AS supplier_name, x.credit_code, x.kind, x.size
      FROM awards a
      JOIN rounds r ON r.id = a.round_id
      JOIN round_results x ON x.round_id = a.round_id AND x.rank = a.rank
"""


async def get_award(conn: Conn, award_id: uuid.UUID, *, lock: bool = False,
                    ) -> asyncpg.Record | None:
    suffix = " FOR UPDATE OF a" if lock else ""
    return await conn.fetchrow(AWARD_SELECT + " WHERE a.id = $1" + suffix, award_id)


async def live_award(conn: Conn, round_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        AWARD_SELECT + " WHERE a.round_id = $1 ORDER BY a.rank DESC LIMIT 1", round_id)


async def list_awards(conn: Conn, *, pool_id: uuid.UUID | None, buyer_org: str | None,
                      after: tuple[datetime, uuid.UUID] | None, limit: int,
                      ) -> list[asyncpg.Record]:
    clauses: list[str] = []
    args: list[Any] = []
    if pool_id is not None:
        args.append(pool_id)
        clauses.append(f"a.pool_id = ${len(args)}")
    if buyer_org is not None:
        args.append(buyer_org)
        clauses.append(f"r.buyer_org = ${len(args)}")
    if after is not None:
        args.extend(after)
        clauses.append(f"(a.awarded_at, a.id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    where = " AND ".join(clauses) or "true"
    return await conn.fetch(
        AWARD_SELECT + f" WHERE {where} ORDER BY a.awarded_at DESC, a.id DESC"
        f" LIMIT ${len(args)}", *args)


async def decide_award(conn: Conn, award_id: uuid.UUID, status: str, reason: str | None,
                       ) -> datetime:
    at: datetime = await conn.fetchval(
        "UPDATE awards SET status = $2, decided_at = clock_timestamp(), decision_reason = $3"
        " WHERE id = $1 RETURNING decided_at", award_id, status, reason)
    return at


# ---------------------------------------------------------------- commitment (trust.md 5, 6)


async def committed_bids(conn: Conn, round_id: uuid.UUID) -> list[asyncpg.Record]:
    """Every bid of the round that was answered 201 (superseded and invalidated too),
    with the fields its receipt's leaf is computed from (the amount still sealed)."""
    return await conn.fetch(
        "SELECT id, round_id, supplier_id, amount_ct, legacy_amount, submitted_at"
        " FROM bids WHERE round_id = $1", round_id)


async def store_commitment(conn: Conn, round_id: uuid.UUID, root: str, size: int) -> None:
    await conn.execute("UPDATE rounds SET bids_root = $2, bids_tree_size = $3 WHERE id = $1",
                       round_id, root, size)


async def take_held_audit(conn: Conn, round_id: uuid.UUID) -> list[asyncpg.Record]:
    """The round's held-back bid audit entries, removed from the holding table."""
    return await conn.fetch(
        "DELETE FROM audit_held WHERE round_id = $1"
        " RETURNING bid_id, at, actor, actor_role, action, subject, details", round_id)


async def set_award_audit_head(conn: Conn, award_id: uuid.UUID, seq: int, hash_: str) -> None:
    await conn.execute("UPDATE awards SET audit_seq = $2, audit_hash = $3 WHERE id = $1",
                       award_id, seq, hash_)


# ---------------------------------------------------------------- metrics


async def count_rounds_by_status(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM rounds GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}
