"""The CloudEvents 1.0 envelope (structured JSON mode) of every event both services emit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

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


def new_event(source: str, type_: str, subject: object, data: dict[str, Any]) -> CloudEvent:
    """A new event with a fresh id; `data` must already be JSON-ready."""
    return CloudEvent(source=source, type=type_, subject=str(subject), data=data)
