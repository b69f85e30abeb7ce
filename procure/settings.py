"""What `procure` reads from the environment (and its global options override)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DEV_JWT_SECRET, ServiceSettings, mask_url

_SERVICE_DEFAULTS = ServiceSettings.model_fields


class ProcureSettings(BaseSettings):
    """Where the services and the broker are, and the secret dev tokens are signed with."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    pool_url: str = "http://127.0.0.1:8081"
    bidding_url: str = "http://127.0.0.1:8082"
    # The public portal `procure run` starts last (read-only, no database).
    portal_url: str = "http://127.0.0.1:8080"
    amqp_url: str = Field(default=_SERVICE_DEFAULTS["amqp_url"].default)
    events_exchange: str = Field(default=_SERVICE_DEFAULTS["events_exchange"].default)
    # The services' built-in development secret unless JWT_SECRET says otherwise: the
    # tokens it signs work only against services running with DEV_MODE=true.
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    finance_queue: str = "finance.awards"
    # The budget loop's requests queue (finance.md), as the bidding service declares it.
    finance_budget_queue: str = "finance.budget"
    # Only `procure run` and `procure demo` use it: to check PostgreSQL before starting
    # the services (which read the same variable themselves).
    database_url: str = Field(default=_SERVICE_DEFAULTS["database_url"].default)

    @field_validator("pool_url", "bidding_url", "portal_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL such as http://127.0.0.1:8081")
        return value.strip().rstrip("/")

    @property
    def dev_secret(self) -> bool:
        """Whether tokens are signed with the built-in development secret."""
        return self.jwt_secret.get_secret_value() == DEV_JWT_SECRET

    @property
    def masked_amqp_url(self) -> str:
        return mask_url(self.amqp_url)

    @property
    def masked_database_url(self) -> str:
        return mask_url(self.database_url)


def url_port(url: str) -> int:
    """The port of an http(s) URL, with the scheme's default when none is given."""
    parts = urlsplit(url)
    if parts.port is not None:
        return parts.port
    return 443 if parts.scheme == "https" else 80


def with_port(url: str, port: int) -> str:
    """`url` with its port replaced (used by `--pool-port` / `--bidding-port`)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return parts._replace(netloc=f"{host}:{port}").geturl()
