"""Events on the exchange: CloudEvents, exactly one per change, through a broker outage."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from pool_service import service
from pool_service.app import build_app
from shared.broker import Broker
from shared.db import create_pool
from shared.metrics import Metrics
from shared.migrations import migrate
from shared.outbox import OutboxRelay
from tests.integration.pool.conftest import MIGRATIONS, pool_body, settings_from, supplier_body
from tests.support import EventTap, running_app

Make = Callable[..., Any]
MEMBER_DATA_KEYS = {"pool_id", "pool_code", "supplier", "status", "reason", "ground", "until",
                    "at", "version"}
ENVELOPE_KEYS = {"specversion", "id", "source", "type", "time", "datacontenttype", "subject",
                 "partitionkey", "sequence",
                 "dataschemaversion", "data"}


def of_pool(pool_id: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    return lambda events: [e for e in events
                           if e["data"].get("pool_id") == pool_id or e["subject"] == pool_id]


async def test_each_change_is_one_cloudevent(client: TestClient, center: dict[str, str],
                                             service_env: dict[str, str], make_supplier: Make,
                                             move: Make) -> None:
    async with EventTap(service_env["AMQP_URL"], service_env["EVENTS_EXCHANGE"],
                        ("pool.#",)) as tap:
        resp = await client.post("/v1/pools", json=pool_body(), headers=center)
        pool = await resp.json()
        supplier = await make_supplier(size="micro")
        resp = await client.post(f"/v1/pools/{pool['id']}/members",
                                 json={"supplier_id": supplier["id"]}, headers=center)
        assert resp.status == 201
        membership = await resp.json()
        until = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
        await move(pool["id"], supplier["id"], "suspended", reason="quality complaint",
                   until=until.astimezone(timezone(timedelta(hours=8))).isoformat())
        await move(pool["id"], supplier["id"], "admitted")
        await move(pool["id"], supplier["id"], "removed", reason="bid rigging",
                   ground="collusion")
        resp = await client.patch(f"/v1/pools/{pool['id']}", json={"name": "会议服务（新）"},
                                  headers=center)
        updated = await resp.json()
        resp = await client.post(f"/v1/pools/{pool['id']}/terminate",
                                 json={"reason": "replaced"}, headers=center)
        terminated = await resp.json()

        mine = of_pool(pool["id"])
        await tap.wait_for(lambda events: len(mine(events)) >= 7)
        await asyncio.sleep(0.5)  # give a duplicate the time to show up
        events = mine(tap.events)

    assert [e["type"] for e in events] == [
        "pool.created", "pool.member.admitted", "pool.member.suspended",
        "pool.member.reinstated", "pool.member.removed", "pool.updated", "pool.terminated"]
    assert len({e["id"] for e in events}) == 7
    for event in events:
        assert set(event) == ENVELOPE_KEYS
        assert event["specversion"] == "1.0" and event["source"] == "/pool-service"
        assert event["datacontenttype"] == "application/json"
        assert datetime.fromisoformat(event["time"]).tzinfo is not None
    messages = {m.message_id: m for m in tap.messages}
    for event in events:
        message = messages[event["id"]]
        assert message.routing_key == event["type"] == message.type
        assert message.content_type == "application/json"
        assert message.delivery_mode == 2

    member_events = events[1:5]
    for version, event in enumerate(member_events, start=1):
        data = event["data"]
        assert set(data) == MEMBER_DATA_KEYS
        assert event["subject"] == membership["id"]
        assert data["version"] == version
        assert data["pool_code"] == pool["code"]
        assert data["supplier"] == {k: supplier[k] for k in
                                    ("id", "name", "credit_code", "kind", "size")}
    admitted, suspended, reinstated, removed = (e["data"] for e in member_events)
    assert (admitted["status"], admitted["reason"], admitted["ground"]) == \
        ("admitted", None, None)
    assert suspended["status"] == "suspended" and suspended["until"] == until.isoformat()
    assert suspended["reason"] == "quality complaint"
    assert reinstated["status"] == "admitted" and reinstated["until"] is None
    assert (removed["status"], removed["ground"]) == ("removed", "collusion")
    assert admitted["at"] < suspended["at"] < reinstated["at"] < removed["at"]

    assert events[0]["data"] == pool  # the pool as the API shows it, version included
    assert events[5]["data"] == updated and updated["version"] == 2
    assert events[6]["data"] == terminated and terminated["version"] == 3


async def test_changes_made_while_the_broker_is_down_arrive_once(
        service_env: dict[str, str], auth: Any) -> None:
    """The app cannot reach RabbitMQ; its changes wait in the outbox; two relays started
    later against the real broker publish each of them exactly once."""
    schema = f"pool_outage_{uuid.uuid4().hex[:8]}"
    settings = settings_from(service_env, db_schema=schema,
                             amqp_url="amqp://guest:guest@127.0.0.1:1/")
    await migrate(settings.database_url, schema, MIGRATIONS, "pool")
    center = auth("procurement_center")
    async with running_app(build_app(settings)) as down:
        assert (await down.get("/readyz")).status == 503
        pool = await (await down.post("/v1/pools", json=pool_body(), headers=center)).json()
        suppliers = []
        for _ in range(3):
            resp = await down.post("/v1/suppliers", json=supplier_body(), headers=center)
            suppliers.append(await resp.json())
        for s in suppliers:
            resp = await down.post(f"/v1/pools/{pool['id']}/members",
                                   json={"supplier_id": s["id"]}, headers=center)
            assert resp.status == 201
        base = f"/v1/pools/{pool['id']}/members"
        resp = await down.post(f"{base}/{suppliers[0]['id']}/transitions",
                               json={"to": "suspended", "reason": "audit"}, headers=center)
        assert resp.status == 200
        resp = await down.post(f"{base}/{suppliers[1]['id']}/transitions",
                               json={"to": "removed", "reason": "fraud", "ground": "debarred"},
                               headers=center)
        assert resp.status == 200

    db = await create_pool(settings.database_url, schema, min_size=1, max_size=6)
    try:
        unsent = await db.fetch("SELECT event_id, type FROM outbox WHERE published_at IS NULL")
        assert sorted(r["type"] for r in unsent) == sorted(
            ["pool.created"] + ["pool.member.admitted"] * 3
            + ["pool.member.suspended", "pool.member.removed"])
        expected = {str(r["event_id"]) for r in unsent}

        async with EventTap(service_env["AMQP_URL"], settings.events_exchange,
                            ("pool.#",)) as tap:
            brokers = [Broker(service_env["AMQP_URL"], settings.events_exchange)
                       for _ in range(2)]
            tasks = []
            for broker in brokers:
                await broker.start()
                relay = OutboxRelay(db, settings.database_url, schema, broker, Metrics(),
                                    batch_size=2, poll_seconds=0.1)
                tasks.append(asyncio.create_task(relay.run()))
            # More changes while both relays run, written the way the service writes them.
            more = await _suspend_directly(db, pool["id"], suppliers[2]["id"])
            expected |= more
            await tap.wait_for(lambda events: {e["id"] for e in events} >= expected)
            await asyncio.sleep(0.5)  # anything sent twice would arrive by now
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for broker in brokers:
                await broker.close()
            seen = Counter(e["id"] for e in tap.events if e["id"] in expected)
        assert set(seen) == expected
        assert set(seen.values()) == {1}
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    finally:
        await db.close()


async def _suspend_directly(db: asyncpg.Pool, pool_id: str, supplier_id: str) -> set[str]:
    before = {r["event_id"] for r in await db.fetch("SELECT event_id FROM outbox")}
    await service.change_membership(
        db, service.ChangeMembership(to="suspended", reason="late reports"),
        service.Actor("test", "procurement_center"), uuid.UUID(pool_id),
        uuid.UUID(supplier_id))
    return {str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM outbox")
            if r["event_id"] not in before}
