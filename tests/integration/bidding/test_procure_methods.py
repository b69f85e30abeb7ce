"""`procure rotation show|set`, `procure questions list|answer`, `procure awards
cancel|review` against the real bidding service over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp.test_utils import TestClient
from typer.testing import CliRunner

from procure.cli import app
from procure.rounds import FixedSpec
from tests.conftest import JWT_SECRET
from tests.integration.bidding.conftest import PoolFeed, members, round_body
from tests.integration.bidding.helpers import bid, launch, wait_status

Auth = Callable[..., dict[str, str]]
runner = CliRunner()


async def procure(client: TestClient, *args: str) -> Any:
    env = {"BIDDING_URL": str(client.make_url("")).rstrip("/"), "JWT_SECRET": JWT_SECRET,
           "POOL_URL": "http://127.0.0.1:9"}
    done = await asyncio.to_thread(runner.invoke, app, ["--plain", *args, "--json"], env=env)
    assert done.exit_code == 0, done.output
    return orjson.loads(done.output.strip().splitlines()[-1])


async def test_rotation_questions_and_award_commands(
        bidding: TestClient, feed: PoolFeed, auth: Auth) -> None:
    ms = members(3)
    pool = await feed.pool(ms)
    view = await procure(bidding, "rotation", "set", str(pool.id), str(ms[2].id),
                         str(ms[0].id))
    assert [x["supplier_id"] for x in view["order"]] == [str(ms[2].id), str(ms[0].id),
                                                         str(ms[1].id)]
    shown = await procure(bidding, "rotation", "show", str(pool.id))
    assert shown["next_supplier_id"] == str(ms[2].id)

    center = auth("procurement_center", sub="center-cli")
    rnd = await launch(bidding, center, round_body(pool, seconds=3,
                                                   abnormal_price_review=True))
    asker = auth("supplier", sub="cli-asker", supplier_id=str(ms[0].id))
    async with bidding.post(f"/v1/rounds/{rnd['id']}/questions", json={"text": "交货地点？"},
                            headers=asker) as resp:
        question = await resp.json()
        assert resp.status == 201
    listed = await procure(bidding, "questions", "list", rnd["id"])
    assert [q["id"] for q in listed["items"]] == [question["id"]]
    answered = await procure(bidding, "questions", "answer", rnd["id"], question["id"],
                             "温州市政府大院")
    assert answered["answer"] == "温州市政府大院"

    for m, price in zip(ms, ["40000.00", "90000.00", "95000.00"], strict=True):
        headers = auth("supplier", sub=f"s-{m.id}", supplier_id=str(m.id))
        assert (await bid(bidding, headers, rnd["id"], price))[0] == 201
    view = await wait_status(bidding, rnd["id"], {"awarded"}, {})
    assert view["award"]["status"] == "pending_review"
    confirmed = await procure(bidding, "awards", "review", view["award"]["id"],
                              "--decision", "confirm", "--note", "explained in writing")
    assert confirmed["status"] == "published"
    cancelled = await procure(bidding, "awards", "cancel", view["award"]["id"],
                              "--reason", "wrong lot", "--reason-code", "defect_in_terms",
                              "--reaward-next")
    assert cancelled["status"] == "cancelled" and cancelled["reason_code"] == "defect_in_terms"
    now = await wait_status(bidding, rnd["id"], {"reawarded"}, {})
    assert now["award"]["supplier"]["id"] == str(ms[1].id)


def test_fixed_amount_launch_bodies() -> None:
    spec = FixedSpec(method="direct_selection", title="t", amount="1,200.50", buyer_org="o",
                     buyer_name="n", budget_line="b", supplier_id=str(uuid.UUID(int=7)),
                     justification="x" * 20, acceptance_working_days=5)
    body = spec.body("p")
    assert body["amount"] == "1200.50" and body["method"] == "direct_selection"
    assert body["acceptance_working_days"] == 5 and "ceiling_price" not in body
    rotation = FixedSpec(method="rotation", title="t", amount="10", buyer_org="o",
                         buyer_name="n", budget_line="b").body("p")
    assert "supplier_id" not in rotation and rotation["method"] == "rotation"
