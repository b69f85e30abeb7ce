"""A bid storm against one round while it closes, and the checks of its invariants."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp

from bidding_service.awards.domain import Candidate, evaluate
from tests.integration.bidding.conftest import Member


@dataclass
class StormResult:
    accepted: dict[uuid.UUID, list[tuple[str, str]]] = field(default_factory=dict)
    refused: dict[uuid.UUID, list[str]] = field(default_factory=dict)
    other: list[tuple[int, str]] = field(default_factory=list)


async def storm(clients: Sequence[Any], round_id: str, bidders: list[Member],
                headers: Callable[[Member], dict[str, str]], start: Decimal) -> StormResult:
    """Each bidder keeps lowering its bid until the round refuses it as not open."""
    result = StormResult()

    async def one(i: int, m: Member) -> None:
        client = clients[i % len(clients)]
        amount = start - Decimal(random.randint(0, 500))
        result.accepted[m.id], result.refused[m.id] = [], []
        while True:
            text = f"{amount:.2f}"
            try:
                async with client.post(f"/v1/rounds/{round_id}/bids", json={"amount": text},
                                       headers=headers(m)) as resp:
                    body = await resp.json()
                    status = resp.status
            except aiohttp.ClientError as exc:  # a refused connection is not an answer
                result.other.append((0, repr(exc)))
                return
            if status == 201:
                result.accepted[m.id].append((body["id"], text))
            elif status == 409 and body["type"].endswith("round-not-open"):
                result.refused[m.id].append(text)
                return
            else:
                result.other.append((status, str(body)))
                return
            amount -= Decimal(random.randint(1, 300))
            await asyncio.sleep(random.random() * 0.05)

    await asyncio.gather(*(one(i, m) for i, m in enumerate(bidders)))
    return result


def expected_winner(result: StormResult, bidders: list[Member], deduction: Decimal,
                    bids: list[dict[str, Any]]) -> uuid.UUID:
    """The lowest evaluated last bid among those answered 201 (times from the server)."""
    at = {b["id"]: b["submitted_at"] for b in bids}
    from datetime import datetime

    cands = []
    for m in bidders:
        accepted = result.accepted[m.id]
        if not accepted:
            continue
        bid_id, amount = accepted[-1]
        cands.append(Candidate(m.id, m.name, m.credit_code, m.kind, m.size, Decimal(amount),
                               datetime.fromisoformat(at[bid_id])))
    return evaluate(cands, deduction)[0].candidate.supplier_id


def check_storm(result: StormResult, bids: list[dict[str, Any]], bidders: list[Member],
                deduction: Decimal, award: dict[str, Any], ranking: list[dict[str, Any]]) -> None:
    assert result.other == []
    accepted_ids = {bid_id for v in result.accepted.values() for bid_id, _ in v}
    stored_ids = {b["id"] for b in bids}
    # Every 201 is stored, nothing else is.
    assert stored_ids == accepted_ids
    refused = {(str(sid), amount) for sid, amounts in result.refused.items() for amount in amounts}
    stored = {(b["supplier_id"], b["amount"]) for b in bids}
    assert not (refused & stored)
    assert all(result.refused[m.id] for m in bidders), "every bidder ended on a refusal"
    # The evaluation used exactly each bidder's last accepted bid.
    last = {str(m.id): result.accepted[m.id][-1][1] for m in bidders if result.accepted[m.id]}
    assert {r["supplier_id"]: r["amount"] for r in ranking} == last
    winner = expected_winner(result, bidders, deduction, bids)
    assert award["supplier"]["id"] == str(winner)
    assert award["amount"] == last[str(winner)]
