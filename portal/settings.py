"""The portal's settings: where the two services and the broker are, and where to listen."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DEFAULT_JURISDICTION_TZ, mask_url


class PortalSettings(BaseSettings):
    """Every field an environment variable. No database and no token: the portal reads
    only what the public may read."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    pool_service_url: str = "http://127.0.0.1:8081"
    bidding_service_url: str = "http://127.0.0.1:8082"
    # Where the public reaches the services' open data (default: the URLs above).
    public_pool_service_url: str | None = None
    public_bidding_service_url: str | None = None
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    events_exchange: str = "procurement.events"
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=1, le=65535)
    jurisdiction_tz: str = DEFAULT_JURISDICTION_TZ
    request_timeout_seconds: float = Field(default=5.0, gt=0)
    shutdown_timeout_seconds: float = Field(default=8.0, ge=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.jurisdiction_tz)

    @property
    def open_data_urls(self) -> tuple[str, str]:
        return (self.public_pool_service_url or self.pool_service_url).rstrip("/"), \
            (self.public_bidding_service_url or self.bidding_service_url).rstrip("/")

    def masked(self) -> dict[str, object]:
        data = self.model_dump()
        data["amqp_url"] = mask_url(self.amqp_url)
        return data
