"""`procure verify` (a bid receipt and its inclusion proof, trust.md sections 4 and 5) and
`procure audit verify` (a service's audit chain, section 6).

The checks are pure functions of what was downloaded, so a receipt can be verified
offline from saved evidence; they use SHA-256 and Ed25519 only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bidding_service.bids.receipts import LEAF_FIELDS, verify_receipt
from procure.client import ServiceClient
from procure.errors import ApiError, ProcureError
from shared.audit_chain import GENESIS, first_break
from shared.merkle import verify_inclusion

# Exit codes of `procure verify` and `procure audit verify`.
OK = 0
RECEIPT_INVALID = 4
NOT_INCLUDED = 5
NOT_YET = 6
CHAIN_BROKEN = 4


@dataclass
class Verdict:
    code: int
    lines: list[str] = field(default_factory=list)


def load_receipt(data: Any) -> dict[str, Any]:
    """A receipt file holds the receipt, or the whole 201 bid body that carries it."""
    if isinstance(data, dict) and isinstance(data.get("receipt"), dict):
        data = data["receipt"]
    if not isinstance(data, dict) or any(k not in data for k in (*LEAF_FIELDS, "signature")):
        raise ProcureError("that file holds no bid receipt (round_id, bid_id, supplier_id, "
                           "amount, submitted_at, leaf, key_id, signature)")
    return data


async def download_evidence(bidding: ServiceClient, receipt: Mapping[str, Any],
                            token: str) -> dict[str, Any]:
    """The service's key set, the round as the bid's supplier sees it, and the proof."""
    keys = await bidding.get("/v1/keys")
    rnd = await bidding.get(f"/v1/rounds/{receipt['round_id']}", token=token)
    evidence: dict[str, Any] = {"keys": keys, "round": rnd, "proof": None}
    if rnd.get("bids_root") is not None:
        try:
            evidence["proof"] = await bidding.get(
                f"/v1/rounds/{receipt['round_id']}/bids/{receipt['bid_id']}/proof", token=token)
        except ApiError as exc:
            if exc.status != 404:
                raise
            evidence["proof"] = {"missing": exc.detail or exc.title}
    return evidence


def check(receipt: Mapping[str, Any], evidence: Mapping[str, Any]) -> Verdict:
    """Verify `receipt` against downloaded `evidence`; no network."""
    problem = verify_receipt(receipt, evidence.get("keys") or {})
    if problem is not None:
        return Verdict(RECEIPT_INVALID, [f"RECEIPT INVALID: {problem}"])
    lines = [f"receipt OK: bid {receipt['bid_id']} of round {receipt['round_id']}, "
             f"{receipt['amount']} at {receipt['submitted_at']}, signed by key "
             f"{receipt['key_id']}"]
    rnd = evidence.get("round") or {}
    root, size = rnd.get("bids_root"), rnd.get("bids_tree_size")
    if root is None or size is None:
        lines.append(f"NOT YET: the round is {rnd.get('status', 'unknown')} and has published "
                     "no commitment; verify again after its close")
        return Verdict(NOT_YET, lines)
    published = {("round", root)}
    award = rnd.get("award")
    if isinstance(award, dict) and award.get("bids_root") is not None:
        published.add(("award", award["bids_root"]))
    if len({r for _, r in published}) != 1:
        return Verdict(NOT_INCLUDED, [*lines, "NOT INCLUDED: the round and its award publish "
                                      f"different roots: {sorted(published)}"])
    proof = evidence.get("proof") or {}
    if "missing" in proof or not proof:
        return Verdict(NOT_INCLUDED, [*lines, "NOT INCLUDED: the service has no inclusion "
                                      f"proof of this bid under the published root {root} "
                                      f"({size} bids): it was not in the evaluated set"])
    try:
        ok = (proof["root"] == root and proof["tree_size"] == size and verify_inclusion(
            bytes.fromhex(str(receipt["leaf"])), int(proof["leaf_index"]), int(size),
            [bytes.fromhex(h) for h in proof["audit_path"]], bytes.fromhex(root)))
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        return Verdict(NOT_INCLUDED, [*lines, "NOT INCLUDED: the proof does not lead from this "
                                      f"receipt's leaf to the published root {root}"])
    lines.append(f"included: leaf {proof['leaf_index']} of {size} under bids_root {root}"
                 + (" (the round's and the award's)" if len(published) > 1 else ""))
    return Verdict(OK, lines)


async def verify_audit(client: ServiceClient, token: str) -> Verdict:
    """Walk the whole audit trail through the API and check every link."""
    head = await client.get("/v1/audit/head")  # first: entries may be appended meanwhile
    entries = [e async for e in client.pages("/v1/audit", token=token)]
    entries.sort(key=lambda e: int(e["seq"]))
    legacy = [e for e in entries if e.get("hash") is None]
    chained = [e for e in entries if e.get("hash") is not None]
    start = int(chained[0]["seq"]) if chained else int(head["seq"]) + 1
    if legacy and max(int(e["seq"]) for e in legacy) >= start:
        first = next(e for e in legacy if int(e["seq"]) >= start)
        return Verdict(CHAIN_BROKEN, [f"BROKEN at entry {first['seq']}: it carries no hash"])
    bad, why, seq, last = first_break(chained, start, GENESIS)
    if bad is not None:
        entry = next((e for e in chained if int(e["seq"]) == bad), None)
        what = f" ({entry['action']} {entry['subject']} at {entry['at']})" if entry else ""
        return Verdict(CHAIN_BROKEN, [f"BROKEN at entry {bad}{what}: {why}"])
    at_head = next((e for e in chained if int(e["seq"]) == int(head["seq"])), None)
    if chained and (at_head is None or at_head["hash"] != head["hash"]):
        return Verdict(CHAIN_BROKEN, [f"BROKEN: the trail ends at entry {seq} and does not "
                                      f"reach the published head {head['seq']} {head['hash']}"])
    lines = [f"OK: {len(chained)} entries chained, head seq {seq} hash {last}"]
    if legacy:
        lines.append(f"({len(legacy)} older entries predate the chain)")
    return Verdict(OK, lines)
