"""Both services agree on "today": the date in JURISDICTION_TZ, not in UTC (methods.md).

The test picks a zone whose date differs from UTC's right now (a day ahead or a day
behind), makes a pool whose validity starts (or ends) on that local day, and checks that
the pool service calls it active and the bidding service launches a round in it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.faults.system import System
from tests.integration.bidding.conftest import credit_code

pytestmark = pytest.mark.e2e


def zone_off_utc() -> tuple[str, date]:
    """A real zone whose date is not UTC's at this moment, with its date (hours of margin
    either way: UTC+14 from 10:00 UTC on, UTC-11 before it)."""
    now = datetime.now(UTC)
    name = "Pacific/Kiritimati" if now.hour >= 10 else "Pacific/Pago_Pago"
    local = now.astimezone(ZoneInfo(name)).date()
    assert local != now.date()
    return name, local


@pytest.fixture
async def system(service_env: dict[str, str]) -> AsyncIterator[System]:
    zone, _ = zone_off_utc()
    s = System({**service_env, "JURISDICTION_TZ": zone}, f"tz{uuid.uuid4().hex[:8]}")
    await s.start(n_pool=1, n_bidding=1)
    yield s
    assert all(code == 0 for code in await s.stop())


async def test_a_pool_valid_from_or_to_the_local_today_is_active_in_both(
        system: System) -> None:
    zone, local = zone_off_utc()
    utc_today = datetime.now(UTC).date()
    if local > utc_today:  # a day ahead: the pool starts today there, tomorrow in UTC
        valid_from, valid_to = local, local + timedelta(days=300)
    else:  # a day behind: the pool ended yesterday in UTC, it ends today there
        valid_from, valid_to = local - timedelta(days=300), local
    _, pool = await system.call("POST", f"{system.pool_url()}/v1/pools",
                                headers=system.center, expect=201, json={
        "code": f"tz-{uuid.uuid4().hex[:10]}", "name": "会议服务",
        "category": "government_support", "jurisdiction": "温州市",
        "valid_from": str(valid_from), "valid_to": str(valid_to),
        "price_ceiling": "900000.00", "max_round_budget": "900000.00"})
    assert pool["status"] == "active", (zone, pool)
    suppliers = []
    for i in range(2):
        _, s = await system.call("POST", f"{system.pool_url()}/v1/suppliers",
                                 headers=system.center, expect=201, json={
            "name": f"温州时区测试服务有限公司{i}-{uuid.uuid4().hex[:4]}",
            "credit_code": credit_code(), "kind": "enterprise", "size": "small"})
        await system.call("POST", f"{system.pool_url()}/v1/pools/{pool['id']}/members",
                          headers=system.center, json={"supplier_id": s["id"]}, expect=201)
        suppliers.append(s)
    await system.wait_eligible(pool["id"], {s["id"] for s in suppliers})
    # The bidding service judges the pool by the same local date: the launch goes ahead.
    rnd = await system.launch(pool["id"], seconds=600)
    assert rnd["status"] in ("open", "scheduled")
    await system.call("POST", f"{system.bidding_url()}/v1/rounds/{rnd['id']}/cancel",
                      headers=system.center, json={"reason": "time zone check done"},
                      expect=200)
