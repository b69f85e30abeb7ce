"""SQL of clarification questions. The asker is never stored: only `asker_tag`, a keyed
digest of (round, supplier) that only says "this is mine" to the asker itself."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Conn


async def insert(conn: Conn, question_id: uuid.UUID, round_id: uuid.UUID, text: str,
                 asker_tag: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO questions (id, round_id, text, asker_tag) VALUES ($1, $2, $3, $4)"
        " RETURNING *", question_id, round_id, text, asker_tag)
    assert row is not None
    return row


async def of_round(conn: Conn, round_id: uuid.UUID, *, answered_only: bool,
                   ) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM questions WHERE round_id = $1 AND (NOT $2 OR answer IS NOT NULL)"
        " ORDER BY asked_at, id", round_id, answered_only)


async def answer(conn: Conn, round_id: uuid.UUID, question_id: uuid.UUID, text: str,
                 ) -> asyncpg.Record | None:
    """Answer once: None when the question is unknown or answered already."""
    return await conn.fetchrow(
        "UPDATE questions SET answer = $3, answered_at = clock_timestamp()"
        " WHERE id = $2 AND round_id = $1 AND answer IS NULL RETURNING *",
        round_id, question_id, text)


async def get(conn: Conn, round_id: uuid.UUID, question_id: uuid.UUID,
              ) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM questions WHERE id = $2 AND round_id = $1",
                               round_id, question_id)
