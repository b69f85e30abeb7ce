"""Pure shaping of what the services answer into what the pages show (no I/O)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

ENDED = ("result", "failure", "cancellation")
# Round statuses whose page is the live one (countdown); any other shows the outcome.
LIVE_STATUSES = ("scheduled", "open", "closed")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def local_time(value: str | None, zone: ZoneInfo) -> str:
    """An ISO timestamp as the jurisdiction reads it: `2026-12-01 19:05:00`."""
    moment = parse_time(value)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


def money(value: str | None) -> str:
    """A decimal string as `¥1,234.50` (the services' exact text, grouped)."""
    if value is None:
        return "—"
    try:
        return f"¥{Decimal(value):,.2f}"
    except InvalidOperation:
        return value


def remaining(closes_at: str | None, now: datetime) -> str:
    """Time left until `closes_at` as `[Nd ]HH:MM:SS`, never negative."""
    moment = parse_time(closes_at)
    if moment is None:
        return "—"
    seconds = max(0, int((moment - now).total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock}" if days else clock


def live_rounds(notices: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Rounds invited and not yet ended, from a newest-first list of notices: the latest
    extension gives the close; `scheduled` until `opens_at`, then `open`."""
    ended: set[str] = set()
    closes: dict[str, str] = {}
    rounds: list[dict[str, Any]] = []
    for n in notices:
        rid = n["round_id"]
        if n["kind"] in ENDED:
            ended.add(rid)
        elif n["kind"] == "extension" and rid not in closes:
            closes[rid] = n["closes_at"]
        elif n["kind"] == "invitation" and rid not in ended:
            close = closes.get(rid, n["closes_at"])
            opens = parse_time(n["opens_at"])
            if (parse_time(close) or now) <= now:
                continue  # closing now: its result notice is a moment away
            rounds.append({**n, "closes_at": close,
                           "status": "scheduled" if opens and opens > now else "open"})
    rounds.sort(key=lambda r: r["closes_at"])
    return rounds
