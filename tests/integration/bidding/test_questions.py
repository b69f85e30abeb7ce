"""Clarification questions (spec methods.md): an asker nobody ever learns of, answers
given once and published at once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from aiohttp.test_utils import TestClient

from bidding_service.settings import BiddingSettings
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import launch
from tests.support import EventTap

Auth = Callable[..., dict[str, str]]


def center(auth: Auth) -> dict[str, str]:
    return auth("procurement_center", sub="center-questions")


def supplier(auth: Auth, member_id: uuid.UUID) -> dict[str, str]:
    return auth("supplier", sub=f"asker-sub-{member_id}", supplier_id=str(member_id))


async def call(client: TestClient, method: str, path: str, headers: dict[str, str],
               body: dict[str, Any] | None = None) -> tuple[int, Any, str]:
    async with client.request(method, path, json=body, headers=headers) as resp:
        text = await resp.text()
        return resp.status, orjson.loads(text), text


async def test_a_question_never_reveals_its_asker(
        bidding: TestClient, feed: PoolFeed, auth: Auth,
        bidding_settings: BiddingSettings) -> None:
    ms = members(3)
    asker, other = ms[0], ms[1]
    pool = await feed.pool(ms)
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=120))
    rid = rnd["id"]
    secrets = [str(asker.id), asker.name, f"asker-sub-{asker.id}", asker.credit_code]
    base = f"/v1/rounds/{rid}/questions"
    async with EventTap(bidding_settings.amqp_url, bidding_settings.events_exchange,
                        ("#",)) as tap:
        with structlog.testing.capture_logs() as logs:
            status, asked, text = await call(bidding, "POST", base, supplier(auth, asker.id),
                                             {"text": "发票是否需要增值税专用发票？"})
            assert status == 201, asked
            assert asked["mine"] is True and asked["answer"] is None
            views = [text]
            for headers in (center(auth), auth("buyer", org="WZ-COMMERCE"),
                            supplier(auth, other.id), supplier(auth, asker.id), {}):
                status, _body, text = await call(bidding, "GET", base, headers)
                assert status == 200
                views.append(text)
            status, answered, text = await call(
                bidding, "POST", f"{base}/{asked['id']}/answer", center(auth),
                {"text": "需要增值税专用发票"})
            assert status == 200 and answered["answer"] == "需要增值税专用发票"
            views.append(text)
            status, _, _ = await call(bidding, "POST", f"{base}/{asked['id']}/answer",
                                      center(auth), {"text": "again"})
            assert status == 409  # once only
            status, audit, text = await call(bidding, "GET", "/v1/audit", center(auth))
            assert status == 200
            views.append(text)
        await tap.wait_for(lambda ev: any(e["type"] == "round.question.answered"
                                          and e["data"]["round_id"] == rid for e in ev))
    # Who sees what: the asker's own view says mine; nobody's names the asker.
    mine = orjson.loads(views[4])["items"]
    assert [q.get("mine") for q in mine] == [True]
    for seen in (views[1], views[2], views[3]):
        assert [q.get("mine") for q in orjson.loads(seen)["items"]] == [None]
    assert orjson.loads(views[5])["items"] == []  # the public sees answered ones only
    status, public, _ = await call(bidding, "GET", base, {})
    assert [q["answer"] for q in public["items"]] == ["需要增值税专用发票"]
    (event,) = [e for e in tap.events if e["type"] == "round.question.answered"
                and e["data"]["round_id"] == rid]
    assert event["data"]["question"] == "发票是否需要增值税专用发票？"
    assert set(event["data"]) == {"round_id", "question_id", "question", "answer", "at"}
    entries = [e for e in audit["items"] if "/questions/" in e["subject"]]
    assert {e["action"] for e in entries} >= {"round.question.asked", "round.question.answered"}
    assert any(line.get("event") == "question_asked" for line in logs)
    # This round's events, and any that name no round (other tests' rounds, closing on the
    # shared exchange meanwhile, name their own winners).
    broker = [orjson.dumps(e).decode() for e in tap.events
              if e["data"].get("round_id", rid) == rid]
    log_text = orjson.dumps(logs, default=str).decode()
    for secret in secrets:
        for seen in [*views, *broker, log_text]:
            assert secret not in seen, (secret, seen[:300])
    # Leave no round to close while later tests watch the broker.
    status, _, _ = await call(bidding, "POST", f"/v1/rounds/{rid}/cancel", center(auth),
                              {"reason": "test over"})
    assert status == 200


async def test_who_may_ask_and_until_when(bidding: TestClient, feed: PoolFeed,
                                          auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    rnd = await launch(bidding, center(auth), round_body(pool, seconds=120,
                                                         enquiries_until=soon))
    base = f"/v1/rounds/{rnd['id']}/questions"
    status, _, _ = await call(bidding, "POST", base, supplier(auth, uuid.uuid4()),
                              {"text": "q"})
    assert status == 403  # not invited
    await feed.member(pool, ms[2], "suspended")
    status, _, _ = await call(bidding, "POST", base, supplier(auth, ms[2].id), {"text": "q"})
    assert status == 403
    status, _, _ = await call(bidding, "POST", base, supplier(auth, ms[0].id), {"text": ""})
    assert status == 422
    status, _, _ = await call(bidding, "POST", base, center(auth), {"text": "q"})
    assert status == 403
    status, problem, _ = await call(bidding, "POST", base, supplier(auth, ms[0].id),
                                    {"text": "q"})
    if status == 201:  # still before enquiries_until: wait it out
        import asyncio

        await asyncio.sleep(1.2)
        status, problem, _ = await call(bidding, "POST", base, supplier(auth, ms[0].id),
                                        {"text": "q"})
    assert status == 409 and problem["type"].endswith("enquiries-closed")
    status, _, _ = await call(bidding, "GET", base, supplier(auth, uuid.uuid4()))
    assert status == 403
    status, _, _ = await call(bidding, "POST", f"{base}/{uuid.uuid4()}/answer", center(auth),
                              {"text": "a"})
    assert status == 404
    late = round_body(pool, seconds=120,
                      enquiries_until=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    async with bidding.post("/v1/rounds", json=late, headers=center(auth)) as resp:
        assert resp.status == 422  # enquiries_until after closes_at
    status, _, _ = await call(bidding, "POST", f"/v1/rounds/{rnd['id']}/cancel", center(auth),
                              {"reason": "test over"})
    assert status == 200
