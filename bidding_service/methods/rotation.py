"""Choosing the next supplier of a rotation (顺序轮候) under the pool's rotation lock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from bidding_service.awards import repository as awards_repo
from bidding_service.methods import repository as repo
from bidding_service.methods.domain import Turn, next_turn
from bidding_service.rounds import repository as rounds_repo
from shared.db import Conn


@dataclass(frozen=True)
class Chosen:
    member: asyncpg.Record
    period: int


@dataclass(frozen=True)
class Offered:
    result: asyncpg.Record
    period: int


def turns(rows: list[asyncpg.Record]) -> list[Turn]:
    return [Turn(x["supplier_id"], x["eligible"], x["served"], x["offered"]) for x in rows]


async def choose(conn: Conn, pool_id: uuid.UUID, round_id: uuid.UUID | None) -> Chosen | None:
    """The next supplier of the pool's rotation (starting a new period when the rule says
    so), or None when every member eligible now was offered this round already."""
    period = await repo.lock_rotation(conn, pool_id)
    rows = await repo.order(conn, pool_id, period, round_id)
    choice = next_turn(turns(rows))
    if choice.supplier_id is None:
        return None
    if choice.new_period:
        period += 1
        await repo.set_period(conn, pool_id, period)
    member = next(x for x in rows if x["supplier_id"] == choice.supplier_id)
    return Chosen(member, period)


async def next_result(conn: Conn, r: asyncpg.Record) -> Offered | None:
    """Offer rotation round `r` to the next supplier: its ranking row and invitation."""
    chosen = await choose(conn, r["pool_id"], r["id"])
    if chosen is None:
        return None
    await rounds_repo.add_invitation(conn, r["id"], chosen.member)
    result = await awards_repo.insert_result(conn, r["id"], chosen.member, r["ceiling_price"])
    return Offered(result, chosen.period)
