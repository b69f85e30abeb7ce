"""Typed settings shared by both services: every field is an environment variable."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Literal, Self
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The JWT secret a service runs with when none is set: public (it is in this repository),
# so only DEV_MODE=true accepts it (trust.md 1). `procure token` signs with it by default.
DEV_JWT_SECRET = "dev-only-secret-change-me-in-production-0123"
MIN_SECRET_BYTES = 32
_PLACEHOLDER = re.compile(r"change-?me|replace|example", re.IGNORECASE)
DEFAULT_JURISDICTION_TZ = "Asia/Shanghai"
# How far the operations listener (/metrics) sits above the API port by default.
METRICS_PORT_OFFSET = 1000


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
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_jwks_url: str | None = None
    # Required with JWT_JWKS_URL: every token's `iss` and `aud` must match them.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=1, le=65535)
    # The operations listener (/metrics), never the API port. None: HTTP_PORT + 1000;
    # 0: any free port (in-process tests; the bound port is logged).
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # The jurisdiction's IANA time zone: what "today" means in both services.
    jurisdiction_tz: str = DEFAULT_JURISDICTION_TZ
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
    # OCDS (transparency.md): the registered ocid prefix and the publisher's name.
    ocid_prefix: str = Field(default="ocds-wz0000", pattern=r"^ocds-[a-z0-9]{6}$")
    ocds_publisher_name: str = Field(default="procurement-pools", min_length=1,
                                     max_length=200)

    @field_validator("jurisdiction_tz")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Asia/Shanghai"
                             ) from None
        return value

    @model_validator(mode="after")
    def _ports(self) -> Self:
        if self.metrics_port is None and self.http_port + METRICS_PORT_OFFSET > 65535:
            raise ValueError(f"metrics_port: HTTP_PORT {self.http_port} + "
                             f"{METRICS_PORT_OFFSET} is not a port; set METRICS_PORT")
        if self.metrics_port == self.http_port:
            raise ValueError("metrics_port: must differ from HTTP_PORT (/metrics is never "
                             "served on the API port)")
        return self

    @property
    def operations_port(self) -> int:
        """The port of the operations listener (0: any free one)."""
        if self.metrics_port is not None:
            return self.metrics_port
        return self.http_port + METRICS_PORT_OFFSET

    @property
    def zone(self) -> ZoneInfo:
        """The jurisdiction's time zone (JURISDICTION_TZ)."""
        return ZoneInfo(self.jurisdiction_tz)

    def unsafe_settings(self) -> list[tuple[str, str]]:
        """(setting, reason) for every value this service must refuse to start with.

        Subclasses extend the list with their own secrets (call `super()`)."""
        unsafe: list[tuple[str, str]] = []
        if self.jwt_jwks_url:
            for name, value in (("JWT_ISSUER", self.jwt_issuer),
                                ("JWT_AUDIENCE", self.jwt_audience)):
                if not value:
                    unsafe.append((name, "required when JWT_JWKS_URL is set"))
        if not self.dev_mode:
            weakness = secret_weakness(self.jwt_secret.get_secret_value())
            if weakness is not None:
                unsafe.append(("JWT_SECRET", f"{weakness}: set a random secret of at least "
                               f"{MIN_SECRET_BYTES} bytes (DEV_MODE=true for development "
                               "only)"))
        return unsafe

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


def secret_weakness(secret: str) -> str | None:
    """Why `secret` must not sign tokens in a real deployment, or None if it may."""
    if secret == DEV_JWT_SECRET:
        return "the built-in development value"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"shorter than {MIN_SECRET_BYTES} bytes"
    if _PLACEHOLDER.search(secret):
        return "a placeholder"
    return None


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
