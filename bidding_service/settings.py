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
    # Per-caller bid submission limit (token bucket): sustained rate and burst.
    bid_rate_per_second: float = Field(default=20.0, gt=0)
    bid_rate_burst: int = Field(default=40, ge=1)
    # Ed25519 seed (32 bytes, base64) signing bid receipts: the same in every process.
    receipt_signing_key: SecretStr | None = None
    # Retired receipt keys, still listed by GET /v1/keys so old receipts verify: their
    # public keys (32 bytes, base64 or base64url, e.g. the `x` of /v1/keys), comma-separated.
    receipt_retired_keys: str = ""

    def unsafe_settings(self) -> list[tuple[str, str]]:
        unsafe = super().unsafe_settings()
        key = self.receipt_signing_key.get_secret_value() if self.receipt_signing_key else ""
        if not key and not self.dev_mode:
            unsafe.append(("RECEIPT_SIGNING_KEY", "required unless DEV_MODE=true"))
        elif key:
            try:
                decode_key(key)
            except ValueError as exc:
                unsafe.append(("RECEIPT_SIGNING_KEY", f"must be base64 of 32 bytes ({exc})"))
        try:
            self.retired_receipt_keys()
        except ValueError as exc:
            unsafe.append(("RECEIPT_RETIRED_KEYS", f"each must be base64 of 32 bytes ({exc})"))
        return unsafe

    def receipt_seed(self) -> bytes:
        return self.key_bytes(self.receipt_signing_key, "RECEIPT_SIGNING_KEY")

    def retired_receipt_keys(self) -> list[bytes]:
        return [decode_key(k) for k in self.receipt_retired_keys.split(",") if k.strip()]
