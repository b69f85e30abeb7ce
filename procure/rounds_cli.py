"""`procure rounds launch|watch|show`: rounds of every method, as the center."""

from __future__ import annotations

import enum
import json
import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from procure.ui import Ui, clock, money

if TYPE_CHECKING:
    from procure.client import Services

rounds_app = typer.Typer(no_args_is_help=True,
                         help="Rounds: price competitions, direct selections, rotations.")


class Disclosure(enum.StrEnum):
    sealed = "sealed"
    rank = "rank"


class Method(enum.StrEnum):
    price_competition = "price_competition"
    direct_selection = "direct_selection"
    rotation = "rotation"


@rounds_app.command("launch")
def rounds_launch(
    ctx: typer.Context,
    pool: Annotated[str, typer.Option(help="The pool's code or id")],
    title: Annotated[str, typer.Option(help="What is bought")],
    method: Annotated[Method, typer.Option(
        help="price_competition (sealed bids), direct_selection or rotation")
    ] = Method.price_competition,
    ceiling: Annotated[str | None, typer.Option(
        help="Price competition: ceiling price in CNY, e.g. 380000.00")] = None,
    minutes: Annotated[float | None, typer.Option(
        min=0.01, help="Price competition: how long the round is open")] = None,
    amount: Annotated[str | None, typer.Option(
        help="Direct selection, rotation: the fixed (public) amount in CNY")] = None,
    supplier: Annotated[str | None, typer.Option(
        help="Direct selection: the selected supplier's id")] = None,
    justification: Annotated[str | None, typer.Option(
        help="Direct selection: why this supplier (20-2000 characters)")] = None,
    buyer_org: Annotated[str, typer.Option(help="The buying unit's org code")] = "WZ-SWJ",
    buyer_name: Annotated[str, typer.Option(help="The buying unit's name")] = "温州市商务局",
    budget_line: Annotated[str, typer.Option(help="The finance system's budget item")
                           ] = "GENERAL-0001",
    description: Annotated[str, typer.Option(help="Details for the suppliers")] = "",
    min_bids: Annotated[int, typer.Option(min=1, help="Fewer valid bids: the round fails")
                        ] = 3,
    sme_deduction: Annotated[str, typer.Option(
        help="Price deduction for small and micro suppliers, 0 to 0.20")] = "0",
    disclosure: Annotated[Disclosure, typer.Option(help="sealed, or rank (own rank shown)")
                          ] = Disclosure.sealed,
    min_decrement: Annotated[str | None, typer.Option(
        help="Each new own bid at least this much lower")] = None,
    extension: Annotated[str | None, typer.Option(
        help="Anti-sniping WINDOW,EXTEND,MAX (seconds, seconds, times), e.g. 60,120,5")
    ] = None,
    acceptance_hours: Annotated[float | None, typer.Option(
        min=0.001, help="Hours the winner has to accept (default 72)")] = None,
    working_days: Annotated[int | None, typer.Option(
        min=1, max=30, help="Instead: official PRC working days the winner has to accept")
    ] = None,
    review_low_prices: Annotated[bool, typer.Option(
        "--review-low-prices", help="Hold an abnormally low winner for the center's review")
    ] = False,
    opens_in_minutes: Annotated[float, typer.Option(
        min=0, help="Open later instead of at once")] = 0.0,
    idempotency_key: Annotated[str | None, typer.Option(
        help="Retrying with the same key launches nothing new")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Then follow it live")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the round as JSON")] = False,
) -> None:
    """Launch a round in a pool: a price competition invites every admitted supplier; a
    direct selection or a rotation is awarded at once."""
    from procure.cli import _execute, _state
    from procure.client import services
    from procure.rounds import FixedSpec, LaunchSpec, launch, parse_extension

    state = _state(ctx)
    ui = state.ui()
    seconds = round(acceptance_hours * 3600) if acceptance_hours else None
    spec: LaunchSpec | FixedSpec
    if method is Method.price_competition:
        if ceiling is None or minutes is None:
            raise typer.BadParameter("a price competition needs --ceiling and --minutes")
        spec = LaunchSpec(
            title=title, ceiling=ceiling, seconds=minutes * 60, buyer_org=buyer_org,
            buyer_name=buyer_name, budget_line=budget_line, description=description,
            min_bids=min_bids, sme_deduction=sme_deduction, disclosure=disclosure.value,
            min_decrement=min_decrement,
            extension=parse_extension(extension) if extension else None,
            acceptance_seconds=seconds, opens_in_seconds=opens_in_minutes * 60,
            acceptance_working_days=working_days, abnormal_price_review=review_low_prices)
    else:
        if amount is None:
            raise typer.BadParameter(f"{method.value} needs --amount")
        spec = FixedSpec(method=method.value, title=title, amount=amount,
                         buyer_org=buyer_org, buyer_name=buyer_name, budget_line=budget_line,
                         description=description, supplier_id=supplier,
                         justification=justification, acceptance_seconds=seconds,
                         acceptance_working_days=working_days)

    async def work() -> int:
        async with services(state.settings) as api:
            target = await api.find_pool(pool)
            rnd = await launch(api, target, spec, idempotency_key)
            if as_json:
                typer.echo(json.dumps(rnd, ensure_ascii=False))
            elif rnd.get("award"):
                award = rnd["award"]
                ui.say(f"launched round {rnd['id']} in {target['name']} ({target['code']}) "
                       f"by {rnd['method']}: awarded to {award['supplier']['name']} at "
                       f"{money(award['amount'])} (award {award['id']}, {award['status']})",
                       style="green")
            else:
                ui.say(f"launched round {rnd['id']} in {target['name']} ({target['code']}): "
                       f"{rnd['status']}, {rnd['invited_count']} suppliers invited, "
                       f"ceiling {money(rnd['ceiling_price'])}, closes at "
                       f"{clock(rnd['closes_at'])}", style="green")
                if not watch:
                    ui.say(f"follow it with: procure rounds watch {rnd['id']}")
            if watch and not rnd.get("award"):
                return await _watch(api, ui, str(rnd["id"]), 0.5)
        return 0

    _execute(ui, work())


@rounds_app.command("watch")
def rounds_watch(
    ctx: typer.Context,
    round_id: Annotated[str, typer.Argument(help="The round's id")],
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between looks")] = 0.5,
) -> None:
    """Follow a round live (countdown, bids, bidders, extensions), then its award."""
    from procure.cli import _execute, _state
    from procure.client import services

    state = _state(ctx)
    ui = state.ui()

    async def work() -> int:
        async with services(state.settings) as api:
            return await _watch(api, ui, _uuid(round_id), poll)

    _execute(ui, work())


async def _watch(api: Services, ui: Ui, round_id: str, poll: float) -> int:
    from procure.watch import RoundView, follow, show_award

    view = RoundView(ui)
    with view.live():
        final = await follow(api, round_id, view, poll=poll)
    ui.blank()
    show_award(ui, final)
    return 0


@rounds_app.command("show")
def rounds_show(
    ctx: typer.Context,
    round_id: Annotated[str, typer.Argument(help="The round's id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the round as JSON")] = False,
) -> None:
    """One round as the procurement center sees it (and its award, once awarded)."""
    from procure.cli import _execute, _state
    from procure.client import services
    from procure.watch import show_round

    state = _state(ctx)
    ui = state.ui()

    async def work() -> int:
        async with services(state.settings) as api:
            rnd = await api.bidding.get(f"/v1/rounds/{_uuid(round_id)}",
                                        token=api.tokens.center())
        if as_json:
            typer.echo(json.dumps(rnd, ensure_ascii=False))
        else:
            show_round(ui, rnd)
        return 0

    _execute(ui, work())


def _uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a round id (a UUID)") from None
