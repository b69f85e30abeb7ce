"""Typed settings shared by both services: every field is an environment variable."""

from __future__ import annotations

import base64
import binascii
import hashlib
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
    # Consumers: how long an event whose predecessor (by `sequence`) has not been applied
    # is held before it is applied anyway, with the gap logged (docs/reliability.md).
    event_hold_seconds: float = Field(default=30.0, ge=0)
    # The system's consumer queues. Every service declares all of them when it connects,
    # so no event is returned as unroutable because its consumer has not started yet.
    awards_queue: str = "pool-service.awards"
    pool_events_queue: str = "bidding-service.pool-events"
    finance_queue: str = "finance.awards"

    def unsafe_settings(self) -> list[tuple[str, str]]:
        """(setting, reason) for every value this service must refuse to start with.

        Subclasses extend the list with their own secrets (call `super()`)."""
        return []

    def key_bytes(self, value: SecretStr | None, label: str) -> bytes:
        """The 32 raw bytes of a base64 key setting; with DEV_MODE and no value, a
        development key derived from JWT_SECRET (the same in every process)."""
        if value is not None and value.get_secret_value():
            return decode_key(value.get_secret_value())
        if not self.dev_mode:
            raise ValueError(f"{label} is required unless DEV_MODE=true")
        seed = f"procurement-pools dev key\0{label}\0{self.jwt_secret.get_secret_value()}"
        return hashlib.sha256(seed.encode()).digest()

    def masked(self) -> dict[str, object]:
        """The settings as a dict safe to log (no secrets, no DSN passwords)."""
        data = self.model_dump()
        data["database_url"] = mask_url(self.database_url)
        data["amqp_url"] = mask_url(self.amqp_url)
        data["jwt_secret"] = "***"
        return data


def decode_key(text: str) -> bytes:
    """A 32-byte key written in base64 (standard or URL-safe, padding optional)."""
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc
    if len(raw) != 32:
        raise ValueError(f"must decode to 32 bytes, not {len(raw)}")
    return raw
