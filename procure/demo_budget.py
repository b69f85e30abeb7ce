"""The demo's budget loop (finance.md): the reference finance system runs beside the
demo, reserves the round's budget before it opens, commits it on acceptance, and
reports a payment on the award."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from procure.client import Json, Services
from procure.errors import ProcureError
from procure.finance_serve import FinanceSystem, pay
from procure.ledger import LedgerFile
from procure.settings import ProcureSettings
from procure.ui import Ui, money

# What the demo's budget line holds when the ledger does not know it yet.
OPENING_BALANCE = Decimal("1000000.00")
# The advance the demo's finance pays on the accepted award.
ADVANCE = Decimal("0.30")


class DemoFinance:
    """`procure finance serve` in-process for the demo, with its ledger file."""

    def __init__(self, settings: ProcureSettings, ui: Ui, ledger: Path) -> None:
        self.settings = settings
        self.ui = ui
        self.ledger = ledger
        self.system = FinanceSystem(settings, ledger, lambda line: ui.say(f"finance: {line}"),
                                    ui.warn)
        self._task: asyncio.Task[int] | None = None

    async def start(self, budget_line: str) -> None:
        with LedgerFile(self.ledger).edit() as book:
            if book.balance(budget_line) is None:
                book.set_line(budget_line, OPENING_BALANCE)
            balance = book.balance(budget_line)
        await self.system.connect()
        self._task = asyncio.create_task(self.system.run(), name="finance-system")
        self.ui.say(f"finance system (procure finance serve): answering "
                    f"{self.system.queue_name}; ledger {self.ledger}, budget line "
                    f"{budget_line} holds {money(str(balance))}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.system.close()

    async def reserved(self, api: Services, rnd: Json, patience: float = 30) -> Json:
        """Wait for the round to leave `pending_budget`; the round then."""
        budget = rnd.get("budget")
        if budget is None:
            self.ui.warn("the running bidding service has BUDGET_RESERVATION=off: no budget "
                         "loop (restart it with BUDGET_RESERVATION=required, or let the demo "
                         "start the services)")
            return rnd
        self.ui.say(f"  status {rnd['status']}: budget.reservation.requested "
                    f"{budget['reservation_id']} for {money(budget['amount'])}, reply by "
                    f"{budget['reply_by']}")
        rnd = await self._round_until(api, rnd["id"], lambda r: r["status"] != "pending_budget",
                                      patience)
        budget = rnd["budget"]
        if rnd["status"] == "cancelled":
            raise ProcureError(f"the round was cancelled ({rnd['status_reason']}): "
                               f"{budget.get('reason') or ''}")
        self.ui.say(f"  budget {budget['status']} ({money(budget['reserved_amount'])}): the "
                    f"round is {rnd['status']}", style="green")
        return rnd

    async def committed_and_paid(self, api: Services, award: Json) -> None:
        """After the acceptance: the commit, then a payment on the award."""
        rnd = await self._round_until(
            api, award["round_id"],
            lambda r: r["budget"] is None or r["budget"]["status"] == "committed", 30)
        budget = rnd["budget"]
        if budget is None:
            return
        self.ui.say(f"budget committed: {money(budget['committed_amount'])} to the award, "
                    f"{money(budget['released_amount'])} back to the budget line",
                    style="green")
        amount = (Decimal(award["amount"]) * ADVANCE).quantize(Decimal("0.01"))
        answer = await pay(self.settings, self.ledger, award["id"], amount)
        self.ui.say(f"finance: payment.recorded {answer.event['data']['payment_id']} "
                    f"(procure finance pay {award['id']} {amount})")
        shown: Json = {}
        for _ in range(150):
            shown = await api.bidding.get(f"/v1/awards/{award['id']}")
            if Decimal(shown["amount_paid"]) >= amount:
                break
            await asyncio.sleep(0.2)
        self.ui.say(f"award {award['id']}: amount_paid {money(shown['amount_paid'])} of "
                    f"{money(shown['amount'])}, {len(shown['payments'])} payment(s), "
                    f"overpaid {str(shown['overpaid']).lower()}", style="green")

    async def _round_until(self, api: Services, round_id: str, done: Callable[[Json], bool],
                           patience: float) -> Json:
        token = api.tokens.center()
        deadline = asyncio.get_running_loop().time() + patience
        while True:
            rnd: Json = await api.bidding.get(f"/v1/rounds/{round_id}", token=token)
            if done(rnd):
                return rnd
            if asyncio.get_running_loop().time() > deadline:
                raise ProcureError(f"round {round_id}: no budget answer within {patience:.0f} s "
                                   f"(is `procure finance serve` consuming "
                                   f"{self.settings.finance_budget_queue}?)")
            await asyncio.sleep(0.2)
