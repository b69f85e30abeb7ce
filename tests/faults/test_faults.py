"""Faults injected into the running system, then the invariants:
every accepted bid evaluated, one award per round, every finance event delivered
(exactly once after dedupe by id), nothing stuck in an outbox, poison in the .dlq,
and the services ready again by themselves."""

from __future__ import annotations

import asyncio
import random
import signal
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from bidding_service.bids.amounts import bid_amount
from bidding_service.bids.sealed import Sealer
from bidding_service.settings import BiddingSettings
from tests.faults.system import System, rabbitmqctl, wait_for

pytestmark = pytest.mark.e2e


@dataclass
class Bids:
    accepted: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    refused: dict[str, list[str]] = field(default_factory=dict)
    server_errors: list[tuple[int, str]] = field(default_factory=list)
    retries: int = 0


async def bidder(system: System, round_id: str, supplier_id: str, start: Decimal,
                 out: Bids, pace: float = 0.05) -> None:
    """Lower the bid until the round refuses it; retry with the same Idempotency-Key
    whenever no definitive answer came back (connection lost, 503)."""
    assert system.http is not None
    headers = system.supplier_headers(supplier_id)
    amount = start - Decimal(random.randint(0, 999))
    out.accepted[supplier_id], out.refused[supplier_id] = [], []
    while True:
        text = f"{amount:.2f}"
        key = str(uuid.uuid4())
        status, body = 0, {}
        for _ in range(100):
            try:
                async with system.http.post(
                        f"{system.bidding_url()}/v1/rounds/{round_id}/bids",
                        json={"amount": text}, headers={**headers, "Idempotency-Key": key},
                        timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    status, body = resp.status, await resp.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            if status in (0, 503):
                out.retries += 1
                await asyncio.sleep(0.1)
                continue
            break
        if status == 201:
            out.accepted[supplier_id].append((body["id"], text))
        elif status == 409 and body["type"].endswith("round-not-open"):
            out.refused[supplier_id].append(text)
            return
        else:
            out.server_errors.append((status, str(body)[:200]))
            return
        amount -= Decimal(random.randint(1, 500))
        await asyncio.sleep(random.random() * pace)


async def check_invariants(system: System, bids: dict[str, Bids]) -> dict[str, Any]:
    """The invariants after a fault; returns figures for the report."""
    await system.all_ready(timeout=60)
    for round_id in bids:
        await system.wait_round(round_id, {"awarded", "failed", "accepted", "reawarded"})
    await system.wait_outbox_empty(timeout=60)
    figures: dict[str, Any] = {"accepted": 0, "retries": 0}
    sealer = Sealer(BiddingSettings(**{k.lower(): v for k, v in system.bidding_env.items()})
                    .bid_key())
    for round_id, b in bids.items():
        assert b.server_errors == [], b.server_errors
        figures["accepted"] += sum(len(v) for v in b.accepted.values())
        figures["retries"] += b.retries
        # Amounts are sealed at rest: opened with the processes' (development) key.
        stored = {str(r["id"]): (str(r["supplier_id"]), f"{bid_amount(sealer, r):.2f}",
                                 r["valid"])
                  for r in await system.sql(
                      "SELECT id, round_id, supplier_id, amount_ct, legacy_amount, valid"
                      f" FROM {system.bidding_schema}.bids WHERE round_id = $1",
                      uuid.UUID(round_id))}
        accepted = {bid_id: (sid, amount) for sid, v in b.accepted.items() for bid_id, amount in v}
        # Every bid answered 201 is stored, and nothing else is.
        assert set(stored) == set(accepted)
        assert all(stored[i][:2] == accepted[i] for i in accepted)
        # The evaluation used each bidder's last accepted bid.
        ranking = await system.sql(
            f"SELECT supplier_id, amount FROM {system.bidding_schema}.round_results"
            " WHERE round_id = $1", uuid.UUID(round_id))
        last = {sid: v[-1][1] for sid, v in b.accepted.items() if v}
        assert {str(r["supplier_id"]): f"{r['amount']:.2f}" for r in ranking} == last
        # Exactly one close and one first award for the round.
        counts = {r["type"]: r["n"] for r in await system.sql(
            f"SELECT type, count(*) AS n FROM {system.bidding_schema}.outbox"
            " WHERE envelope->'data'->>'round_id' = $1 GROUP BY type", round_id)}
        assert counts.get("round.closed") == 1, counts
        assert counts.get("award.published", 0) <= 1, counts
        awards = await system.sql(f"SELECT count(*) AS n FROM {system.bidding_schema}.awards"
                                  " WHERE round_id = $1", uuid.UUID(round_id))
        assert awards[0]["n"] == counts.get("award.published", 0)
    # Finance received every award event; after dedupe by id, exactly the set sent.
    received = await system.drain_finance()
    ids = [e["id"] for e in received]
    assert set(ids) == set(await system.finance_event_ids())
    figures["finance_events"] = len(set(ids))
    figures["finance_duplicates"] = len(ids) - len(set(ids))
    return figures


async def test_broker_restart_while_rounds_close_and_members_change(system: System) -> None:
    pool, suppliers = await system.make_pool(6)
    rounds = [await system.launch(pool["id"], seconds=s) for s in (4, 5, 6)]
    bids = {r["id"]: Bids() for r in rounds}
    storm = asyncio.gather(*(bidder(system, r["id"], s["id"], Decimal("400000"), bids[r["id"]],
                                    pace=0.3)
                             for r in rounds for s in suppliers))
    await asyncio.sleep(2.5)
    rabbitmqctl("stop_app")
    try:
        # Membership changes while the broker is down: committed, events wait.
        victim = suppliers[-1]
        await system.call("POST", f"{system.pool_url()}/v1/pools/{pool['id']}/members/"
                          f"{victim['id']}/transitions", headers=system.center,
                          json={"to": "suspended", "reason": "fault drill"}, expect=200)
        await storm  # the rounds close while the broker is down
        assert await system.unsent() > 0
        for p in system.biddings:
            async with system.http.get(p.url + "/readyz") as resp:  # type: ignore[union-attr]
                assert resp.status == 503
    finally:
        rabbitmqctl("start_app")
    figures = await check_invariants(system, bids)
    # The suspension reached the bidding service's copy once the broker was back.
    await system.wait_eligible(pool["id"], {s["id"] for s in suppliers[:-1]})
    assert figures["finance_events"] >= 3


async def test_database_connections_killed_mid_traffic(system: System) -> None:
    pool, suppliers = await system.make_pool(20)
    rnd = await system.launch(pool["id"], seconds=5)
    bids = {rnd["id"]: Bids()}
    stop = asyncio.Event()
    killed: list[int] = []

    async def killer() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.4)
            killed.append(await system.kill_db_connections())

    task = asyncio.create_task(killer())
    await asyncio.gather(*(bidder(system, rnd["id"], s["id"], Decimal("300000"),
                                  bids[rnd["id"]]) for s in suppliers))
    await asyncio.sleep(1.0)  # kill through the close too
    stop.set()
    await task
    assert sum(killed) > 0
    figures = await check_invariants(system, bids)
    assert figures["accepted"] > len(suppliers)


async def test_bidding_process_sigkilled_mid_close(system: System) -> None:
    pool, suppliers = await system.make_pool(30)
    rnd = await system.launch(pool["id"], seconds=3)
    bids = {rnd["id"]: Bids()}
    closes_at = datetime.fromisoformat(rnd["closes_at"])
    storm = asyncio.gather(*(
        bidder(system, rnd["id"], s["id"], Decimal("300000"), bids[rnd["id"]])
        for s in suppliers))
    await asyncio.sleep(max(0.0, (closes_at - datetime.now(UTC)).total_seconds() - 0.05))
    victim = system.biddings[0]
    assert victim.proc is not None
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    await storm
    await system.restart(victim)
    await check_invariants(system, bids)


async def test_duplicates_out_of_order_and_poison(system: System) -> None:
    pool, suppliers = await system.make_pool(3)
    rnd = await system.launch(pool["id"], seconds=3)
    bids = {rnd["id"]: Bids()}
    await asyncio.gather(*(bidder(system, rnd["id"], s["id"], Decimal("100000"),
                                  bids[rnd["id"]], pace=0.5) for s in suppliers))
    await check_invariants(system, bids)
    # The same award.published delivered again changes nothing in the pool service.
    rows = await system.sql(f"SELECT envelope FROM {system.bidding_schema}.outbox"
                            " WHERE type = 'award.published' AND subject IN"
                            f" (SELECT id::text FROM {system.bidding_schema}.awards"
                            " WHERE round_id = $1)", uuid.UUID(rnd["id"]))
    award_event = rows[0]["envelope"]
    award_event = orjson.loads(award_event) if isinstance(award_event, str) else award_event
    before = await system.sql(f"SELECT count(*) AS n FROM {system.pool_schema}.inbox")
    for _ in range(3):
        await system.publish_raw("award.published", orjson.dumps(award_event))
    # An old membership event (lower version) arriving late is ignored.
    member = suppliers[0]
    stale = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/pool-service",
             "type": "pool.member.removed", "time": datetime.now(UTC).isoformat(),
             "datacontenttype": "application/json", "subject": pool["id"],
             "dataschemaversion": 1, "data": {
                 "pool_id": pool["id"], "pool_code": pool["code"],
                 "supplier": {k: member[k] for k in ("id", "name", "credit_code", "kind",
                                                     "size")},
                 "status": "removed", "reason": "stale", "ground": "other", "until": None,
                 "at": datetime.now(UTC).isoformat(), "version": 0}}
    await system.publish_raw("pool.member.removed", orjson.dumps(stale))
    # Poison for both services' queues.
    await system.publish_raw("award.published", b"\x00 not an event")
    await system.publish_raw("pool.member.admitted", b'{"specversion": "1.0"}')

    async def dead_lettered() -> bool:
        pool_dlq = await system.dlq_bodies(system.pool_env["AWARDS_QUEUE"])
        bidding_dlq = await system.dlq_bodies(system.bidding_env["POOL_EVENTS_QUEUE"])
        dead_lettered.found += pool_dlq + bidding_dlq  # type: ignore[attr-defined]
        return len(dead_lettered.found) >= 2  # type: ignore[attr-defined]

    dead_lettered.found = []  # type: ignore[attr-defined]
    await wait_for(dead_lettered, 30)
    assert sorted(dead_lettered.found) == sorted(  # type: ignore[attr-defined]
        [b"\x00 not an event", b'{"specversion": "1.0"}'])
    after = await system.sql(f"SELECT count(*) AS n FROM {system.pool_schema}.inbox")
    # The award id was already in the pool service's inbox: nothing new was applied.
    assert after[0]["n"] == before[0]["n"]
    assert member["id"] in await system.eligible(pool["id"])
    await system.all_ready()
