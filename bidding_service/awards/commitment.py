"""The commitment a round publishes when it closes or is cancelled (trust.md section 5),
the bid audit entries that join the trail at the close (section 6), and inclusion proofs.

Leaves are computed from the bids' fields whenever needed, never stored. The close
streams them into the root (`compute_root`); a proof builds the whole tree once and
keeps it for the next proofs (`compute`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from bidding_service.awards import repository as repo
from bidding_service.bids.amounts import bid_amount
from bidding_service.bids.receipts import bid_leaves
from bidding_service.bids.sealed import Sealer, bid_ad
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds.domain import BIDDING_STATUSES, bids_sealed
from shared.auth import Principal, Role
from shared.db import Conn
from shared.errors import Conflict, Forbidden, NotFound
from shared.merkle import Proof, RootBuilder, Tree
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class Commitment:
    root: str
    size: int

    def event_fields(self) -> dict[str, object]:
        return {"bids_root": self.root, "bids_tree_size": self.size}


@dataclass(frozen=True)
class ProvableCommitment(Commitment):
    """A commitment with its whole tree, for inclusion proofs."""

    tree: Tree
    index: dict[uuid.UUID, int]


# Bids hashed per fetch of the close's cursor: the close never holds more of them.
CHUNK = 5000
# Smaller chunks are hashed on the event loop (a thread hop would cost more than them).
INLINE_MAX = 500


def _leaves(sealer: Sealer, round_id: uuid.UUID, rows: Sequence[asyncpg.Record],
            ) -> list[bytes]:
    """The receipt leaves of bids rows (amounts decrypted in memory, never kept)."""
    sealed = iter(sealer.open_amounts(
        (b[3], bid_ad(round_id, b[2], b[0])) for b in rows if b[3] is not None))
    return bid_leaves(round_id, ((b[0], b[2], next(sealed) if b[3] is not None
                                  else bid_amount(sealer, b), b[5]) for b in rows))


async def compute(conn: Conn, sealer: Sealer, round_id: uuid.UUID) -> ProvableCommitment:
    """The round's whole tree (for proofs): every leaf in memory."""
    bids = await conn.fetch(repo.COMMITTED_BIDS, round_id)
    tree = Tree(_leaves(sealer, round_id, bids))
    return ProvableCommitment(tree.root().hex(), tree.size, tree,
                              {b["id"]: i for i, b in enumerate(bids)})


async def compute_root(conn: Conn, sealer: Sealer, round_id: uuid.UUID) -> Commitment:
    """The round's root and size, the bids streamed through a cursor (`conn` must be in
    a transaction) and folded into the root chunk by chunk: a 100,000-bid close holds one
    chunk of rows and 17 hashes, never every leaf or the tree."""
    builder = RootBuilder()

    def fold(rows: Sequence[asyncpg.Record]) -> None:
        builder.extend(_leaves(sealer, round_id, rows))

    cursor = await conn.cursor(repo.COMMITTED_BIDS, round_id)
    while rows := await cursor.fetch(CHUNK):
        if len(rows) > INLINE_MAX:
            await asyncio.to_thread(fold, rows)
        else:
            fold(rows)
        if len(rows) < CHUNK:
            break
    return Commitment(builder.root().hex(), builder.size)


async def commit_round(uow: UnitOfWork, sealer: Sealer, round_id: uuid.UUID) -> Commitment:
    """Compute and store the commitment of a round cancelled before its close (its bids
    and their audit entries stay sealed; the close commits through `awards.tally`)."""
    conn = uow.conn
    commitment = await compute_root(conn, sealer, round_id)
    await repo.store_commitment(conn, round_id, commitment.root, commitment.size)
    return commitment


# A closed round's bids never change, so each process keeps a few trees for proofs
# (built on the first proof asked for, checked against the published root each time).
_CACHE: OrderedDict[uuid.UUID, ProvableCommitment] = OrderedDict()
_CACHE_SIZE = 8  # a 100,000-bid tree takes about 40 MB


def _remember(round_id: uuid.UUID, commitment: ProvableCommitment) -> None:
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
