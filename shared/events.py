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
    dataschemaversion: int = 1
    data: dict[str, Any]

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> bytes:
        """The structured-mode body. `data` may hold `orjson.Fragment`s (JSON built by the
        database, e.g. a 100,000-entry ranking) that are embedded as they are."""
        return orjson.dumps({
            "specversion": self.specversion, "id": str(self.id), "source": self.source,
            "type": self.type, "time": self.time.isoformat(),
            "datacontenttype": self.datacontenttype, "subject": self.subject,
            "dataschemaversion": self.dataschemaversion, "data": self.data,
        }, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def new_event(source: str, type_: str, subject: object, data: dict[str, Any]) -> CloudEvent:
    """A new event with a fresh id; `data` must already be JSON-ready."""
    return CloudEvent(source=source, type=type_, subject=str(subject), data=data)
