"""Settings of the bidding service."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class BiddingSettings(ServiceSettings):
    db_schema: str = Field(default="bidding", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    http_port: int = Field(default=8082, ge=1, le=65535)
    round_min_duration_seconds: int = Field(default=300, ge=0)
    # Upper bound on how long the round timer sleeps between checks.
    timer_max_sleep_seconds: float = Field(default=1.0, gt=0)
    # A close or award expiry that failed is retried after base * 2^(attempts-1) seconds,
    # at most max seconds.
    timer_retry_base_seconds: float = Field(default=1.0, gt=0)
    timer_retry_max_seconds: float = Field(default=300.0, gt=0)
    # Per-caller bid submission limit (token bucket): sustained rate and burst.
    bid_rate_per_second: float = Field(default=20.0, gt=0)
    bid_rate_burst: int = Field(default=40, ge=1)
