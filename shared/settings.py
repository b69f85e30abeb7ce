"""Typed settings shared by both services: every field is an environment variable."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def mask_url(url: str) -> str:
    """Return `url` with its password replaced, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class ServiceSettings(BaseSettings):
    """What both services read from the environment (see http-api.md, "Running a service")."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    db_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=20, ge=1)
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    events_exchange: str = "procurement.events"
    # Development only: lets a service start with built-in development secrets (trust.md 1).
    dev_mode: bool = False
    jwt_secret: SecretStr = SecretStr("dev-only-secret-change-me-in-production-0123")
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    migrate_on_start: bool = True
    # How long SIGTERM waits for requests in flight before the process exits.
    shutdown_timeout_seconds: float = Field(default=8.0, ge=0)
    # Outbox relay: how often it looks for unsent events when no NOTIFY woke it.
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=200, ge=1, le=10_000)
    # The system's consumer queues. Every service declares all of them when it connects,
    # so no event is returned as unroutable because its consumer has not started yet.
    awards_queue: str = "pool-service.awards"
    pool_events_queue: str = "bidding-service.pool-events"
    finance_queue: str = "finance.awards"

    def masked(self) -> dict[str, object]:
        """The settings as a dict safe to log (no secrets, no DSN passwords)."""
        data = self.model_dump()
        data["database_url"] = mask_url(self.database_url)
        data["amqp_url"] = mask_url(self.amqp_url)
        data["jwt_secret"] = "***"
        return data
