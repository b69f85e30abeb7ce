"""award.* events from the bidding service: award history, refusals, ratings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import aio_pika
import asyncpg
import orjson
from aiohttp.test_utils import TestClient

from pool_service.consumers import handle_award_event
from pool_service.settings import PoolSettings
from shared.auth import Role
from shared.events import CloudEvent, new_event
from shared.http import BROKER
from shared.inbox import InboxConsumer
from shared.metrics import Metrics
from tests.integration.pool.conftest import Auth

Make = Callable[..., Any]
BUYER_ORG = "330300-COMMERCE"


def award_published(pool: dict[str, Any], supplier: dict[str, Any], *,
                    buyer_org: str = BUYER_ORG, amount: str = "98000.00") -> CloudEvent:
    award_id = uuid.uuid4()
    return new_event("/bidding-service", "award.published", award_id, {
        "id": str(award_id), "round_id": str(uuid.uuid4()), "pool_id": pool["id"],
        "status": "published",
        "supplier": {k: supplier[k] for k in ("id", "name", "credit_code", "kind", "size")},
        "amount": amount, "evaluated_amount": amount, "currency": "CNY",
        "buyer": {"org": buyer_org, "name": "温州市商务局"}, "budget_line": "2026-301-02",
        "rank": 1, "bid_count": 4, "invited_count": 6,
        "awarded_at": "2026-11-27T08:00:00.123456+00:00",
        "accept_by": "2026-11-30T08:00:00+00:00",
        "pool": {"id": pool["id"], "code": pool["code"], "name": pool["name"]},
        "ranking": [{"supplier_id": supplier["id"], "amount": amount,
                     "evaluated_amount": amount, "rank": 1}],
    })


def outcome(award: CloudEvent, type_: str, reason: str | None = None) -> CloudEvent:
    data = award.data
    return new_event("/bidding-service", type_, data["id"], {
        "award_id": data["id"], "round_id": data["round_id"],
        "supplier_id": data["supplier"]["id"], "at": "2026-11-28T08:00:00+00:00",
        **({"reason": reason} if reason else {})})


async def publish(service_env: dict[str, str], *events: CloudEvent) -> None:
    conn = await aio_pika.connect(service_env["AMQP_URL"])
    try:
        channel = await conn.channel()
        exchange = await channel.declare_exchange(service_env["EVENTS_EXCHANGE"],
                                                  aio_pika.ExchangeType.TOPIC, durable=True)
        for event in events:
            await exchange.publish(
                aio_pika.Message(orjson.dumps(event.to_json_dict()),
                                 content_type="application/json", message_id=str(event.id),
                                 type=event.type),
                routing_key=event.type)
    finally:
        await conn.close()


async def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll `check()` until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)


async def test_award_history_refusals_and_ratings(
        client: TestClient, auth: Auth, service_env: dict[str, str], make_pool: Make,
        make_supplier: Make, admit: Make, db: asyncpg.Pool) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    await admit(pool["id"], supplier["id"])
    first, second, third = (award_published(pool, supplier) for _ in range(3))
    # award.declined overtakes its award.published: the refusal still counts.
    await publish(service_env, first, outcome(first, "award.accepted"),
                  outcome(second, "award.declined", "capacity"), second,
                  third, outcome(third, "award.expired"))
    center = auth(Role.PROCUREMENT_CENTER)
    awards_url = f"/v1/pools/{pool['id']}/members/{supplier['id']}/awards"

    async def all_recorded() -> list[dict[str, Any]] | None:
        page = await (await client.get(awards_url, headers=center)).json()
        statuses = {a["id"]: a["status"] for a in page["items"]}
        wanted = {first.data["id"]: "accepted", second.data["id"]: "declined",
                  third.data["id"]: "expired"}
        done = statuses == wanted and all(a["amount"] for a in page["items"])
        return list(page["items"]) if done else None

    awards = {a["id"]: a for a in await eventually(all_recorded)}
    accepted = awards[first.data["id"]]
    assert accepted["buyer"] == {"org": BUYER_ORG, "name": "温州市商务局"}
    assert accepted["amount"] == "98000.00" and accepted["round_id"] == first.data["round_id"]
    assert awards[second.data["id"]]["reason"] == "capacity"

    member_url = f"/v1/pools/{pool['id']}/members/{supplier['id']}"
    member = await (await client.get(member_url, headers=center)).json()
    assert member["refusals"] == 2
    assert member["rating"] == {"average": None, "count": 0}

    ratings_url = f"{member_url}/ratings"
    buyer = auth(Role.BUYER, org=BUYER_ORG)
    resp = await client.post(ratings_url, json={"award_id": first.data["id"], "score": 4,
                                                "comment": "准时，服务周到"}, headers=buyer)
    assert resp.status == 201
    rating = await resp.json()
    assert resp.headers["Location"] == f"{ratings_url}/{rating['id']}"
    assert (rating["score"], rating["buyer_org"]) == (4, BUYER_ORG)
    got = await client.get(resp.headers["Location"],
                           headers=auth(Role.SUPPLIER, supplier_id=supplier["id"]))
    assert await got.json() == rating

    refused = [
        (buyer, {"award_id": first.data["id"], "score": 5}, 409),              # once per award
        (buyer, {"award_id": second.data["id"], "score": 1}, 409),             # declined
        (auth(Role.BUYER, org="OTHER-ORG"), {"award_id": first.data["id"], "score": 5}, 403),
        (buyer, {"award_id": str(uuid.uuid4()), "score": 3}, 404),
        (buyer, {"award_id": first.data["id"], "score": 6}, 422),
        (buyer, {"award_id": first.data["id"], "score": 0}, 422),
        (buyer, {"award_id": first.data["id"], "score": "5"}, 422),
        (center, {"award_id": first.data["id"], "score": 5}, 403),
        (auth(Role.SUPPLIER, supplier_id=supplier["id"]),
         {"award_id": first.data["id"], "score": 5}, 403),
    ]
    before = await db.fetchval("SELECT count(*) FROM ratings")
    for headers, body, status in refused:
        resp = await client.post(ratings_url, json=body, headers=headers)
        assert resp.status == status, (body, await resp.text())
    assert await db.fetchval("SELECT count(*) FROM ratings") == before

    # Another award to the same buyer, another rating: the list shows the average.
    fourth = award_published(pool, supplier, amount="50000")
    await publish(service_env, fourth)
    await eventually(lambda: db.fetchval("SELECT true FROM awards WHERE id = $1",
                                         uuid.UUID(fourth.data["id"])))
    resp = await client.post(ratings_url, json={"award_id": fourth.data["id"], "score": 5},
                             headers=buyer)
    assert resp.status == 201
    members = await (await client.get(f"/v1/pools/{pool['id']}/members",
                                      headers=buyer)).json()
    assert members["items"][0]["rating"] == {"average": 4.5, "count": 2}
    page = await (await client.get(ratings_url, headers=buyer)).json()
    assert [r["score"] for r in page["items"]] == [4, 5]


async def test_a_duplicate_delivery_changes_nothing(
        client: TestClient, pool_settings: PoolSettings, service_env: dict[str, str],
        make_pool: Make, make_supplier: Make, admit: Make, db: asyncpg.Pool) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    await admit(pool["id"], supplier["id"])
    award = award_published(pool, supplier)
    declined = outcome(award, "award.declined", "no capacity")
    consumer = InboxConsumer(client.app[BROKER], db, pool_settings.awards_queue,
                             handle_award_event, Metrics())

    async def snapshot() -> list[Any]:
        rows = await db.fetch("SELECT * FROM awards WHERE id = $1", uuid.UUID(award.data["id"]))
        inbox = await db.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1)",
                                  [award.id, declined.id])
        return [[dict(r) for r in rows], inbox]

    assert await consumer.handle(award) is True
    assert await consumer.handle(declined) is True
    after_first = await snapshot()
    assert after_first[0][0]["status"] == "declined" and after_first[1] == 2
    # The same award.published again (as a redelivery would bring it): nothing changes,
    # in particular the refusal is not overwritten by the older "published".
    assert await consumer.handle(award) is False
    assert await consumer.handle(declined) is False
    assert await snapshot() == after_first

    # Through the broker too: the same CloudEvent published twice is handled once.
    again = award_published(pool, supplier)
    await publish(service_env, again, again)
    await eventually(lambda: db.fetchval("SELECT true FROM awards WHERE id = $1",
                                         uuid.UUID(again.data["id"])))
    await asyncio.sleep(0.5)  # let the second copy be consumed
    assert await db.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", again.id) == 1
    assert await db.fetchval("SELECT count(*) FROM awards WHERE id = $1",
                             uuid.UUID(again.data["id"])) == 1


async def test_award_events_of_a_round_are_applied_in_sequence_order(
        client: TestClient, service_env: dict[str, str], make_pool: Make,
        make_supplier: Make, admit: Make, db: asyncpg.Pool) -> None:
    """Rank 1 published (1), declined (2), rank 2 published (3), delivered 3, 2, 1."""
    pool, first, second = await make_pool(), await make_supplier(), await make_supplier()
    await admit(pool["id"], first["id"])
    await admit(pool["id"], second["id"])
    rank1 = award_published(pool, first)
    round_id = rank1.data["round_id"]
    rank2 = award_published(pool, second)
    rank2.data["round_id"] = round_id
    declined = outcome(rank1, "award.declined", "no capacity")
    events = [e.model_copy(update={"partitionkey": round_id, "sequence": str(n)})
              for n, e in enumerate((rank1, declined, rank2), start=1)]
    await publish(service_env, *reversed(events))
    applied = await eventually(lambda: _applied(db, round_id, 3))
    assert applied == [1, 2, 3]
    statuses = {r["id"]: r["status"] for r in await db.fetch(
        "SELECT id, status FROM awards WHERE round_id = $1", uuid.UUID(round_id))}
    assert statuses == {uuid.UUID(rank1.data["id"]): "declined",
                        uuid.UUID(rank2.data["id"]): "published"}


async def _applied(db: asyncpg.Pool, round_id: str, n: int) -> list[int] | None:
    rows = await db.fetch("SELECT sequence FROM inbox WHERE partitionkey = $1"
                          " ORDER BY received_at", round_id)
    return [r["sequence"] for r in rows] if len(rows) >= n else None


async def test_cancellations_and_rejections_are_not_the_suppliers_refusals(
        client: TestClient, auth: Auth, service_env: dict[str, str], make_pool: Make,
        make_supplier: Make, admit: Make, db: asyncpg.Pool) -> None:
    """spec methods.md: only award.declined and award.expired are refusals."""
    pool, supplier = await make_pool(), await make_supplier()
    await admit(pool["id"], supplier["id"])
    cancelled, rejected, declined = (award_published(pool, supplier) for _ in range(3))
    rejected.data.update(status="pending_review", accept_by=None, method="price_competition",
                         abnormally_low=True)
    events = [cancelled, outcome(cancelled, "award.cancelled"), rejected,
              outcome(rejected, "award.rejected"), declined,
              outcome(declined, "award.declined", "capacity")]
    for e in events[1:4:2]:
        e.data.update(reason_code="defect_in_terms", note="on review")
    await publish(service_env, *events)
    await eventually(lambda: db.fetchval("SELECT count(*) = 6 FROM inbox WHERE event_id = ANY($1)",
                                         [e.id for e in events]))
    center = auth(Role.PROCUREMENT_CENTER)
    member_url = f"/v1/pools/{pool['id']}/members/{supplier['id']}"
    member = await (await client.get(member_url, headers=center)).json()
    assert member["refusals"] == 1  # the decline only
    statuses = {r["id"]: r["status"] for r in await db.fetch(
        "SELECT id, status FROM awards WHERE supplier_id = $1", uuid.UUID(supplier["id"]))}
    assert statuses[uuid.UUID(declined.data["id"])] == "declined"
    assert statuses[uuid.UUID(cancelled.data["id"])] not in ("declined", "expired")
    assert statuses[uuid.UUID(rejected.data["id"])] not in ("declined", "expired")
