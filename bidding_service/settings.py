"""Settings of the bidding service."""

from __future__ import annotations

from typing import Literal

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
    # Ed25519 seed (32 bytes, base64) signing bid receipts: the same in every process.
    receipt_signing_key: SecretStr | None = None
    # Retired receipt keys, still listed by GET /v1/keys so old receipts verify: their
    # public keys (32 bytes, base64 or base64url, e.g. the `x` of /v1/keys), comma-separated.
    receipt_retired_keys: str = ""
    # finance.md: `required` makes every round launched from now on wait in
    # `pending_budget` for finance's budget reservation; `off` is v1. Taken by each
    # round at its launch.
    budget_reservation: Literal["off", "required"] = "off"
    # How long finance has to answer a reservation request (`reply_by`).
    budget_reply_seconds: int = Field(default=3600, ge=1)
    # The queue finance consumes budget.*.requested from (declared by this service).
    finance_budget_queue: str = "finance.budget"
    # This service's own queue of finance's answers and payments.
    budget_answers_queue: str = "bidding-service.budget-answers"

    def unsafe_settings(self) -> list[tuple[str, str]]:
        unsafe = super().unsafe_settings()
        for name, value in (("BID_ENCRYPTION_KEY", self.bid_encryption_key),
                            ("RECEIPT_SIGNING_KEY", self.receipt_signing_key)):
            problem = _key_problem(value, self.dev_mode)
            if problem:
                unsafe.append((name, problem))
        try:
            self.retired_receipt_keys()
        except ValueError as exc:
            unsafe.append(("RECEIPT_RETIRED_KEYS", f"each must be base64 of 32 bytes ({exc})"))
        return unsafe

    def bid_key(self) -> bytes:
        """The raw key (a development key derived from JWT_SECRET only with DEV_MODE)."""
        return self.key_bytes(self.bid_encryption_key, "BID_ENCRYPTION_KEY")

    def receipt_seed(self) -> bytes:
        return self.key_bytes(self.receipt_signing_key, "RECEIPT_SIGNING_KEY")

    def retired_receipt_keys(self) -> list[bytes]:
        return [decode_key(k) for k in self.receipt_retired_keys.split(",") if k.strip()]


def _key_problem(value: SecretStr | None, dev_mode: bool) -> str | None:
    """Why a 32-byte key setting is unusable, or None: a value must decode to 32 bytes,
    and a missing one is allowed only with DEV_MODE (trust.md 1)."""
    key = value.get_secret_value() if value else ""
    if not key:
        return None if dev_mode else "required unless DEV_MODE=true"
    try:
        decode_key(key)
    except ValueError as exc:
        return f"must be base64 of 32 bytes ({exc})"
    return None
