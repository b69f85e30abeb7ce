"""The budget loop under faults (finance.md), with the reference finance system
answering: a bidding process SIGKILLed while reservations are answered and rounds run,
then the invariants at rest:

- for every reservation, reserved = committed + released (the bidding service's view)
  and the same figures in finance's ledger, whose balance plus what it holds committed
  is what the budget line started with;
- no round opened without a reservation covering its amount;
- exactly one release request per released reservation, none for a committed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from procure.finance_serve import FinanceSystem
from procure.ledger import LedgerFile
from procure.settings import ProcureSettings
from tests.faults.system import System, wait_for
from tests.faults.test_faults import Bids, bidder, check_invariants
from tests.integration.budget.support import budget_at_rest

pytestmark = pytest.mark.e2e
LINE = "2026-FAULT-1"
OPENING = Decimal("2000000.00")


@pytest.fixture
async def budget_system(service_env: dict[str, str]) -> AsyncIterator[System]:
    s = await System(service_env, f"fb{uuid.uuid4().hex[:8]}", budget=True).start()
    yield s
    codes = await s.stop()
    assert all(code == 0 for code in codes), codes


@pytest.fixture
async def reference_finance(budget_system: System, tmp_path: Path,
                            ) -> AsyncIterator[Path]:
    ledger = tmp_path / "ledger.json"
    with LedgerFile(ledger).edit() as book:
        book.set_line(LINE, OPENING)
    settings = ProcureSettings(
        amqp_url=budget_system.amqp_url, events_exchange=budget_system.exchange,
        finance_budget_queue=budget_system.bidding_env["FINANCE_BUDGET_QUEUE"])
    system = FinanceSystem(settings, ledger, lambda _line: None)
    await system.connect()
    task = asyncio.create_task(system.run())
    yield ledger
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await system.close()


async def check_budget_invariants(system: System, ledger: Path | None = None,
                                  opening: Decimal = OPENING) -> dict[str, Any]:
    """The budget loop's invariants at rest (call once every round has ended), and the
    same figures in the reference finance system's ledger."""
    rows = await budget_at_rest(system.sql, system.bidding_schema)
    opened = await system.sql(
        f"SELECT subject FROM {system.bidding_schema}.audit_log"
        " WHERE action IN ('round.open', 'round.scheduled')")
    assert len(opened) == len({r["subject"] for r in opened})  # each opened once
    releases = await system.sql(
        f"SELECT count(*) AS n FROM {system.bidding_schema}.outbox"
        " WHERE type = 'budget.release.requested'")
    figures: dict[str, Any] = {"reservations": len(rows), "releases": releases[0]["n"]}
    if ledger is not None:
        book = LedgerFile(ledger).read().state
        held = Decimal(0)
        for r in rows:
            entry = book["reservations"].get(str(r["id"]))
            if r["reserved_amount"] is None:
                assert entry is None or entry["status"] == "refused", entry
                continue
            assert entry is not None, dict(r)
            # At rest finance holds exactly what the bidding service shows committed.
            assert Decimal(entry["held"]) == (r["committed_amount"] or 0), (dict(r), entry)
            held += Decimal(entry["held"])
        assert Decimal(book["lines"][LINE]["balance"]) + held == opening
        figures["held"] = str(held)
    return figures


async def test_reservations_settle_exactly_once_when_a_bidding_process_is_killed(
        budget_system: System, reference_finance: Path) -> None:
    system = budget_system
    pool, suppliers = await system.make_pool(4)
    rounds = [await system.launch(pool["id"], seconds=25, min_bids=1) for _ in range(4)]
    # SIGKILL one bidding process while finance's answers arrive.
    victim = system.biddings[0]
    assert victim.proc is not None
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    await system.restart(victim)
    for r in rounds:
        await system.wait_round(r["id"], {"open"})
    bids = {r["id"]: Bids() for r in rounds[:3]}  # the last round gets no bid: it fails
    storm = asyncio.gather(*(bidder(system, r["id"], s["id"], Decimal("400000"),
                                    bids[r["id"]], pace=0.4)
                             for r in rounds[:3] for s in suppliers))
    await asyncio.sleep(2)
    victim = system.biddings[1]
    assert victim.proc is not None
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    await storm
    await system.restart(victim)
    await check_invariants(system, bids)
    await system.wait_round(rounds[3]["id"], {"failed"})
    for r in rounds[:3]:
        view = await system.round(r["id"])
        award = view["award"]
        await system.call("POST", f"{system.bidding_url()}/v1/awards/{award['id']}/accept",
                          headers=system.supplier_headers(award["supplier"]["id"]),
                          json={}, expect=200)

    async def settled() -> bool:
        rows = await system.sql(
            f"SELECT status FROM {system.bidding_schema}.budget_reservations")
        return len(rows) == 4 and all(r["status"] in ("committed", "released") for r in rows)

    await wait_for(settled, 60)
    await system.wait_outbox_empty(timeout=60)
    figures = await check_budget_invariants(system, reference_finance)
    assert figures["reservations"] == 4 and figures["releases"] == 1
