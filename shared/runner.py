"""`python -m <service> [serve|migrate|...]`: the one entry point shape of both services."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from aiohttp import web
from pydantic import ValidationError

from shared.logging import configure_logging
from shared.migrations import migrate
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def load_settings(name: str, settings: Callable[[], ServiceSettings]) -> ServiceSettings | None:
    """The service's settings, or None after one log line naming what is wrong with them:
    a value that does not validate, or one it must refuse to start with (trust.md 1)."""
    try:
        loaded = settings()
    except ValidationError as exc:
        configure_logging("info", name)
        names = [str(e["loc"][0]).upper() if e["loc"] else _setting_in(e["msg"])
                 for e in exc.errors()]
        reasons = "; ".join(f"{n}: {_reason(e['msg'])}"
                            for n, e in zip(names, exc.errors(), strict=True))
        log.error("invalid_settings", setting=", ".join(dict.fromkeys(names)), reason=reasons)
        return None
    configure_logging(loaded.log_level, name)
    unsafe = loaded.unsafe_settings()
    if unsafe:
        log.error("unsafe_settings", setting=", ".join(dict.fromkeys(n for n, _ in unsafe)),
                  reason="; ".join(f"{n}: {why}" for n, why in unsafe))
        return None
    return loaded


def _setting_in(message: str) -> str:
    """Model-level errors name their field first (`metrics_port: ...`)."""
    head = _reason(message).partition(":")[0]
    return head.upper() if head.isidentifier() else "settings"


def _reason(message: str) -> str:
    return message.removeprefix("Value error, ")


def run_cli(
    *,
    name: str,
    settings_class: Callable[[], ServiceSettings],
    build_app: Callable[[ServiceSettings], web.Application],
    migrations: Path,
    namespace: str,
    commands: dict[str, Callable[[ServiceSettings], Awaitable[None]]] | None = None,
    argv: list[str] | None = None,
) -> int:
    """Run one command of a service; 2 (before anything else) when its settings are
    invalid or unsafe, or the command is unknown."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    loaded = load_settings(name, settings_class)
    if loaded is None:
        return 2
    settings = loaded
    extra = commands or {}
    known = ["serve", "migrate", *extra]
    if command not in known or len(args) > 1:
        print(f"usage: python -m {name} [{'|'.join(known)}]", file=sys.stderr)
        return 2

    async def do_migrate() -> None:
        applied = await migrate(settings.database_url, settings.db_schema, migrations, namespace)
        log.info("migrations_done", schema=settings.db_schema, applied=applied)

    loop = _new_loop()
    asyncio.set_event_loop(loop)
    try:
        if command == "migrate":
            loop.run_until_complete(do_migrate())
            return 0
        if command in extra:
            loop.run_until_complete(do_migrate())
            loop.run_until_complete(extra[command](settings))
            return 0
        log.info("starting", settings=settings.masked())
        if settings.migrate_on_start:
            loop.run_until_complete(do_migrate())
        # run_app turns SIGINT/SIGTERM into a graceful stop: the listener closes, requests
        # in flight get shutdown_timeout to finish, cleanup contexts run, exit code 0.
        web.run_app(build_app(settings), host=settings.http_host, port=settings.http_port,
                    shutdown_timeout=settings.shutdown_timeout_seconds, print=None,
                    access_log=None, loop=loop, handle_signals=True)
        log.info("stopped")
        return 0
    finally:
        if not loop.is_closed():
            loop.close()
