"""`procure rotation show|set`, `procure questions list|answer`, `procure awards
cancel|review`: the second-stage methods' operator commands (spec methods.md)."""

from __future__ import annotations

import enum
import json
import uuid
from typing import Annotated, Any

import typer

rotation_app = typer.Typer(no_args_is_help=True,
                           help="A pool's rotation order (顺序轮候): show it, set it.")
questions_app = typer.Typer(no_args_is_help=True,
                            help="Clarification questions of a round (askers never shown).")
awards_app = typer.Typer(no_args_is_help=True,
                         help="Correct an award (cancel) or review an abnormally low price.")

PoolOpt = Annotated[str, typer.Argument(help="The pool's id, or its code")]
RoundArg = Annotated[str, typer.Argument(help="The round's id")]
AwardArg = Annotated[str, typer.Argument(help="The award's id")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the answer as JSON")]


class ReasonCode(enum.StrEnum):
    no_demand = "no_demand"
    budget_cut = "budget_cut"
    defect_in_terms = "defect_in_terms"
    force_majeure = "force_majeure"
    other = "other"


class Decision(enum.StrEnum):
    confirm = "confirm"
    reject = "reject"


def _id(text: str, what: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not {what} (a UUID)") from None


async def _pool_id(api: Any, pool: str) -> str:
    """A pool id as given, or the id of the pool with this code (asks the pool service)."""
    try:
        return str(uuid.UUID(pool))
    except ValueError:
        return str((await api.find_pool(pool))["id"])


def _show_rotation(ctx: typer.Context, view: dict[str, Any], as_json: bool) -> None:
    from procure.cli import _state

    ui = _state(ctx).ui()
    if as_json:
        typer.echo(json.dumps(view, ensure_ascii=False))
        return
    ui.say(f"period {view['period']}, next: {view['next_supplier_id'] or 'nobody eligible'}")
    for n, entry in enumerate(view["order"], start=1):
        ui.say(f"{n:>3}  {entry['supplier_id']}  {'served' if entry['served'] else ''}")


@rotation_app.command("show")
def rotation_show(ctx: typer.Context, pool: PoolOpt, as_json: JsonOpt = False) -> None:
    """The pool's rotation order, who was served this period and who is next."""
    from procure.cli import _execute, _state
    from procure.client import services

    state = _state(ctx)

    async def work() -> int:
        async with services(state.settings) as api:
            view = await api.bidding.get(f"/v1/pools/{await _pool_id(api, pool)}/rotation",
                                         token=api.tokens.center())
        _show_rotation(ctx, view, as_json)
        return 0

    _execute(state.ui(), work())


@rotation_app.command("set")
def rotation_set(ctx: typer.Context, pool: PoolOpt,
                 suppliers: Annotated[list[str], typer.Argument(
                     help="Supplier ids in their new order (members not named follow)")],
                 as_json: JsonOpt = False) -> None:
    """Set the pool's rotation order."""
    from procure.cli import _execute, _state
    from procure.client import services

    state = _state(ctx)
    order = [_id(s, "a supplier id") for s in suppliers]

    async def work() -> int:
        async with services(state.settings) as api:
            view = await api.bidding.put(f"/v1/pools/{await _pool_id(api, pool)}/rotation",
                                         token=api.tokens.center(), json={"order": order})
        _show_rotation(ctx, view, as_json)
        return 0

    _execute(state.ui(), work())


@questions_app.command("list")
def questions_list(ctx: typer.Context, round_id: RoundArg, as_json: JsonOpt = False) -> None:
    """Every question of a round with its answer, as the center sees them."""
    from procure.cli import _execute, _state
    from procure.client import services

    state = _state(ctx)
    ui = state.ui()

    async def work() -> int:
        async with services(state.settings) as api:
            page = await api.bidding.get(f"/v1/rounds/{_id(round_id, 'a round id')}/questions",
                                         token=api.tokens.center())
        if as_json:
            typer.echo(json.dumps(page, ensure_ascii=False))
            return 0
        for q in page["items"]:
            ui.say(f"{q['id']}  {q['asked_at']}  {q['text']}")
            ui.say(f"    answer: {q['answer']}" if q["answer"] else "    (not answered yet)")
        ui.say(f"{len(page['items'])} question(s)")
        return 0

    _execute(ui, work())


@questions_app.command("answer")
def questions_answer(ctx: typer.Context, round_id: RoundArg,
                     question_id: Annotated[str, typer.Argument(help="The question's id")],
                     text: Annotated[str, typer.Argument(help="The answer (public at once)")],
                     as_json: JsonOpt = False) -> None:
    """Answer a question, once; the answer is published at once."""
    from procure.cli import _execute, _state
    from procure.client import services

    state = _state(ctx)
    ui = state.ui()

    async def work() -> int:
        async with services(state.settings) as api:
            q = await api.bidding.post(
                f"/v1/rounds/{_id(round_id, 'a round id')}/questions/"
                f"{_id(question_id, 'a question id')}/answer",
                token=api.tokens.center(), json={"text": text})
        if as_json:
            typer.echo(json.dumps(q, ensure_ascii=False))
        else:
            ui.say(f"answered {q['id']}: {q['answer']}", style="green")
        return 0

    _execute(ui, work())


def _say_award(ctx: typer.Context, award: dict[str, Any], as_json: bool) -> None:
    from procure.cli import _state

    if as_json:
        typer.echo(json.dumps(award, ensure_ascii=False))
        return
    _state(ctx).ui().say(f"award {award['id']} of round {award['round_id']}: "
                         f"{award['status']}", style="green")


@awards_app.command("cancel")
def awards_cancel(
    ctx: typer.Context, award_id: AwardArg,
    reason: Annotated[str, typer.Option(help="Why, on the record")],
    reason_code: Annotated[ReasonCode, typer.Option(help="The reason's code")
                           ] = ReasonCode.other,
    reaward_next: Annotated[bool, typer.Option(
        "--reaward-next", help="Award the next bidder (rotation: the next in the order)")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Cancel an award (the correction of a wrong award); without --reaward-next the
    round is cancelled."""
    from procure.cli import _execute, _state
    from procure.client import services

    state = _state(ctx)

    async def work() -> int:
        async with services(state.settings) as api:
            award = await api.bidding.post(
                f"/v1/awards/{_id(award_id, 'an award id')}/cancel", token=api.tokens.center(),
                json={"reason_code": reason_code.value, "reason": reason,
                      "reaward_next": reaward_next})
        _say_award(ctx, award, as_json)
        return 0

    _execute(state.ui(), work())


@awards_app.command("review")
def awards_review(
    ctx: typer.Context, award_id: AwardArg,
    decision: Annotated[Decision, typer.Option(help="confirm, or reject (next bidder)")],
    note: Annotated[str, typer.Option(help="The review's note, on the record")],
    as_json: JsonOpt = False,
) -> None:
    """Confirm or reject an award held for an abnormally low price."""
    from procure.cli import _execute, _state
    from procure.client import services

    state = _state(ctx)

    async def work() -> int:
        async with services(state.settings) as api:
            award = await api.bidding.post(
                f"/v1/awards/{_id(award_id, 'an award id')}/review", token=api.tokens.center(),
                json={"decision": decision.value, "note": note})
        _say_award(ctx, award, as_json)
        return 0

    _execute(state.ui(), work())
