"""The audit trail: every state change leaves a row the center can read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from shared.auth import Role
from tests.integration.pool.conftest import Auth

Make = Callable[..., Any]


async def test_every_change_is_audited_and_readable_by_the_center(
        client: TestClient, center: dict[str, str], auth: Auth, make_pool: Make,
        make_supplier: Make, admit: Make, move: Make) -> None:
    pool, supplier = await make_pool(), await make_supplier()
    await admit(pool["id"], supplier["id"])
    await move(pool["id"], supplier["id"], "suspended", reason="complaint")
    await move(pool["id"], supplier["id"], "removed", reason="fraud", ground="false_documents")
    await client.patch(f"/v1/pools/{pool['id']}", json={"price_ceiling": "1.00"},
                       headers=center)
    await client.post(f"/v1/pools/{pool['id']}/terminate", json={"reason": "x"},
                      headers=center)

    member_subject = f"/v1/pools/{pool['id']}/members/{supplier['id']}"
    resp = await client.get("/v1/audit", params={"subject": member_subject}, headers=center)
    assert resp.status == 200
    entries = (await resp.json())["items"]
    assert [e["action"] for e in entries] == [  # newest first
        "membership.removed", "membership.suspended", "membership.admitted"]
    assert entries[0]["details"] == {"from": "suspended", "to": "removed", "reason": "fraud",
                                     "ground": "false_documents", "until": None, "version": 3}
    assert {e["actor_role"] for e in entries} == {"procurement_center"}

    pool_subject = f"/v1/pools/{pool['id']}"
    page = await (await client.get("/v1/audit", params={"subject": pool_subject, "limit": "2"},
                                   headers=center)).json()
    assert [e["action"] for e in page["items"]] == ["pool.terminated", "pool.updated"]
    rest = await (await client.get("/v1/audit", params={
        "subject": pool_subject, "limit": "2", "cursor": page["next_cursor"]},
        headers=center)).json()
    assert [e["action"] for e in rest["items"]] == ["pool.created"]
    assert rest["next_cursor"] is None

    supplier_subject = f"/v1/suppliers/{supplier['id']}"
    entries = (await (await client.get("/v1/audit", params={"subject": supplier_subject},
                                       headers=center)).json())["items"]
    assert [e["action"] for e in entries] == ["supplier.registered"]

    for headers in (auth(Role.BUYER, org="X"), auth(Role.SUPPLIER, supplier_id=supplier["id"]),
                    auth(Role.FINANCE)):
        assert (await client.get("/v1/audit", headers=headers)).status == 403
    assert (await client.get("/v1/audit")).status == 401
