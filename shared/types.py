"""The one money type and the one time type of the project."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, PlainSerializer, WithJsonSchema

# NUMERIC(16,2) in the database: the largest amount we can store.
MONEY_MAX = Decimal("99999999999999.99")
_TWO_PLACES = Decimal("0.01")


def parse_money(value: Any) -> Decimal:
    """Money from a decimal string or a JSON number (read by its decimal text).

    Refuses binary floats, booleans, NaN, infinities, more than 2 decimal places and
    amounts beyond what the database column holds.
    """
    if isinstance(value, bool) or isinstance(value, float):
        # Floats never reach here from request bodies (they are parsed as Decimal);
        # refusing them keeps binary floats out of money everywhere else too.
        raise ValueError("money must be a decimal string such as \"12500.00\"")
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 40:
            raise ValueError("money must be a decimal string such as \"12500.00\"")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError("money must be a decimal string such as \"12500.00\"") from None
    elif not isinstance(value, Decimal):
        raise ValueError("money must be a decimal string such as \"12500.00\"")
    if not value.is_finite():
        raise ValueError("money must be a finite amount")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("money has at most 2 decimal places")
    if abs(value) > MONEY_MAX:
        raise ValueError(f"money must not exceed {MONEY_MAX}")
    result: Decimal = value.quantize(_TWO_PLACES)
    return result


def format_money(value: Decimal) -> str:
    """Money as it appears in JSON: a string with exactly two places."""
    return f"{value.quantize(_TWO_PLACES)}"


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str, when_used="always"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?\d{1,14}(\.\d{1,2})?$", "examples": ["12500.00"]}
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
