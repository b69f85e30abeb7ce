"""Memberships over HTTP: apply, admit, the transitions, lists, history, top-up."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from aiohttp.test_utils import TestClient

from shared.auth import Role
from tests.integration.pool.conftest import Auth

Make = Callable[..., Any]
CST = timezone(timedelta(hours=8))


async def test_apply_admit_suspend_reinstate_remove(
        client: TestClient, center: dict[str, str], auth: Auth, make_pool: Make,
        make_supplier: Make, move: Make) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    me = auth(Role.SUPPLIER, supplier_id=supplier["id"])
    base = f"/v1/pools/{pool['id']}/members/{supplier['id']}"

    resp = await client.post(f"/v1/pools/{pool['id']}/applications", headers=me)
    assert resp.status == 201
    assert resp.headers["Location"] == base
    applied = await resp.json()
    assert applied["status"] == "applied" and applied["version"] == 1
    assert applied["supplier"] == {k: supplier[k] for k in
                                   ("id", "name", "credit_code", "kind", "size")}
    assert applied["rating"] == {"average": None, "count": 0}
    again = await client.post(f"/v1/pools/{pool['id']}/applications",
                              json={"note": "again"}, headers=me)
    assert again.status == 409

    status, admitted = await move(pool["id"], supplier["id"], "admitted",
                                  reason="documents checked")
    assert status == 200 and admitted["status"] == "admitted" and admitted["version"] == 2
    until = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
    status, suspended = await move(pool["id"], supplier["id"], "suspended",
                                   reason="late delivery under investigation",
                                   until=until.astimezone(CST).isoformat())
    assert status == 200 and suspended["status"] == "suspended"
    assert datetime.fromisoformat(suspended["until"]) == until
    assert suspended["until"].endswith("+00:00")
    status, reinstated = await move(pool["id"], supplier["id"], "admitted")
    assert status == 200 and reinstated["until"] is None and reinstated["version"] == 4
    status, removed = await move(pool["id"], supplier["id"], "removed",
                                 reason="forged certificates", ground="false_documents")
    assert status == 200
    assert (removed["status"], removed["ground"]) == ("removed", "false_documents")

    # Removal is final: no re-application, no transition.
    assert (await client.post(f"/v1/pools/{pool['id']}/applications", headers=me)).status == 409
    status, problem = await move(pool["id"], supplier["id"], "admitted")
    assert status == 409 and problem["type"].endswith("illegal-transition")
    readmit = await client.post(f"/v1/pools/{pool['id']}/members",
                                json={"supplier_id": supplier["id"]}, headers=center)
    assert readmit.status == 409

    resp = await client.get(f"{base}/history", headers=me)
    history = (await resp.json())["items"]
    assert [(h["action"], h["from_status"], h["to_status"]) for h in history] == [
        ("applied", None, "applied"), ("admitted", "applied", "admitted"),
        ("suspended", "admitted", "suspended"), ("reinstated", "suspended", "admitted"),
        ("removed", "admitted", "removed")]
    assert [h["version"] for h in history] == [1, 2, 3, 4, 5]
    assert history[0]["actor_role"] == "supplier" and history[1]["actor_role"] == \
        "procurement_center"
    assert history[4]["reason"] == "forged certificates"
    assert history[4]["ground"] == "false_documents"
    page = await (await client.get(f"{base}/history", params={"limit": "2"},
                                   headers=center)).json()
    assert [h["version"] for h in page["items"]] == [1, 2] and page["next_cursor"]
    page = await (await client.get(f"{base}/history", params={
        "limit": "2", "cursor": page["next_cursor"]}, headers=center)).json()
    assert [h["version"] for h in page["items"]] == [3, 4]


async def test_reject_and_apply_again(client: TestClient, auth: Auth, make_pool: Make,
                                      make_supplier: Make, move: Make) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    me = auth(Role.SUPPLIER, supplier_id=supplier["id"])
    assert (await client.post(f"/v1/pools/{pool['id']}/applications", headers=me)).status == 201
    status, problem = await move(pool["id"], supplier["id"], "rejected")
    assert status == 422 and problem["errors"][0]["loc"] == ["reason"]
    status, rejected = await move(pool["id"], supplier["id"], "rejected",
                                  reason="no qualification certificate")
    assert rejected["status"] == "rejected" and rejected["reason"] == \
        "no qualification certificate"
    resp = await client.post(f"/v1/pools/{pool['id']}/applications",
                             json={"note": "certificate attached"}, headers=me)
    assert resp.status == 200  # the membership exists: it changed, nothing was created
    assert (await resp.json())["status"] == "applied"


async def test_transition_rules_over_http(client: TestClient, make_pool: Make,
                                          make_supplier: Make, admit: Make,
                                          move: Make) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    await admit(pool["id"], supplier["id"])
    cases: list[tuple[dict[str, Any], int]] = [
        ({"to": "applied"}, 422),                                   # not a transition target
        ({"to": "rejected", "reason": "x"}, 409),                   # admitted -> rejected
        ({"to": "admitted"}, 409),                                  # already admitted
        ({"to": "removed", "reason": "x"}, 422),                    # no ground
        ({"to": "removed", "reason": "x", "ground": "laziness"}, 422),
        ({"to": "suspended", "reason": "x", "until": "2030-01-01T00:00:00"}, 422),  # naive
        ({"to": "suspended", "reason": "x", "until": "2020-01-01T00:00:00Z"}, 422),  # past
        ({"to": "suspended"}, 422),                                 # no reason
        ({"to": "suspended", "reason": "x", "extra": 1}, 422),
    ]
    for body, expected in cases:
        status, problem = await move(pool["id"], supplier["id"], **body)
        assert status == expected, (body, problem)
    status, member = await move(pool["id"], supplier["id"], "suspended", reason="audit")
    assert member["version"] == 2  # none of the refused requests counted


async def test_admit_directly_and_list_members(client: TestClient, center: dict[str, str],
                                               auth: Auth, make_pool: Make, make_supplier: Make,
                                               admit: Make, move: Make) -> None:
    pool = await make_pool()
    suppliers = [await make_supplier(name=f"{n}-{uuid.uuid4().hex[:4]}") for n in "ABCD"]
    for s in suppliers[:3]:
        member = await admit(pool["id"], s["id"])
        assert member["status"] == "admitted" and member["version"] == 1
    me = auth(Role.SUPPLIER, supplier_id=suppliers[3]["id"])
    await client.post(f"/v1/pools/{pool['id']}/applications", headers=me)
    await move(pool["id"], suppliers[2]["id"], "suspended", reason="audit")

    members_url = f"/v1/pools/{pool['id']}/members"
    for headers in (center, auth(Role.BUYER, org="WZ-EDU")):
        page = await (await client.get(members_url, headers=headers)).json()
        assert [m["supplier"]["name"] for m in page["items"]] == \
            [s["name"] for s in suppliers]
    page = await (await client.get(members_url, params={"status": "admitted"},
                                   headers=center)).json()
    assert {m["supplier_id"] for m in page["items"]} == {suppliers[0]["id"], suppliers[1]["id"]}
    assert all(set(m) >= {"pool_id", "supplier_id", "status", "since", "reason", "ground",
                          "until", "supplier", "rating", "refusals"} for m in page["items"])
    assert (await client.get(members_url, headers=me)).status == 403
    assert (await client.get(members_url, params={"status": "asleep"},
                             headers=center)).status == 422

    one = await client.get(f"{members_url}/{suppliers[3]['id']}", headers=me)
    assert one.status == 200 and (await one.json())["status"] == "applied"
    assert (await client.get(f"{members_url}/{suppliers[0]['id']}", headers=me)).status == 403
    assert (await client.get(f"{members_url}/{uuid.uuid4()}", headers=center)).status == 404


async def test_top_up_signal(client: TestClient, make_pool: Make, make_supplier: Make,
                             admit: Make, move: Make) -> None:
    pool = await make_pool()
    suppliers = [await make_supplier() for _ in range(10)]
    for s in suppliers:
        await admit(pool["id"], s["id"])
    for i, s in enumerate(suppliers[:4]):
        if i % 2:
            await move(pool["id"], s["id"], "suspended", reason="audit")
        else:
            await move(pool["id"], s["id"], "removed", reason="x", ground="debarred")
        current = await (await client.get(f"/v1/pools/{pool['id']}")).json()
        assert current["admitted_count"] == 10 - i - 1
        assert current["peak_admitted_count"] == 10
        assert current["needs_top_up"] is (10 - i - 1 < 7)
    await move(pool["id"], suppliers[1]["id"], "admitted")
    current = await (await client.get(f"/v1/pools/{pool['id']}")).json()
    assert (current["admitted_count"], current["needs_top_up"]) == (7, False)


async def test_who_may_change_memberships(client: TestClient, auth: Auth, make_pool: Make,
                                          make_supplier: Make, admit: Make) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    await admit(pool["id"], supplier["id"])
    base = f"/v1/pools/{pool['id']}"
    me = auth(Role.SUPPLIER, supplier_id=supplier["id"])
    buyer = auth(Role.BUYER, org="WZ-EDU")
    moves = f"{base}/members/{supplier['id']}/transitions"
    body = {"to": "suspended", "reason": "x"}
    for headers in (me, buyer, auth(Role.FINANCE)):
        assert (await client.post(moves, json=body, headers=headers)).status == 403
        assert (await client.post(f"{base}/members", json={"supplier_id": supplier["id"]},
                                  headers=headers)).status == 403
    for headers in (buyer, auth(Role.SUPPLIER, supplier_id=uuid.uuid4())):
        resp = await client.get(f"{base}/members/{supplier['id']}/history", headers=headers)
        assert resp.status == 403
    center = auth(Role.PROCUREMENT_CENTER)
    assert (await client.post(f"{base}/applications", headers=center)).status == 403
    assert (await client.post(f"{base}/applications", headers=buyer)).status == 403
    assert (await client.post(moves, json=body)).status == 401


async def test_terminated_or_expired_pool_takes_no_members(
        client: TestClient, center: dict[str, str], auth: Auth, make_pool: Make,
        make_supplier: Make, admit: Make, move: Make) -> None:
    today = datetime.now(UTC).date()
    expired = await make_pool(valid_from=(today - timedelta(days=400)).isoformat(),
                              valid_to=(today - timedelta(days=5)).isoformat())
    terminated = await make_pool()
    member = await make_supplier()
    await admit(terminated["id"], member["id"])
    await client.post(f"/v1/pools/{terminated['id']}/terminate", json={"reason": "ended"},
                      headers=center)
    supplier = await make_supplier()
    me = auth(Role.SUPPLIER, supplier_id=supplier["id"])
    for pool in (expired, terminated):
        assert (await client.post(f"/v1/pools/{pool['id']}/applications",
                                  headers=me)).status == 409
        assert (await client.post(f"/v1/pools/{pool['id']}/members",
                                  json={"supplier_id": supplier["id"]},
                                  headers=center)).status == 409
    # Discipline still applies to existing members of a terminated pool.
    status, _ = await move(terminated["id"], member["id"], "removed", reason="collusion found",
                           ground="collusion")
    assert status == 200


async def test_unknown_ids_are_404(client: TestClient, center: dict[str, str], auth: Auth,
                                   make_pool: Make, make_supplier: Make, move: Make) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    status, _ = await move(pool["id"], supplier["id"], "admitted")  # not a member yet
    assert status == 404
    status, _ = await move(str(uuid.uuid4()), supplier["id"], "admitted")
    assert status == 404
    resp = await client.post(f"/v1/pools/{pool['id']}/members",
                             json={"supplier_id": str(uuid.uuid4())}, headers=center)
    assert resp.status == 404
    ghost = auth(Role.SUPPLIER, supplier_id=uuid.uuid4())
    assert (await client.post(f"/v1/pools/{pool['id']}/applications",
                              headers=ghost)).status == 404
    assert (await client.get(f"/v1/pools/{pool['id']}/members/{supplier['id']}/history",
                             headers=center)).status == 404
