"""`procure demo` with the budget loop and `procure finance serve|pay` as real processes
against a bidding service running BUDGET_RESERVATION=required (finance.md)."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from shared.auth import Role, mint_token
from tests.e2e.test_procure import _env, _procure, _python_m, procure_env
from tests.support import ROOT, ServiceProcess

pytestmark = pytest.mark.e2e
__all__ = ["procure_env"]  # the module's database and broker names, shared with it


@pytest.mark.timeout(300)
async def test_demo_runs_the_loop_and_the_reference_finance_system_refuses_a_shortfall(
        procure_env: dict[str, str], tmp_path: Path) -> None:
    env = {**procure_env, "BUDGET_RESERVATION": "required"}
    await _python_m(_env(env), "pool_service", "seed")
    bidding = await ServiceProcess("bidding_service", env).start()
    pool = await ServiceProcess("pool_service", env).start()
    ledger = tmp_path / "ledger.json"
    try:
        code, out, err = await _procure(
            _env(env, POOL_URL=pool.url, BIDDING_URL=bidding.url),
            "demo", "--non-interactive", "--round-seconds", "8", "--seed", "7",
            "--ledger", str(ledger), "--finance-out", str(tmp_path / "awards.jsonl"),
            timeout=200)
        assert code == 0, f"{out[-4000:]}\n{err[-4000:]}"
        for step in ("status pending_budget: budget.reservation.requested",
                     "-> budget.reserved", "the round is open", "-> budget.committed",
                     "budget committed:", "finance: payment.recorded", "amount_paid"):
            assert step in out, step
        match = re.fullmatch(r"AWARD (\S+) (\S+) (\d+\.\d{2})", out.strip().splitlines()[-1])
        assert match, out[-2000:]
        award_id = match[1]

        # `procure finance pay` on the demo's ledger: one more payment on the award.
        code, said, err = await _procure(
            _env(env, BIDDING_URL=bidding.url), "finance", "pay", award_id, "10.00",
            "--ledger", str(ledger))
        assert code == 0, err
        assert "payment.recorded" in said
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                async with http.get(f"{bidding.url}/v1/awards/{award_id}") as resp:
                    award = await resp.json()
                if len(award["payments"]) == 2:
                    break
                await asyncio.sleep(0.2)
            assert len(award["payments"]) == 2 and award["overpaid"] is False

            # `procure finance serve` as a process: a line without enough balance.
            serve = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "procure", "finance", "serve", "--ledger",
                str(tmp_path / "small.json"), "--line", "2027-SMALL-1=1000.00",
                "--timeout", "60", env=_env(env), cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                center = {"Authorization": "Bearer " + mint_token(
                    env["JWT_SECRET"], Role.PROCUREMENT_CENTER, sub="e2e-center")}
                async with http.get(f"{bidding.url}/v1/pools/"
                                    f"{award['pool_id']}/eligible", headers=center) as resp:
                    assert resp.status == 200
                body = {"pool_id": award["pool_id"], "title": "Small line",
                        "buyer": {"org": "WZ-SWJ", "name": "温州市商务局"},
                        "budget_line": "2027-SMALL-1", "ceiling_price": "5000.00",
                        "closes_at": (datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
                        "min_bids": 2}
                async with http.post(f"{bidding.url}/v1/rounds", json=body,
                                     headers=center) as resp:
                    rnd = await resp.json()
                    assert resp.status == 201, rnd
                for _ in range(200):
                    async with http.get(f"{bidding.url}/v1/rounds/{rnd['id']}",
                                        headers=center) as resp:
                        rnd = await resp.json()
                    if rnd["status"] != "pending_budget":
                        break
                    await asyncio.sleep(0.2)
                assert (rnd["status"], rnd["status_reason"]) == ("cancelled", "budget_refused")
                assert "balance 1000.00, short by 4000.00" in rnd["budget"]["reason"]
            finally:
                serve.terminate()
                await serve.communicate()
        book = json.loads((tmp_path / "small.json").read_text())
        assert book["lines"]["2027-SMALL-1"]["balance"] == "1000.00"
    finally:
        for service in (pool, bidding):
            assert service.terminate() == 0
