"""`procure dlq list|replay QUEUE`: the dead-lettered messages of a consumer queue."""

from __future__ import annotations

import json
from typing import Annotated

import typer

dlq_app = typer.Typer(no_args_is_help=True,
                      help="Dead-lettered messages: list them, replay them to their queue.")

QueueArg = Annotated[str, typer.Argument(
    help="The dead-letter queue, e.g. finance.awards.dlq (the .dlq may be left off)")]
LimitOpt = Annotated[int, typer.Option(min=1, help="Look at most at this many messages")]


@dlq_app.command("list")
def dlq_list(ctx: typer.Context, queue: QueueArg, limit: LimitOpt = 100,
             as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line")
                                ] = False) -> None:
    """Show the dead-lettered messages (type, event id, why they died) and leave them."""
    from procure.cli import _execute, _state
    from procure.dlq import dlq_name, list_dead

    state = _state(ctx)
    ui = state.ui()

    async def work() -> int:
        found = await list_dead(state.settings, queue, limit)
        for dead in found:
            if as_json:
                print(json.dumps(dead.as_dict(), ensure_ascii=False))
            else:
                ui.say(f"{dead.type or '?'}  event {dead.event_id or '-'}  "
                       f"message {dead.message_id or '-'}  {dead.reason or '?'} in "
                       f"{dead.queue or '?'}  ({dead.deaths}x, {dead.size} bytes)")
        if not as_json:
            ui.say(f"{len(found)} message(s) in {dlq_name(queue)}"
                   f"{' (limit reached)' if len(found) >= limit else ''}; nothing consumed",
                   style="dim")
        return 0

    _execute(ui, work())


@dlq_app.command("replay")
def dlq_replay(ctx: typer.Context, queue: QueueArg, limit: LimitOpt = 100,
               ids: Annotated[list[str] | None, typer.Option(
                   "--id", help="Only this message or event id (repeatable)")] = None,
               ) -> None:
    """Move dead-lettered messages back to the queue they died in (idempotent: the
    consumers' inbox drops an event id it already applied)."""
    from procure.cli import _execute, _state
    from procure.dlq import dlq_name, replay

    state = _state(ctx)
    ui = state.ui()

    async def work() -> int:
        done = await replay(state.settings, queue, limit, ids or ())
        for dead in done.moved:
            ui.say(f"replayed {dead.type or '?'} event {dead.event_id or '-'} to "
                   f"{dead.queue or '?'}")
        ui.say(f"{len(done.moved)} message(s) moved out of {dlq_name(queue)}, "
               f"{len(done.kept)} left there", style="dim")
        return 0

    _execute(ui, work())
