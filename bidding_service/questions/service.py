"""Use cases of clarification questions: ask (anonymously), list, answer once.

Nobody sees who asked, in any view, event, log line or audit entry: the asker is kept
only as a keyed digest (`Sealer.fingerprint`), so the asker's own view can add
`mine: true`, and the audit entry's actor is `anonymous-supplier`."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import structlog

from bidding_service import SOURCE
from bidding_service.bids import repository as bids_repo
from bidding_service.bids.sealed import Sealer
from bidding_service.eligibility import service as eligibility
from bidding_service.questions import repository as repo
from bidding_service.questions.domain import check_may_ask
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds.domain import RoundStatus
from bidding_service.rounds.views import iso
from shared.auth import Principal, Role
from shared.errors import Conflict, Forbidden, NotFound
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)

ANONYMOUS = "anonymous-supplier"


def asker_tag(sealer: Sealer, round_id: uuid.UUID, supplier_id: uuid.UUID) -> str:
    return sealer.fingerprint(["question-asker", str(round_id), str(supplier_id)])


def question_public(q: asyncpg.Record, mine: bool | None = None) -> dict[str, Any]:
    body = {"id": str(q["id"]), "round_id": str(q["round_id"]), "text": q["text"],
            "asked_at": iso(q["asked_at"]), "answer": q["answer"],
            "answered_at": iso(q["answered_at"])}
    if mine:
        body["mine"] = True
    return body


async def ask(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal, text: str,
              sealer: Sealer) -> dict[str, Any]:
    supplier_id = caller.supplier_id
    assert supplier_id is not None
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        r = await rounds_repo.get_round(conn, round_id)
        if r is None:
            raise NotFound("the round")
        inv = await bids_repo.invitation(conn, round_id, supplier_id)
        now = await rounds_repo.now(conn)
        check_may_ask(
            invited=inv is not None,
            eligible=inv is not None and inv["status"] == "invited"
            and not await eligibility.not_admitted(conn, r["pool_id"], supplier_id),
            open_now=r["status"] == RoundStatus.OPEN and r["opens_at"] <= now < r["closes_at"],
            now=now, enquiries_until=r["enquiries_until"])
        question_id = uuid.uuid4()
        q = await repo.insert(conn, question_id, round_id, text,
                              asker_tag(sealer, round_id, supplier_id))
        uow.audit(ANONYMOUS, Role.SUPPLIER.value, "round.question.asked",
                  f"/v1/rounds/{round_id}/questions/{question_id}")
        log.info("question_asked", round_id=str(round_id), question_id=str(question_id))
        return question_public(q, mine=True)


async def questions(db: asyncpg.Pool, round_id: uuid.UUID, caller: Principal | None,
                    sealer: Sealer) -> dict[str, Any]:
    """Every question with its answer for the center, the round's buyer and invited
    suppliers; without a token, the answered ones."""
    async with db.acquire() as conn:
        r = await rounds_repo.get_round(conn, round_id)
        if r is None:
            raise NotFound("the round")
        mine_tag: str | None = None
        if caller is not None:
            if caller.role is Role.BUYER and caller.org != r["buyer_org"]:
                raise Forbidden("this round is not your organisation's")
            if caller.role is Role.SUPPLIER:
                assert caller.supplier_id is not None
                if await bids_repo.invitation(conn, round_id, caller.supplier_id) is None:
                    raise Forbidden("you are not invited to this round")
                mine_tag = asker_tag(sealer, round_id, caller.supplier_id)
        rows = await repo.of_round(conn, round_id, answered_only=caller is None)
    return {"items": [question_public(q, mine=mine_tag is not None
                                      and q["asker_tag"] == mine_tag) for q in rows]}


async def answer(db: asyncpg.Pool, round_id: uuid.UUID, question_id: uuid.UUID,
                 caller: Principal, text: str) -> dict[str, Any]:
    async with UnitOfWork(db, SOURCE) as uow:
        conn = uow.conn
        q = await repo.answer(conn, round_id, question_id, text)
        if q is None:
            if await repo.get(conn, round_id, question_id) is None:
                raise NotFound("the question")
            raise Conflict("the question is answered already: an answer is given once",
                           slug="already-answered")
        uow.emit("round.question.answered", round_id, {
            "round_id": str(round_id), "question_id": str(question_id),
            "question": q["text"], "answer": q["answer"], "at": iso(q["answered_at"])})
        uow.audit(caller.sub, caller.role.value, "round.question.answered",
                  f"/v1/rounds/{round_id}/questions/{question_id}")
        return question_public(q)
