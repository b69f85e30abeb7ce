"""The one money type and the one time type of the project."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, PlainSerializer, WithJsonSchema

# NUMERIC(16,2) in the database: the largest amount we can store.
MONEY_MAX = Decimal("99999999999999.99")
_TWO_PLACES = Decimal("0.01")


class JsonNumber(Decimal):
    """A JSON number as request bodies parse it: exact, and with the text it was written
    in (`1.5e1` is 15 to Decimal, but money judges the text)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


# The only text money may have (docs/http-api.md, "Money"): plain ASCII digits, no sign,
# exponent, separator, space or leading zero, at most two places. Numbers are judged by
# their decimal text too (request bodies parse them as Decimal, keeping that text).
_MONEY_TEXT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,2})?")
_TOO_MANY_PLACES = re.compile(r"(0|[1-9][0-9]*)\.[0-9]{3,}", re.ASCII)
_MONEY_HINT = "money must be a plain decimal string such as \"12500.00\""


def parse_money(value: Any) -> Decimal:
    """Money from a decimal string or a JSON number (read by its decimal text).

    The text must match `^(0|[1-9][0-9]*)(\\.[0-9]{1,2})?$` in ASCII: no exponent, sign,
    full-width digits, `_`, spaces or more than two places. Refuses binary floats,
    booleans and amounts beyond what the database column holds.
    """
    if isinstance(value, bool) or isinstance(value, float):
        # Floats never reach here from request bodies (they are parsed as Decimal);
        # refusing them keeps binary floats out of money everywhere else too.
        raise ValueError(_MONEY_HINT)
    if isinstance(value, JsonNumber):
        text = value.text
    elif isinstance(value, int | Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError(_MONEY_HINT)
    if len(text) > 40 or not text.isascii() or _MONEY_TEXT.fullmatch(text) is None:
        raise ValueError("money has at most 2 decimal places"
                         if _TOO_MANY_PLACES.fullmatch(text) else _MONEY_HINT)
    amount = Decimal(text)
    if amount > MONEY_MAX:
        raise ValueError(f"money must not exceed {MONEY_MAX}")
    result: Decimal = amount.quantize(_TWO_PLACES)
    return result


def format_money(value: Decimal) -> str:
    """Money as it appears in JSON: a string with exactly two places."""
    return f"{value.quantize(_TWO_PLACES)}"


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str, when_used="always"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^(0|[1-9][0-9]{0,13})(\.[0-9]{1,2})?$",
         "examples": ["12500.00"]}
    ),
]

Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
]


def utcnow() -> datetime:
    """The process clock, for logs and metadata only: the database clock decides rules."""
    return datetime.now(UTC)


def _no_control(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and control characters have no place in names.
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


# Free text from clients: no NUL or other control characters (tab and newlines allowed).
Text = Annotated[str, AfterValidator(_no_control)]
