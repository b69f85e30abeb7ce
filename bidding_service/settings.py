"""Settings of the bidding service."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings, decode_key


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
    # AES-256-GCM key of bid amounts at rest (trust.md 3): base64 of 32 bytes, never in
    # the database; the same in every process. Required unless DEV_MODE.
    bid_encryption_key: SecretStr | None = None

    def unsafe_settings(self) -> list[tuple[str, str]]:
        unsafe = super().unsafe_settings()
        key = self.bid_encryption_key.get_secret_value() if self.bid_encryption_key else ""
        if key:
            try:
                decode_key(key)
            except ValueError as exc:
                unsafe.append(("BID_ENCRYPTION_KEY", f"must be base64 of 32 bytes ({exc})"))
        elif not self.dev_mode:
            unsafe.append(("BID_ENCRYPTION_KEY", "required unless DEV_MODE=true"))
        return unsafe

    def bid_key(self) -> bytes:
        """The raw key (a development key derived from JWT_SECRET only with DEV_MODE)."""
        return self.key_bytes(self.bid_encryption_key, "BID_ENCRYPTION_KEY")
