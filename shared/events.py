"""The CloudEvents 1.0 envelope (structured JSON mode) of every event both services emit."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from shared.types import utcnow


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    source: str
    type: str = Field(min_length=1, max_length=200)
    time: datetime = Field(default_factory=utcnow)
    datacontenttype: Literal["application/json"] = "application/json"
    subject: str
    # trust.md section 7: the partitioning and sequence extensions (v2). Assigned when
    # the event is written to the outbox; absent on events of v1 producers.
    partitionkey: str | None = Field(default=None, min_length=1, max_length=400)
    sequence: str | None = Field(default=None, pattern=r"^[1-9][0-9]{0,18}$")
    dataschemaversion: int = 1
    data: dict[str, Any]

    def to_json_dict(self) -> dict[str, Any]:
        body = self.model_dump(mode="json")
        for extension in ("partitionkey", "sequence"):
            if body.get(extension) is None:
                body.pop(extension, None)
        return body

    def to_json(self) -> bytes:
        """The structured-mode body. `data` may hold `orjson.Fragment`s (JSON built by the
        database, e.g. a 100,000-entry ranking) that are embedded as they are."""
        body: dict[str, Any] = {
            "specversion": self.specversion, "id": str(self.id), "source": self.source,
            "type": self.type, "time": self.time.isoformat(),
            "datacontenttype": self.datacontenttype, "subject": self.subject,
        }
        if self.partitionkey is not None:
            body["partitionkey"] = self.partitionkey
        if self.sequence is not None:
            body["sequence"] = self.sequence
        body["dataschemaversion"] = self.dataschemaversion
        body["data"] = self.data
        return orjson.dumps(body, default=_json_default)

    @property
    def sequence_number(self) -> int | None:
        return int(self.sequence) if self.sequence is not None else None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def new_event(source: str, type_: str, subject: object, data: dict[str, Any], *,
              partitionkey: str | None = None, sequence: int | None = None) -> CloudEvent:
    """A new event with a fresh id; `data` must already be JSON-ready. Without
    `partitionkey`, the key of trust.md section 7 for its type (see `partition_key`)."""
    return CloudEvent(source=source, type=type_, subject=str(subject), data=data,
                      partitionkey=partitionkey or partition_key(type_, subject, data),
                      sequence=None if sequence is None else str(sequence))


def partition_key(type_: str, subject: object, data: dict[str, Any]) -> str:
    """trust.md section 7: the round id for `round.*`, `award.*` and `budget.*`; the pool
    id for `pool.created|updated|terminated`; `<pool_id>/<supplier_id>` for
    `pool.member.*`; the subject for any other type."""
    if type_.startswith(("round.", "award.", "budget.")):
        return str(data.get("round_id") or subject)
    if type_.startswith("pool.member."):
        supplier = data.get("supplier")
        supplier_id = supplier.get("id") if isinstance(supplier, dict) else None
        supplier_id = supplier_id or data.get("supplier_id")
        return f"{data.get('pool_id')}/{supplier_id}"
    if type_.startswith("pool."):
        return str(data.get("id") or subject)
    return str(subject)
