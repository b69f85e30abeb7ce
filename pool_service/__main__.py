"""`python -m pool_service [serve|migrate|seed]`."""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

from pool_service.app import build_app
from pool_service.seed import seed
from pool_service.settings import PoolSettings
from shared.runner import run_cli
from shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def _build(settings: ServiceSettings) -> web.Application:
    assert isinstance(settings, PoolSettings)
    return build_app(settings)


async def _seed(settings: ServiceSettings) -> None:
    assert isinstance(settings, PoolSettings)
    await seed(settings)


def main() -> int:
    return run_cli(name="pool_service", settings_class=PoolSettings, build_app=_build,
                   migrations=MIGRATIONS, namespace="pool", commands={"seed": _seed})


if __name__ == "__main__":
    sys.exit(main())
