"""Receipts, the commitment at the close, inclusion proofs and the audit chain of the
bidding service, over real HTTP, RabbitMQ and PostgreSQL (trust.md sections 2, 4-6).

Receipts and proofs are checked here with hashlib and cryptography directly, never with
the project's own helpers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from bidding_service.bids.amounts import bid_amount
from bidding_service.bids.sealed import Sealer, bid_ad
from bidding_service.settings import BiddingSettings
from procure.cli import app as procure_app
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import audit_trail, bid, launch, wait_status
from tests.support import ROOT, EventTap

Auth = Callable[..., dict[str, str]]


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-1")


def supplier(auth: Auth, member_id: uuid.UUID) -> dict[str, str]:
    return auth("supplier", sub=f"s-{member_id}", supplier_id=str(member_id))


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def independent_receipt_check(receipt: dict[str, Any], jwks: dict[str, Any]) -> None:
    """trust.md section 4, from scratch: raises when the receipt does not verify."""
    fields = {k: receipt[k] for k in ("amount", "bid_id", "round_id", "submitted_at",
                                      "supplier_id")}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    leaf = hashlib.sha256(text.encode("utf-8")).digest()
    if leaf.hex() != receipt["leaf"]:
        raise InvalidSignature("leaf")
    (key,) = [k for k in jwks["keys"] if k["kid"] == receipt["key_id"]]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["use"] == "sig"
    Ed25519PublicKey.from_public_bytes(_unb64url(key["x"])).verify(
        _unb64url(receipt["signature"]), leaf)


def readme_recipe() -> Callable[..., None]:
    """The few-line check the README gives suppliers' own software, run as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = text.split("A supplier's own software needs nothing but")[1]
    code = code.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    check: Callable[..., None] = scope["check"]
    return check


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_path(leaf_hash: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """RFC 6962 section 2.1.1 recursion, independent of the service's verifier."""
    if size == 1:
        assert not path
        return leaf_hash
    k = 1 << ((size - 1).bit_length() - 1)
    if index < k:
        return _node(root_from_path(leaf_hash, index, k, path[:-1]), path[-1])
    return _node(path[-1], root_from_path(leaf_hash, index - k, size - k, path[:-1]))


def proof_leads_to(receipt: dict[str, Any], proof: dict[str, Any], root: str) -> bool:
    leaf_hash = hashlib.sha256(b"\x00" + bytes.fromhex(receipt["leaf"])).digest()
    try:
        got = root_from_path(leaf_hash, proof["leaf_index"], proof["tree_size"],
                             [bytes.fromhex(h) for h in proof["audit_path"]])
    except (AssertionError, IndexError):
        return False
    return got.hex() == root == proof["root"]


def leaf_of_bid(b: dict[str, Any]) -> str:
    """A bid as the API shows it -> its receipt's leaf (hex), computed from scratch."""
    at = datetime.fromisoformat(b["submitted_at"]).astimezone(UTC)
    fields = {"round_id": b["round_id"], "bid_id": b["id"], "supplier_id": b["supplier_id"],
              "amount": b["amount"], "submitted_at": at.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


async def _post_bid(client: TestClient, headers: dict[str, str], round_id: str, amount: str,
                    key: str | None = None) -> tuple[int, dict[str, Any]]:
    extra = {"Idempotency-Key": key} if key else {}
    async with client.post(f"/v1/rounds/{round_id}/bids", json={"amount": amount},
                           headers={**headers, **extra}) as resp:
        return resp.status, dict(await resp.json())


async def test_receipts_verify_replays_match_and_proofs_lead_to_the_published_root(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    async with bidding.get("/v1/keys") as resp:  # public
        assert resp.status == 200
        jwks = await resp.json()
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("round.#", "award.#")) as tap:
        rnd = await launch(bidding, center(auth), round_body(pool, seconds=3))
        rid = rnd["id"]
        assert rnd["bids_root"] is None
        status, first = await _post_bid(bidding, supplier(auth, ms[0].id), rid, "91000.5", "k1")
        assert status == 201, first
        status, replay = await _post_bid(bidding, supplier(auth, ms[0].id), rid, "91000.5", "k1")
        assert status == 201 and replay["receipt"] == first["receipt"]
        receipts = [first["receipt"]]
        for m, amount in ((ms[1], "95000.00"), (ms[1], "90000.00"), (ms[2], "99000.00")):
            status, body = await bid(bidding, supplier(auth, m.id), rid, amount)
            assert status == 201, body
            receipts.append(body["receipt"])
        for receipt in receipts:
            independent_receipt_check(receipt, jwks)
        r0 = receipts[0]
        assert r0["amount"] == "91000.50" and r0["submitted_at"].endswith("+00:00")
        assert len(r0["submitted_at"].split(".")[1]) == len("123456+00:00")
        # Tampered receipts fail.
        for tampered in ({**r0, "amount": "1.00"}, {**r0, "signature": receipts[1]["signature"]}):
            try:
                independent_receipt_check(tampered, jwks)
            except InvalidSignature:
                pass
            else:
                raise AssertionError(f"a tampered receipt verified: {tampered}")
        # No proof while the round is open.
        async with bidding.get(f"/v1/rounds/{rid}/bids/{r0['bid_id']}/proof",
                               headers=supplier(auth, ms[0].id)) as resp:
            assert resp.status == 409
        view = await wait_status(bidding, rid, {"awarded"}, {})
        await tap.wait_for(lambda ev: any(e["type"] == "award.published"
                                          and e["data"]["round_id"] == rid for e in ev))
    closed = next(e for e in tap.of_type("round.closed") if e["data"]["round_id"] == rid)
    published = next(e for e in tap.of_type("award.published") if e["data"]["round_id"] == rid)
    root = closed["data"]["bids_root"]
    assert closed["data"]["bids_tree_size"] == 4  # the superseded bid counts too
    assert view["bids_root"] == root and view["bids_tree_size"] == 4
    assert view["award"]["bids_root"] == root and published["data"]["bids_root"] == root
    async with bidding.get(f"/v1/awards/{view['award']['id']}") as resp:
        award = await resp.json()
    assert award["bids_root"] == root and award["bids_tree_size"] == 4
    assert award["audit_head"] == published["data"]["audit_head"]
    seen = set()
    for receipt, m in zip(receipts, (ms[0], ms[1], ms[1], ms[2]), strict=True):
        async with bidding.get(f"/v1/rounds/{rid}/bids/{receipt['bid_id']}/proof",
                               headers=supplier(auth, m.id)) as resp:
            proof = await resp.json()
            assert resp.status == 200, proof
        assert proof_leads_to(receipt, proof, root)
        readme_recipe()(receipt, jwks, proof, root)
        assert not proof_leads_to({**receipt, "leaf": hashlib.sha256(b"x").hexdigest()},
                                  proof, root)
        seen.add(proof["leaf_index"])
    assert seen == {0, 1, 2, 3}
    async with bidding.get(f"/v1/rounds/{rid}/bids/{r0['bid_id']}/proof",
                           headers=center(auth)) as resp:
        assert resp.status == 200
    async with bidding.get(f"/v1/rounds/{rid}/bids/{r0['bid_id']}/proof",
                           headers=supplier(auth, ms[2].id)) as resp:
        assert resp.status == 403
    async with bidding.get(f"/v1/rounds/{rid}/bids/{uuid.uuid4()}/proof",
                           headers=center(auth)) as resp:
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"


async def test_the_open_rounds_bidders_never_appear_in_the_audit_trail(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings, tmp_path: Any) -> None:
    """Issue 10 item 2 (trust.md section 2): GET /v1/audit named every bidder live."""
    ms = members(2)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=60))
    rid = rnd["id"]
    status, body = await bid(bidding, supplier(auth, ms[0].id), rid, "50000.00")
    assert status == 201
    async with bidding.get("/v1/audit", params={"limit": "200"}, headers=center(auth)) as resp:
        text = await resp.text()
    # Neither the bid, nor its bidder, nor a bid.submitted entry about this round.
    assert f"/v1/rounds/{rid}/bids/" not in text and body["id"] not in text
    assert f"s-{ms[0].id}" not in text and str(ms[0].id) not in text
    env = {"BIDDING_URL": str(bidding.make_url("")).rstrip("/"),
           "JWT_SECRET": bidding_settings.jwt_secret.get_secret_value()}
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(body))
    result = await asyncio.to_thread(CliRunner().invoke, procure_app,
                                     ["verify", str(receipt_file)], env=env)
    assert result.exit_code == 6 and "NOT YET" in result.output, result.output
    # A cancelled round publishes its commitment; its bids' entries stay sealed for good.
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("round.cancelled",)) as tap:
        async with bidding.post(f"/v1/rounds/{rid}/cancel", json={"reason": "budget cut"},
                                headers=center(auth)) as resp:
            cancelled = await resp.json()
            assert resp.status == 200, cancelled
        events = await tap.wait_for(lambda ev: any(e["data"]["round_id"] == rid for e in ev))
    event = next(e for e in events if e["data"]["round_id"] == rid)
    leaf = hashlib.sha256(b"\x00" + bytes.fromhex(body["receipt"]["leaf"])).hexdigest()
    assert event["data"]["bids_root"] == leaf == cancelled["bids_root"]
    assert event["data"]["bids_tree_size"] == 1
    async with bidding.get("/v1/audit", params={"limit": "200"}, headers=center(auth)) as resp:
        text = await resp.text()
    assert f"/v1/rounds/{rid}/bids/" not in text and f"s-{ms[0].id}" not in text
    # Its supplier can still prove its bid was in the committed set; the center cannot ask.
    result = await asyncio.to_thread(CliRunner().invoke, procure_app,
                                     ["verify", str(receipt_file)], env=env)
    assert result.exit_code == 0 and "included: leaf 0 of 1" in result.output, result.output
    async with bidding.get(f"/v1/rounds/{rid}/bids/{body['id']}/proof",
                           headers=center(auth)) as resp:
        assert resp.status == 409


async def test_a_round_without_bids_commits_to_the_empty_tree(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    pool = await feed.pool(members(2))
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=2))
    view = await wait_status(bidding, rnd["id"], {"failed"}, center(auth))
    assert view["bids_tree_size"] == 0
    assert view["bids_root"] == hashlib.sha256(b"").hexdigest()


async def _audit(bidding: TestClient, auth: Auth) -> list[dict[str, Any]]:
    return await audit_trail(bidding, center(auth))


async def test_bid_entries_join_the_chain_at_the_close_in_merkle_order(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=3))
    rid = rnd["id"]
    bodies = await asyncio.gather(*(bid(bidding, supplier(auth, m.id), rid, "80000.00")
                                    for m in ms))
    assert all(status == 201 for status, _ in bodies)
    view = await wait_status(bidding, rid, {"awarded"}, {})
    trail = await _audit(bidding, auth)
    # Chained without gaps, each link from the one before (computed here from scratch).
    previous = "0" * 64
    for expected_seq, e in enumerate(trail, start=trail[0]["seq"]):
        assert e["seq"] == expected_seq
        content = {k: e[k] for k in ("seq", "at", "actor", "actor_role", "action", "subject",
                                     "details")}
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert e["content_hash"] == hashlib.sha256(text.encode()).hexdigest()
        if e["seq"] > 1:
            assert e["hash"] == hashlib.sha256((previous + e["content_hash"]).encode()
                                               ).hexdigest()
        previous = e["hash"]
    async with bidding.get("/v1/audit/head") as resp:  # public
        head = await resp.json()
    assert head["seq"] >= trail[-1]["seq"]
    assert {"seq": trail[-1]["seq"], "hash": trail[-1]["hash"]} == head or \
        head["seq"] > trail[-1]["seq"]
    mine = [e for e in trail if e["subject"].startswith(f"/v1/rounds/{rid}/bids/")]
    receipts = sorted((b["receipt"] for _, b in bodies),
                      key=lambda r: (r["submitted_at"], r["bid_id"]))
    assert [e["subject"].rsplit("/", 1)[1] for e in mine] == [r["bid_id"] for r in receipts]
    assert [e["at"] for e in mine] == [r["submitted_at"] for r in receipts]
    closed = next(e for e in trail if e["action"] == "round.closed"
              and e["subject"] == f"/v1/rounds/{rid}")
    assert closed["seq"] == mine[-1]["seq"] + 1
    assert closed["details"]["bids_root"] == view["bids_root"]
    # The award notice's head covers the close's entries and is a link of the chain.
    notice = view["award"]["audit_head"]
    assert notice["seq"] >= closed["seq"]
    assert [e["hash"] for e in trail if e["seq"] == notice["seq"]] == [notice["hash"]]


async def test_procure_verify_and_audit_verify_catch_tampering(
        bidding: TestClient, feed: PoolFeed, auth: Auth, bidding_settings: BiddingSettings,
        tmp_path: Any) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=3))
    rid = rnd["id"]
    receipts = []
    for m, amount in zip(ms, ("70000.00", "71000.00", "72000.00"), strict=True):
        status, body = await bid(bidding, supplier(auth, m.id), rid, amount)
        assert status == 201
        receipts.append(body)
    conn = await asyncpg.connect(bidding_settings.database_url,
                                 server_settings={"search_path": bidding_settings.db_schema})
    try:
        # A simulated insider deletes the third bid before the close.
        await conn.execute("DELETE FROM bids WHERE id = $1", uuid.UUID(receipts[2]["id"]))
        await wait_status(bidding, rid, {"awarded"}, {})
        base = str(bidding.make_url("")).rstrip("/")
        env = {"BIDDING_URL": base, "POOL_URL": base,
               "JWT_SECRET": bidding_settings.jwt_secret.get_secret_value()}
        runner = CliRunner()

        def procure(*args: str) -> Any:
            return runner.invoke(procure_app, list(args), env=env)

        good, gone = tmp_path / "good.json", tmp_path / "gone.json"
        good.write_text(json.dumps(receipts[0]))
        gone.write_text(json.dumps(receipts[2]["receipt"]))
        result = await asyncio.to_thread(procure, "verify", str(good), "--download")
        assert result.exit_code == 0, result.output
        assert "included: leaf" in result.output
        assert (tmp_path / "good.evidence.json").exists()
        # Offline from the saved evidence: no service at all.
        offline_env = {**env, "BIDDING_URL": "http://127.0.0.1:9"}
        result = await asyncio.to_thread(runner.invoke, procure_app,
                                         ["verify", str(good), "--offline"], env=offline_env)
        assert result.exit_code == 0, result.output
        result = await asyncio.to_thread(procure, "verify", str(gone), "--download")
        assert result.exit_code == 5, result.output
        assert "receipt OK" in result.output and "NOT INCLUDED" in result.output
        tampered = tmp_path / "tampered.json"
        tampered.write_text(json.dumps({**receipts[0]["receipt"], "amount": "1.00"}))
        result = await asyncio.to_thread(procure, "verify", str(tampered))
        assert result.exit_code == 4 and "RECEIPT INVALID" in result.output, result.output

        result = await asyncio.to_thread(procure, "audit", "verify", "--service", "bidding")
        assert result.exit_code == 0, result.output
        assert "\nOK: " in "\n" + result.output
        # Edit one audit row behind the service's back: procure names that row.
        seq = await conn.fetchval("SELECT min(seq) FROM audit_log WHERE action = 'round.launched'"
                                  " AND subject = $1", f"/v1/rounds/{rid}")
        original = await conn.fetchval("SELECT details FROM audit_log WHERE seq = $1", seq)
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        try:
            await conn.execute("UPDATE audit_log SET details = '{\"invited\": 99}'"
                               " WHERE seq = $1", seq)
            result = await asyncio.to_thread(procure, "audit", "verify", "--service", "bidding")
            assert result.exit_code == 4, result.output
            assert f"BROKEN at entry {seq} (round.launched" in result.output
        finally:
            await conn.execute("UPDATE audit_log SET details = $2::text::jsonb WHERE seq = $1",
                               seq, original)
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        result = await asyncio.to_thread(procure, "audit", "verify", "--service", "bidding")
        assert result.exit_code == 0, result.output
    finally:
        await conn.close()


async def test_every_bid_of_a_thousand_bid_round_has_a_proof_that_verifies(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(10)
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=4))
    rid = uuid.UUID(rnd["id"])
    status, body = await bid(bidding, supplier(auth, ms[0].id), str(rid), "99999.00")
    assert status == 201
    conn = await asyncpg.connect(bidding_settings.database_url,
                                 server_settings={"search_path": bidding_settings.db_schema})
    try:
        # 999 more bids as the bid path stores them, sealed (faster than 999 requests),
        # some at one and the same instant, so the bid id breaks the ties of the Merkle
        # order.
        sealer = Sealer(bidding_settings.bid_key())
        now = await conn.fetchval("SELECT clock_timestamp()")
        extra = []
        for g in range(1, 1000):
            bid_id, supplier_id = uuid.uuid4(), ms[g % 10].id
            extra.append((bid_id, rid, supplier_id,
                          sealer.seal_amount(Decimal(90000 - g), bid_ad(rid, supplier_id, bid_id)),
                          now - timedelta(seconds=g % 7)))
        await conn.executemany(
            "INSERT INTO bids (id, round_id, supplier_id, amount_ct, submitted_at)"
            " VALUES ($1, $2, $3, $4, $5)", extra)
        await wait_status(bidding, str(rid), {"awarded", "failed"}, center(auth))
        rows = [{**r, "amount": bid_amount(sealer, r)} for r in await conn.fetch(
            "SELECT id, round_id, supplier_id, amount_ct, legacy_amount, submitted_at FROM bids"
            " WHERE round_id = $1", rid)]
    finally:
        await conn.close()
    async with bidding.get(f"/v1/rounds/{rid}", headers=center(auth)) as resp:
        view = await resp.json()
    assert view["bids_tree_size"] == len(rows) == 1000
    root = view["bids_root"]
    indices = set()
    for row in rows:
        fields = {"round_id": str(rid), "bid_id": str(row["id"]),
                  "supplier_id": str(row["supplier_id"]), "amount": f"{row['amount']:.2f}",
                  "submitted_at": row["submitted_at"].astimezone(UTC).strftime(
                      "%Y-%m-%dT%H:%M:%S.%f+00:00")}
        leaf = hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":"))
                              .encode()).hexdigest()
        async with bidding.get(f"/v1/rounds/{rid}/bids/{row['id']}/proof",
                               headers=center(auth)) as resp:
            proof = await resp.json()
        assert proof_leads_to({"leaf": leaf}, proof, root), row["id"]
        indices.add(proof["leaf_index"])
        if str(row["id"]) == body["id"]:
            assert leaf == body["receipt"]["leaf"]
    assert indices == set(range(1000))
    order = sorted(rows, key=lambda r: (r["submitted_at"], str(r["id"])))
    async with bidding.get(f"/v1/rounds/{rid}/bids/{order[0]['id']}/proof",
                           headers=center(auth)) as resp:
        assert (await resp.json())["leaf_index"] == 0
