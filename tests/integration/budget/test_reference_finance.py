"""The reference finance system (`procure finance serve`'s FinanceSystem and `procure
finance pay`) against the bidding service over the real broker: the whole loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bidding_service.settings import BiddingSettings
from procure.finance_serve import FinanceSystem, pay
from procure.ledger import LedgerFile
from procure.settings import ProcureSettings
from tests.integration.bidding.conftest import PoolFeed
from tests.integration.bidding.helpers import bid

from .support import Auth, budget_is, close_now, launched, wait_round

LINE = "2026-REF-0001"


@pytest.fixture
async def reference(budget_settings: BiddingSettings, tmp_path: Path,
                    ) -> AsyncIterator[tuple[FinanceSystem, Path]]:
    ledger = tmp_path / "ledger.json"
    with LedgerFile(ledger).edit() as book:
        book.set_line(LINE, Decimal("150000.00"))
    settings = ProcureSettings(
        amqp_url=budget_settings.amqp_url, events_exchange=budget_settings.events_exchange,
        finance_budget_queue=f"{budget_settings.finance_budget_queue}.reference")
    system = FinanceSystem(settings, ledger, lambda _line: None)
    await system.connect()
    task = asyncio.create_task(system.run())
    yield system, ledger
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await system.close()


async def test_the_reference_finance_system_runs_the_whole_loop(
        budget_app: TestClient, budget_feed: PoolFeed, auth: Auth,
        reference: tuple[FinanceSystem, Path], budget_db: asyncpg.Connection) -> None:
    system, ledger = reference
    r, people = await launched(budget_app, budget_feed, auth, budget_line=LINE)
    await wait_round(budget_app, auth, r["id"], lambda x: x["status"] == "open")
    assert LedgerFile(ledger).read().balance(LINE) == Decimal("50000.00")

    # Too little left on the line: refused, with the shortfall.
    other, _ = await launched(budget_app, budget_feed, auth, budget_line=LINE)
    refused = await wait_round(budget_app, auth, other["id"],
                               lambda x: x["status"] == "cancelled")
    assert refused["status_reason"] == "budget_refused"
    assert "short by 50000.00" in refused["budget"]["reason"]

    for m, amount in zip(people[:2], ("86500.00", "91000.00"), strict=True):
        status, body = await bid(budget_app, auth("supplier", supplier_id=str(m.id)),
                                 r["id"], amount)
        assert status == 201, body
    await close_now(budget_db, r["id"])
    done = await wait_round(budget_app, auth, r["id"], lambda x: x["status"] == "awarded")
    award = done["award"]
    async with budget_app.post(f"/v1/awards/{award['id']}/accept",
                               headers=auth("supplier", supplier_id=award["supplier"]["id"])
                               ) as resp:
        assert resp.status == 200
    committed = await wait_round(budget_app, auth, r["id"], budget_is("committed"))
    assert committed["budget"]["committed_amount"] == "86500.00"
    assert LedgerFile(ledger).read().balance(LINE) == Decimal("63500.00")

    settings = ProcureSettings(amqp_url=system.settings.amqp_url,
                               events_exchange=system.settings.events_exchange)
    answer = await pay(settings, ledger, award["id"], Decimal("40000.00"))
    assert answer.event["data"]["round_id"] == r["id"]
    for _ in range(200):
        async with budget_app.get(f"/v1/awards/{award['id']}") as resp:
            shown = await resp.json()
        if shown["amount_paid"] == "40000.00":
            break
        await asyncio.sleep(0.1)
    assert (shown["amount_paid"], shown["overpaid"]) == ("40000.00", False)
