"""The commitment a round publishes when it closes or is cancelled (trust.md section 5),
the bid audit entries that join the trail at the close (section 6), and inclusion proofs.

Leaves are computed from the bids' fields whenever needed, never stored.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from bidding_service.awards import repository as repo
from bidding_service.bids.amounts import bid_amount
from bidding_service.bids.receipts import bid_leaves
from bidding_service.bids.sealed import Sealer
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds.domain import BIDDING_STATUSES, bids_sealed
from shared.auth import Principal, Role
from shared.db import Conn
from shared.errors import Conflict, Forbidden, NotFound
from shared.merkle import Proof, Tree
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class Commitment:
    root: str
    size: int
    tree: Tree
    index: dict[uuid.UUID, int]

    def event_fields(self) -> dict[str, object]:
        return {"bids_root": self.root, "bids_tree_size": self.size}


def merkle_order(bids: Sequence[asyncpg.Record]) -> list[asyncpg.Record]:
    """By `submitted_at`, then by bid id as lowercase text."""
    return sorted(bids, key=lambda b: (b["submitted_at"], str(b["id"])))


async def compute(conn: Conn, sealer: Sealer, round_id: uuid.UUID) -> Commitment:
    bids = merkle_order(await repo.committed_bids(conn, round_id))
    tree = Tree(bid_leaves(round_id, ((b["id"], b["supplier_id"], bid_amount(sealer, b),
                                       b["submitted_at"]) for b in bids)))
    return Commitment(tree.root().hex(), tree.size, tree,
                      {b["id"]: i for i, b in enumerate(bids)})


async def commit_round(uow: UnitOfWork, sealer: Sealer, round_id: uuid.UUID, *,
                       release_audit: bool) -> Commitment:
    """Compute and store the round's commitment; with `release_audit` (the close), queue
    its held-back bid audit entries into the trail in Merkle order, each with its `at`."""
    conn = uow.conn
    commitment = await compute(conn, sealer, round_id)
    await repo.store_commitment(conn, round_id, commitment.root, commitment.size)
    if release_audit:
        held = sorted(await repo.take_held_audit(conn, round_id),
                      key=lambda e: (e["at"], str(e["bid_id"])))
        for e in held:
            uow.audit(e["actor"], e["actor_role"], e["action"], e["subject"], e["details"],
                      at=e["at"])
    # Proofs check the root they serve against the published one, so a tree cached by a
    # close that then rolls back is never used.
    _remember(round_id, commitment)
    return commitment


# A closed round's bids never change, so each process keeps a few trees for proofs.
_CACHE: OrderedDict[uuid.UUID, Commitment] = OrderedDict()
_CACHE_SIZE = 8  # a 100,000-bid tree takes about 40 MB


def _remember(round_id: uuid.UUID, commitment: Commitment) -> None:
    _CACHE[round_id] = commitment
    _CACHE.move_to_end(round_id)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)


async def proof(conn: Conn, sealer: Sealer, round_id: uuid.UUID, bid_id: uuid.UUID,
                published_root: str) -> Proof | None:
    """The inclusion proof of `bid_id` under the round's published root; None when the
    bid is not among the bids that root commits to."""
    commitment = _CACHE.get(round_id)
    if commitment is None or commitment.root != published_root:
        commitment = await compute(conn, sealer, round_id)
    _remember(round_id, commitment)
    index = commitment.index.get(bid_id)
    if index is None or commitment.root != published_root:
        return None
    return commitment.tree.prove(index)


async def bid_proof(db: asyncpg.Pool, sealer: Sealer, round_id: uuid.UUID, bid_id: uuid.UUID,
                    caller: Principal) -> dict[str, object]:
    """`GET /v1/rounds/{id}/bids/{bid_id}/proof`: for the bid's supplier and the center,
    once the round has published its commitment (a cancelled round's: the supplier only,
    since its bidders stay sealed)."""
    async with db.acquire() as conn:
        r = await rounds_repo.get_round(conn, round_id)
        if r is None:
            raise NotFound("the round")
        b = await conn.fetchrow("SELECT supplier_id FROM bids WHERE id = $1 AND round_id = $2",
                                bid_id, round_id)
        own = caller.role is Role.SUPPLIER and b is not None \
            and b["supplier_id"] == caller.supplier_id
        if caller.role is Role.SUPPLIER and b is not None and not own:
            raise Forbidden("this is not your bid")
        if r["bids_root"] is None or r["status"] in BIDDING_STATUSES:
            raise Conflict("proofs exist once the round has closed", slug="sealed")
        if bids_sealed(r["status"], r["closed_at"] is not None) and not own:
            raise Conflict("a cancelled round's bids stay sealed", slug="sealed")
        found = await proof(conn, sealer, round_id, bid_id, r["bids_root"])
    if found is None:
        raise NotFound("an inclusion proof of this bid under the round's published root")
    return found.to_json()
