"""Output: rich colour and tables on a terminal, plain lines otherwise."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text


def wants_rich(plain: bool) -> bool:
    """Colour and live views only on a terminal, and never when asked for plain output."""
    if plain or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


class Ui:
    """Where every command writes: `say` for lines, `table` for lists, `fail` to stderr."""

    def __init__(self, *, plain: bool = False) -> None:
        self.rich = wants_rich(plain)
        if self.rich:
            self.console = Console(highlight=False)
            self.err_console = Console(stderr=True, highlight=False)
        else:
            # Plain text for logs, pipes and tests: no colour, no cursor movement, no wrap.
            common: dict[str, Any] = {"no_color": True, "force_terminal": False,
                                      "force_interactive": False, "highlight": False,
                                      "emoji": False, "soft_wrap": True, "width": 200}
            self.console = Console(**common)
            self.err_console = Console(stderr=True, **common)

    def say(self, text: str | Text, style: str | None = None) -> None:
        """One line (or a few); `style` is used on a terminal only."""
        if isinstance(text, Text):
            self.console.print(text if self.rich else text.plain, markup=False)
        else:
            self.console.print(text, style=style if self.rich else None, markup=False)

    def show(self, renderable: RenderableType) -> None:
        self.console.print(renderable)

    def blank(self) -> None:
        self.console.print("")

    def heading(self, text: str) -> None:
        if self.rich:
            self.console.rule(Text(text, style="bold"), align="left")
        else:
            self.console.print(f"== {text}", markup=False)

    def warn(self, text: str) -> None:
        self.err_console.print(("warning: " if not self.rich else "⚠ ") + text,
                               style="yellow" if self.rich else None, markup=False)

    def fail(self, text: str) -> None:
        self.err_console.print("error: " + text, style="bold red" if self.rich else None,
                               markup=False)

    def table(self, columns: Sequence[str | tuple[str, str]], rows: Sequence[Sequence[Any]],
              title: str | None = None) -> None:
        """Columns are names, or (name, "right") for numbers."""
        table = Table(title=title if self.rich else None, box=box.SIMPLE_HEAD if self.rich
                      else None, show_edge=False, pad_edge=False,
                      header_style="bold" if self.rich else "")
        for col in columns:
            name, justify = (col, "left") if isinstance(col, str) else col
            table.add_column(name, justify="right" if justify == "right" else "left",
                             no_wrap=not self.rich)
        for row in rows:
            table.add_row(*(cell if isinstance(cell, Text) else Text(_cell(cell))
                            for cell in row))
        if title and not self.rich:
            self.say(title)
        self.console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def money(value: Any, currency: str = "CNY") -> str:
    """A decimal string as `352,800.00 CNY` (display only; JSON keeps plain decimals)."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{amount:,.2f} {currency}".strip()


def percent(value: Any) -> str:
    """A rate such as "0.1" as `10%` (display only)."""
    try:
        return f"{(Decimal(str(value)) * 100).normalize():f}%"
    except (InvalidOperation, ValueError):
        return str(value)


def clock(value: str | datetime | None) -> str:
    """An RFC 3339 time as local HH:MM:SS."""
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone().strftime("%H:%M:%S")


def when(value: str | datetime | None) -> str:
    """An RFC 3339 time as local `YYYY-MM-DD HH:MM:SS`."""
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")
