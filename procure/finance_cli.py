"""`procure finance listen|serve|pay`: the finance integration, and the reference
finance system of the budget loop (finance.md)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from procure.ui import money
from shared.types import parse_money

finance_app = typer.Typer(no_args_is_help=True, help="The finance integration.")



@finance_app.command("listen")
def finance_listen(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="JSON-lines file the events are appended to")
                   ] = Path("awards.jsonl"),
    count: Annotated[int | None, typer.Option(
        min=1, help="Stop after this many new events")] = None,
    timeout: Annotated[float | None, typer.Option(
        min=0.1, help="Stop after this many seconds")] = None,
) -> None:
    """Consume the durable finance queue (award.*, round.failed, round.cancelled) into a
    JSON-lines file.

    Each event is appended and fsync'ed before it is acknowledged; ids already in the
    file are acknowledged and skipped, so a redelivery never writes an event twice.
    """
    from procure.cli import _execute, _state
    from procure.finance import FinanceListener, describe

    state = _state(ctx)
    ui = state.ui()

    def on_event(event: dict[str, Any], fresh: bool) -> None:
        if fresh:
            ui.say(describe(event), style="green" if event.get("type") ==
                   "award.published" else None)
        else:
            ui.say(f"already recorded, skipped: {event.get('type')} {event.get('id')}",
                   style="dim")

    async def work() -> int:
        listener = FinanceListener(state.settings, out, on_event, ui.warn)
        await listener.connect()
        try:
            ui.say(f"listening on {listener.queue_name} (bound to "
                   f"{', '.join(listener.routing_keys)} on {state.settings.events_exchange}); "
                   f"appending to {out} ({len(listener.file.ids)} events already there)",
                   style="dim")
            written = await listener.run(count=count, max_seconds=timeout)
        finally:
            await listener.close()
        ui.say(f"{written} new event(s) written to {out}; {listener.skipped} duplicate(s) "
               "skipped", style="dim")
        if count is not None and written < count:
            ui.fail(f"timed out after {timeout:g} s with {written} of {count} events")
            return 1
        return 0

    _execute(ui, work())


def _budget_line(text: str) -> tuple[str, Decimal]:
    line, sep, amount = text.partition("=")
    try:
        if not sep or not line.strip():
            raise ValueError
        return line.strip(), parse_money(amount.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not LINE=BALANCE, e.g. 2026-CG-0101=500000.00"
                                 ) from None


@finance_app.command("serve")
def finance_serve(
    ctx: typer.Context,
    ledger: Annotated[Path, typer.Option(help="The ledger: budget lines and balances (JSON)")
                      ] = Path("ledger.json"),
    line: Annotated[list[str] | None, typer.Option(
        help="Set a budget line's balance first: LINE=BALANCE (repeatable)")] = None,
    timeout: Annotated[float | None, typer.Option(
        min=0.1, help="Stop after this many seconds")] = None,
) -> None:
    """A reference finance system: answers the budget requests of `finance.budget`.

    Reserves when the budget line's balance covers the amount (else refuses, saying the
    shortfall), commits an accepted award's amount and gives the rest back, releases.
    The ledger is written durably before each request is acknowledged.
    """
    from procure.cli import _execute, _state
    from procure.finance_serve import FinanceSystem
    from procure.ledger import LedgerFile

    state = _state(ctx)
    ui = state.ui()
    lines = [_budget_line(text) for text in line or []]

    async def work() -> int:
        if lines:
            with LedgerFile(ledger).edit() as book:
                for name, balance in lines:
                    book.set_line(name, balance)
        system = FinanceSystem(state.settings, ledger, ui.say, ui.warn)
        await system.connect()
        try:
            book = LedgerFile(ledger).read()
            shown = ", ".join(f"{name} {money(entry['balance'])}"
                              for name, entry in sorted(book.state["lines"].items()))
            ui.say(f"finance: answering {system.queue_name} on "
                   f"{state.settings.events_exchange}; ledger {ledger} ({shown or 'no lines'})",
                   style="dim")
            answered = await system.run(max_seconds=timeout)
        finally:
            await system.close()
        ui.say(f"{answered} request(s) answered", style="dim")
        return 0

    _execute(ui, work())


@finance_app.command("pay")
def finance_pay(
    ctx: typer.Context,
    award_id: Annotated[str, typer.Argument(help="The accepted award")],
    amount: Annotated[str, typer.Argument(help="Money, e.g. 40000.00")],
    ledger: Annotated[Path, typer.Option(help="The ledger of `procure finance serve`")
                      ] = Path("ledger.json"),
) -> None:
    """Report a payment on an accepted (committed) award: `payment.recorded`."""
    from procure.cli import _execute, _state
    from procure.finance_serve import pay
    from procure.rounds_cli import _uuid

    state = _state(ctx)
    ui = state.ui()
    try:
        value = parse_money(amount)
    except ValueError:
        raise typer.BadParameter(f"{amount!r} is not money such as 40000.00") from None

    async def work() -> int:
        answer = await pay(state.settings, ledger, _uuid(award_id), value)
        ui.say(f"payment.recorded: {answer.summary}", style="green")
        return 0

    _execute(ui, work())
