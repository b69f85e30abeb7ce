"""Settings of the pool service."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class PoolSettings(ServiceSettings):
    db_schema: str = Field(default="pool", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    http_port: int = Field(default=8081, ge=1, le=65535)
    # How often timed suspensions are checked for lifting.
    suspension_sweep_seconds: float = Field(default=1.0, gt=0)
