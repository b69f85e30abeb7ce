"""`python -m portal`: serve the public portal (settings from the environment)."""

from __future__ import annotations

import sys

import structlog
from aiohttp import web
from pydantic import ValidationError

from portal.app import build_app
from portal.settings import PortalSettings
from shared.logging import configure_logging

log = structlog.get_logger(__name__)


def main() -> int:
    try:
        settings = PortalSettings()
    except ValidationError as exc:
        configure_logging("info", "portal")
        log.error("invalid_settings", setting=", ".join(
            str(e["loc"][0]).upper() for e in exc.errors() if e["loc"]), reason=str(exc))
        return 2
    configure_logging(settings.log_level, "portal")
    log.info("starting", settings=settings.masked())
    web.run_app(build_app(settings), host=settings.http_host, port=settings.http_port,
                shutdown_timeout=settings.shutdown_timeout_seconds, print=None,
                access_log=None, handle_signals=True)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
