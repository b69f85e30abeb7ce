"""`procure`: run, inspect and demonstrate the procurement services from a terminal."""

from __future__ import annotations

import asyncio
import enum
import json
import os
import sys
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from procure.dlq_cli import dlq_app
from procure.errors import ProcureError
from procure.finance_cli import finance_app
from procure.methods_cli import awards_app, questions_app, rotation_app
from procure.rounds_cli import rounds_app
from procure.settings import ProcureSettings, with_port
from procure.ui import Ui, money
from procure.verify_cmd import audit_app, verify_command
from shared.auth import Role, mint_token

if TYPE_CHECKING:
    pass

app = typer.Typer(
    name="procure", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Operate the pool and bidding services: run them, inspect pools and rounds, "
         "mint dev tokens, listen like a finance system, or watch a whole demo round.")
pools_app = typer.Typer(no_args_is_help=True, help="Pools of pre-qualified suppliers.")
app.add_typer(pools_app, name="pools")
app.add_typer(rounds_app, name="rounds")
app.add_typer(finance_app, name="finance")
app.add_typer(dlq_app, name="dlq")
app.add_typer(audit_app, name="audit")
app.add_typer(rotation_app, name="rotation")
app.add_typer(questions_app, name="questions")
app.add_typer(awards_app, name="awards")
app.command("verify")(verify_command)


@dataclass
class State:
    settings: ProcureSettings
    plain: bool

    def ui(self, *, plain: bool = False) -> Ui:
        return Ui(plain=self.plain or plain)


def _state(ctx: typer.Context) -> State:
    state = ctx.obj
    assert isinstance(state, State)
    return state


def _execute(ui: Ui, work: Coroutine[Any, Any, int | None]) -> None:
    """Run `work`; a ProcureError becomes one clear message and an exit code."""
    try:
        code = asyncio.run(work)
    except ProcureError as exc:
        ui.fail(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        ui.fail("interrupted")
        raise typer.Exit(130) from None
    except asyncio.CancelledError:  # SIGTERM during `procure demo`
        ui.fail("terminated")
        raise typer.Exit(143) from None
    except BrokenPipeError:
        # The reader went away (`procure pools list | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    if code:
        raise typer.Exit(code)


@app.callback()
def main(
    ctx: typer.Context,
    pool_url: Annotated[str | None, typer.Option(
        help="Pool service base URL [env POOL_URL; default http://127.0.0.1:8081]")] = None,
    bidding_url: Annotated[str | None, typer.Option(
        help="Bidding service base URL [env BIDDING_URL; default http://127.0.0.1:8082]")
    ] = None,
    amqp_url: Annotated[str | None, typer.Option(
        help="RabbitMQ URL [env AMQP_URL; default amqp://guest:guest@127.0.0.1:5672/]")
    ] = None,
    events_exchange: Annotated[str | None, typer.Option(
        help="Events exchange [env EVENTS_EXCHANGE; default procurement.events]")] = None,
    jwt_secret: Annotated[str | None, typer.Option(
        help="HS256 secret for dev tokens [env JWT_SECRET; default: the services' built-in "
             "development secret, accepted only with DEV_MODE=true]", show_default=False)
    ] = None,
    finance_queue: Annotated[str | None, typer.Option(
        help="Finance queue [env FINANCE_QUEUE; default finance.awards]")] = None,
    plain: Annotated[bool, typer.Option(
        "--plain", help="Plain lines, no colour or live views (automatic when not a TTY)")
    ] = False,
) -> None:
    """Options here apply to every command; each falls back to its environment variable."""
    given: dict[str, Any] = {"pool_url": pool_url, "bidding_url": bidding_url, "amqp_url": amqp_url,
             "events_exchange": events_exchange, "jwt_secret": jwt_secret,
             "finance_queue": finance_queue}
    try:
        settings = ProcureSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                             for e in exc.errors())
        raise typer.BadParameter(problems) from None
    ctx.obj = State(settings, plain)


# ---------------------------------------------------------------- run


@app.command()
def run(
    ctx: typer.Context,
    pool_port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Serve the pool service on this port (default: POOL_URL's)")
    ] = None,
    bidding_port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Serve the bidding service on this port (default: "
                               "BIDDING_URL's)")] = None,
    round_min_seconds: Annotated[int, typer.Option(
        min=0, envvar="ROUND_MIN_DURATION_SECONDS",
        help="ROUND_MIN_DURATION_SECONDS for the services (short, for local use)")] = 10,
    seed: Annotated[bool, typer.Option(help="Seed the pool catalogue before serving")] = True,
    raw_logs: Annotated[bool, typer.Option(
        help="Forward the services' JSON log lines as they are")] = False,
) -> None:
    """Migrate, seed and serve both services until Ctrl-C (or SIGTERM), then stop them.

    PostgreSQL and RabbitMQ must be running (scripts/services starts them). The services
    get this environment (DATABASE_URL, AMQP_URL, EVENTS_EXCHANGE, JWT_SECRET, ...).
    """
    from procure.stack import PORTAL, ConsoleLogs, ServiceStack, run_until_signal

    state = _state(ctx)
    settings = state.settings
    if pool_port is not None:
        settings = settings.model_copy(update={"pool_url": with_port(settings.pool_url,
                                                                     pool_port)})
    if bidding_port is not None:
        settings = settings.model_copy(update={"bidding_url": with_port(settings.bidding_url,
                                                                        bidding_port)})
    ui = state.ui()
    stack = ServiceStack(settings, ui, ConsoleLogs(ui, raw=raw_logs),
                         round_min_seconds=round_min_seconds, seed=seed)

    def ready() -> None:
        for child in stack.children:
            url = child.service.url
            docs = "" if child.service.key == PORTAL else f"API docs {url}/docs, "
            ui.say(f"{child.service.title:<16} {url}  ({docs}pid {child.proc.pid})",
                   style="bold green")
        ui.say(f"events           exchange {settings.events_exchange} on "
               f"{settings.masked_amqp_url}; finance queue {settings.finance_queue}")
        ui.say(f"rounds may be as short as {round_min_seconds} s; press Ctrl-C to stop")

    _execute(ui, run_until_signal(stack, ui, ready))


# ---------------------------------------------------------------- token


@app.command()
def token(
    ctx: typer.Context,
    role: Annotated[Role, typer.Option(case_sensitive=False, help="The token's role")],
    supplier_id: Annotated[str | None, typer.Option(
        help="The supplier the token acts for (role supplier)")] = None,
    org: Annotated[str | None, typer.Option(help="The buyer's org code (role buyer)")] = None,
    sub: Annotated[str | None, typer.Option(help="Subject (default: a generated one)")] = None,
    ttl: Annotated[int, typer.Option(min=1, help="Seconds until it expires")] = 3600,
) -> None:
    """Print a development HS256 token signed with JWT_SECRET."""
    if role is Role.SUPPLIER:
        if supplier_id is None:
            raise typer.BadParameter("a supplier token needs --supplier-id",
                                     param_hint="--supplier-id")
        try:
            uuid.UUID(supplier_id)
        except ValueError:
            raise typer.BadParameter(f"{supplier_id!r} is not a UUID",
                                     param_hint="--supplier-id") from None
    elif supplier_id is not None:
        raise typer.BadParameter("only a supplier token carries a supplier id",
                                 param_hint="--supplier-id")
    if role is Role.BUYER and not org:
        raise typer.BadParameter("a buyer token needs --org", param_hint="--org")
    if role is not Role.BUYER and org is not None:
        raise typer.BadParameter("only a buyer token carries an org", param_hint="--org")
    settings = _state(ctx).settings
    if settings.dev_secret:
        typer.echo("note: signed with the built-in development secret; only services "
                   "running with DEV_MODE=true accept it (set JWT_SECRET otherwise)", err=True)
    typer.echo(mint_token(settings.jwt_secret.get_secret_value(), role, sub=sub,
                          supplier_id=supplier_id, org=org, ttl_seconds=ttl))


# ---------------------------------------------------------------- pools


class Category(enum.StrEnum):
    public_service = "public_service"
    government_support = "government_support"


class PoolStatus(enum.StrEnum):
    upcoming = "upcoming"
    active = "active"
    expired = "expired"
    terminated = "terminated"


@pools_app.command("list")
def pools_list(
    ctx: typer.Context,
    category: Annotated[Category | None, typer.Option(help="Only this category")] = None,
    status: Annotated[PoolStatus | None, typer.Option(help="Only this status")] = None,
    jurisdiction: Annotated[str | None, typer.Option(help="Only this jurisdiction")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one pool each")] = False,
) -> None:
    """The pools (GET /v1/pools)."""
    from procure.client import services

    state = _state(ctx)
    ui = state.ui()
    params = {k: v.value if isinstance(v, enum.Enum) else v
              for k, v in {"category": category, "status": status,
                           "jurisdiction": jurisdiction}.items() if v is not None}

    async def work() -> int:
        async with services(state.settings) as api:
            pools = [p async for p in api.pool.pages("/v1/pools", params=params)]
        if as_json:
            for pool in pools:
                typer.echo(json.dumps(pool, ensure_ascii=False))
            return 0
        if not pools:
            ui.say("no pools match" if params else
                   "no pools yet (`python -m pool_service seed` adds the catalogue)")
            return 0
        ui.table(["code", "name", "category", "jurisdiction", "status", ("admitted", "right"),
                  ("price ceiling", "right"), ("max round budget", "right"), "valid to"],
                 [[p["code"], p["name"], p["category"], p["jurisdiction"],
                   p["status"] + (" (top up)" if p.get("needs_top_up") else ""),
                   p["admitted_count"], money(p["price_ceiling"]),
                   money(p["max_round_budget"]), p["valid_to"]] for p in pools],
                 title=f"{len(pools)} pools")
        return 0

    _execute(ui, work())


# ---------------------------------------------------------------- demo


@app.command()
def demo(
    ctx: typer.Context,
    non_interactive: Annotated[bool, typer.Option(
        "--non-interactive", help="No prompt, plain lines (for scripts and CI)")] = False,
    round_seconds: Annotated[float, typer.Option(
        min=2, help="How long the demo round is open")] = 30.0,
    finance_out: Annotated[Path | None, typer.Option(
        help="The finance listener's JSON-lines file (default: a temp file)")] = None,
    seed: Annotated[int | None, typer.Option(
        help="Random seed for the bidders' behaviour (default: a new one)")] = None,
    ledger: Annotated[Path | None, typer.Option(
        help="The reference finance system's ledger (default: a temp file)")] = None,
) -> None:
    """A whole round end to end: suppliers, admission, budget reservation, live bidding,
    award, acceptance, budget commit, a payment.

    Uses the running services, or starts them (as `procure run` does) and stops them at
    the end. The last line is `AWARD <award_id> <supplier_id> <amount>`.
    """
    from procure.demo import run_demo

    state = _state(ctx)
    ui = state.ui(plain=non_interactive)
    interactive = not non_interactive and ui.rich and sys.stdin.isatty()
    _execute(ui, run_demo(state.settings, ui, round_seconds=round_seconds,
                          finance_out=finance_out, interactive=interactive, seed=seed,
                          ledger=ledger))
