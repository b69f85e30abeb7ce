"""Launching a round (`procure rounds launch` and the demo)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from procure.client import Json, Services
from procure.errors import ProcureError


@dataclass(frozen=True)
class Extension:
    window_seconds: int
    extend_seconds: int
    max_extensions: int


@dataclass(frozen=True)
class LaunchSpec:
    title: str
    ceiling: str
    seconds: float
    buyer_org: str
    buyer_name: str
    budget_line: str
    description: str = ""
    method: str = "price_competition"
    min_bids: int = 3
    sme_deduction: str = "0"
    disclosure: str = "sealed"
    min_decrement: str | None = None
    extension: Extension | None = None
    acceptance_seconds: int | None = None
    opens_in_seconds: float = 0.0
    acceptance_working_days: int | None = None
    abnormal_price_review: bool = False

    def body(self, pool_id: str, now: datetime | None = None) -> dict[str, Any]:
        """The POST /v1/rounds body; times are this machine's clock, the service's decides."""
        now = now or datetime.now(UTC)
        opens = now + timedelta(seconds=self.opens_in_seconds)
        body: dict[str, Any] = {
            "pool_id": pool_id, "title": self.title, "description": self.description,
            "buyer": {"org": self.buyer_org, "name": self.buyer_name},
            "budget_line": self.budget_line, "ceiling_price": decimal_text(self.ceiling),
            "closes_at": (opens + timedelta(seconds=self.seconds)).isoformat(),
            "min_bids": self.min_bids, "sme_price_deduction": decimal_text(self.sme_deduction),
            "disclosure": self.disclosure,
        }
        if self.opens_in_seconds > 0:
            body["opens_at"] = opens.isoformat()
        if self.min_decrement is not None:
            body["min_decrement"] = decimal_text(self.min_decrement)
        if self.extension is not None:
            body["extension"] = {"window_seconds": self.extension.window_seconds,
                                 "extend_seconds": self.extension.extend_seconds,
                                 "max_extensions": self.extension.max_extensions}
        if self.acceptance_seconds is not None:
            body["acceptance_seconds"] = self.acceptance_seconds
        if self.acceptance_working_days is not None:
            body["acceptance_working_days"] = self.acceptance_working_days
        if self.abnormal_price_review:
            body["abnormal_price_review"] = True
        return body


@dataclass(frozen=True)
class FixedSpec:
    """A direct selection or a rotation: a fixed, public amount, awarded at launch."""

    method: str
    title: str
    amount: str
    buyer_org: str
    buyer_name: str
    budget_line: str
    description: str = ""
    supplier_id: str | None = None
    justification: str | None = None
    acceptance_seconds: int | None = None
    acceptance_working_days: int | None = None

    def body(self, pool_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "method": self.method, "pool_id": pool_id, "title": self.title,
            "description": self.description,
            "buyer": {"org": self.buyer_org, "name": self.buyer_name},
            "budget_line": self.budget_line, "amount": decimal_text(self.amount)}
        if self.method == "direct_selection":
            if not self.supplier_id or not self.justification:
                raise ProcureError("--method direct_selection needs --supplier and "
                                   "--justification (20 to 2000 characters)")
            body["supplier_id"] = self.supplier_id
            body["justification"] = self.justification
        if self.acceptance_seconds is not None:
            body["acceptance_seconds"] = self.acceptance_seconds
        if self.acceptance_working_days is not None:
            body["acceptance_working_days"] = self.acceptance_working_days
        return body


def decimal_text(value: str) -> str:
    """Money and rates go out as decimal strings, never floats."""
    try:
        amount = Decimal(value.replace(",", "").strip())
    except InvalidOperation:
        raise ProcureError(f"{value!r} is not a decimal amount such as 380000.00") from None
    if not amount.is_finite():
        raise ProcureError(f"{value!r} is not a decimal amount such as 380000.00")
    return str(amount)


def parse_extension(text: str) -> Extension:
    """`WINDOW,EXTEND,MAX` seconds/seconds/count, e.g. `60,120,5`."""
    try:
        window, extend, most = (int(part) for part in text.split(","))
    except ValueError:
        raise ProcureError(f"--extension takes WINDOW,EXTEND,MAX (e.g. 60,120,5), "
                           f"not {text!r}") from None
    return Extension(window, extend, most)


async def launch(api: Services, pool: Json, spec: LaunchSpec | FixedSpec,
                 idempotency_key: str | None = None) -> Json:
    """POST /v1/rounds as the center; the key makes a retried launch create nothing new."""
    return await api.bidding.post(
        "/v1/rounds", token=api.tokens.center(), json=spec.body(str(pool["id"])),
        headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())})
