"""A round as the procurement center sees it, live: countdown, bids, bidders, extensions.

Before the award the center's view carries no amounts, and neither does anything here:
amounts appear only in the award notice, which the service makes public at award time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from procure.client import Json, Services
from procure.ui import Ui, clock, money, percent, when

BIDDING_STATUSES = frozenset({"scheduled", "open", "closed"})
FINAL_STATUSES = frozenset({"awarded", "accepted", "reawarded", "failed", "cancelled"})
_STATUS_STYLE = {"scheduled": "blue", "open": "bold green", "closed": "yellow",
                 "awarded": "bold cyan", "accepted": "bold cyan", "reawarded": "cyan",
                 "failed": "bold red", "cancelled": "red"}


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def seconds_left(rnd: Json, now: datetime | None = None) -> float:
    now = now or datetime.now(UTC)
    return (parse_time(rnd["closes_at"]) - now).total_seconds()


def countdown(seconds: float) -> str:
    seconds = max(0.0, seconds)
    minutes, secs = divmod(int(seconds + 0.999), 60)
    return f"{minutes:02d}:{secs:02d}"


@dataclass
class Note:
    at: datetime
    text: str
    style: str | None


class RoundView:
    """What is shown while a round runs: a live panel on a terminal, change lines otherwise."""

    def __init__(self, ui: Ui, *, feed_size: int = 10, plain_every: float = 2.0) -> None:
        self.ui = ui
        self.latest: Json | None = None
        self.notes: deque[Note] = deque(maxlen=feed_size)
        self._plain_every = plain_every
        self._last_plain = 0.0
        self._printed_counts = (0, 0)
        self._live: Live | None = None
        self._started_at: datetime | None = None

    # ------------------------------------------------------------ input

    def note(self, text: str, style: str | None = None) -> None:
        """An activity line (a supplier bid, a suspension, the finance listener...)."""
        note = Note(datetime.now(UTC), text, style)
        if self._live is not None:
            self.notes.append(note)
        else:
            self.ui.say(Text.assemble((f"{clock(note.at)}  ", "dim"), (text, style or "")))

    def update(self, rnd: Json) -> None:
        previous, self.latest = self.latest, rnd
        if self._started_at is None:
            self._started_at = datetime.now(UTC)
        if self._live is None:
            self._plain_changes(previous, rnd)
        elif previous is not None:
            if rnd.get("extensions_used", 0) > previous.get("extensions_used", 0):
                self.notes.append(Note(datetime.now(UTC), f"anti-sniping: "
                                       f"{_moved(previous, rnd)} ({_extensions(rnd)})",
                                       "yellow"))
            if rnd["status"] != previous["status"] and rnd["status"] != "open":
                if rnd["status"] == "closed":
                    text = f"round closed: {_counts(rnd)}"
                elif previous["status"] == "closed":
                    text = f"round {rnd['status']}"
                else:
                    text = f"round closed and {rnd['status']}: {_counts(rnd)}"
                self.notes.append(Note(datetime.now(UTC), text, "bold"))

    # ------------------------------------------------------------ plain lines

    def _plain_changes(self, old: Json | None, new: Json) -> None:
        say = self.ui.say
        status = new["status"]
        if old is None or old["status"] != status:
            if status == "scheduled":
                say(f"round scheduled: opens at {clock(new['opens_at'])}, "
                    f"closes at {clock(new['closes_at'])}")
            elif status == "open":
                say(f"round open: closes at {clock(new['closes_at'])} "
                    f"(in {countdown(seconds_left(new))}), {new['invited_count']} suppliers "
                    "invited, bids sealed")
            elif status == "closed" or (status in FINAL_STATUSES and new.get("closed_at")
                                        and (old is None or old["status"] != "closed")):
                # Closing and awarding are often quicker than a poll: say both.
                say(f"round closed at {clock(new.get('closed_at') or new['closes_at'])}: "
                    f"{_counts(new)}", style="yellow")
            if status in FINAL_STATUSES:
                say(f"round {status}" + (f": {new['status_reason']}"
                                         if new.get("status_reason") else ""))
        if old is not None and new.get("extensions_used", 0) > old.get("extensions_used", 0):
            say(f"anti-sniping: {_moved(old, new)} ({_extensions(new)})", style="yellow")
        counts = (new.get("bid_count") or 0, new.get("bidder_count") or 0)
        if status == "open" and counts != self._printed_counts:
            now = time.monotonic()
            if now - self._last_plain >= self._plain_every:
                self._last_plain = now
                self._printed_counts = counts
                extensions = f", extensions {_extensions(new)}" if new.get("extension") else ""
                say(f"t-{countdown(seconds_left(new))}  {_counts(new)}{extensions}")

    # ------------------------------------------------------------ live panel

    @contextmanager
    def live(self) -> Iterator[RoundView]:
        """Show the live panel while inside (terminal only; plain mode prints lines)."""
        if not self.ui.rich:
            yield self
            return
        with Live(get_renderable=self.renderable, console=self.ui.console,
                  refresh_per_second=8, transient=False) as live:
            self._live = live
            try:
                yield self
            finally:
                live.refresh()
                self._live = None

    def renderable(self) -> RenderableType:
        rnd = self.latest
        if rnd is None:
            return Text("waiting for the round…", style="dim")
        status = rnd["status"]
        left = seconds_left(rnd)
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", justify="right")
        grid.add_column()
        grid.add_row("status", Text(status.upper(), style=_STATUS_STYLE.get(status, "")))
        if status in ("open", "scheduled"):
            total = max(1.0, (parse_time(rnd["closes_at"])
                              - parse_time(rnd["opens_at"])).total_seconds())
            clock_text = Text(countdown(left), style="bold red" if left <= 10 else "bold")
            bar = ProgressBar(total=total, completed=total - max(0.0, left), width=40,
                              complete_style="red" if left <= 10 else "green")
            grid.add_row("closes in", Group(clock_text, bar))
        grid.add_row("closes at", Text(clock(rnd["closes_at"])))
        grid.add_row("bids", Text(f"{rnd.get('bid_count') or 0}", style="bold"))
        grid.add_row("bidders", Text(f"{rnd.get('bidder_count') or 0} of "
                                     f"{rnd['invited_count']} invited"))
        grid.add_row("extensions", Text(_extensions(rnd),
                                        style="yellow" if rnd.get("extensions_used") else ""))
        grid.add_row("ceiling", Text(money(rnd["ceiling_price"])))
        feed = Table.grid(padding=(0, 1))
        feed.add_column(style="dim")
        feed.add_column()
        for note in self.notes:
            feed.add_row(clock(note.at), Text(note.text, style=note.style or ""))
        title = f"{rnd['pool']['name']} · {rnd['title']}"
        body: list[RenderableType] = [grid]
        if self.notes:
            body += [Text(""), Text("activity (amounts stay sealed)", style="dim"), feed]
        return Panel(Group(*body), title=title, subtitle=f"round {rnd['id']}",
                     border_style=_STATUS_STYLE.get(status, "white"))


def _moved(old: Json, new: Json) -> str:
    later = (parse_time(new["closes_at"]) - parse_time(old["closes_at"])).total_seconds()
    return (f"a late best bid moved the close {later:.1f} s later, to "
            f"{clock(new['closes_at'])}")


def _counts(rnd: Json) -> str:
    return (f"{rnd.get('bid_count') or 0} bids from {rnd.get('bidder_count') or 0} of "
            f"{rnd['invited_count']} invited suppliers")


def _extensions(rnd: Json) -> str:
    ext = rnd.get("extension")
    used = rnd.get("extensions_used") or 0
    return f"{used}/{ext['max_extensions']}" if ext else "none (no anti-sniping)"


async def follow(api: Services, round_id: str, view: RoundView, *, poll: float = 0.5,
                 until: frozenset[str] = FINAL_STATUSES) -> Json:
    """Poll the round as the center until its status is in `until`; returns that view."""
    token = api.tokens.center()
    while True:
        rnd = await api.bidding.get(f"/v1/rounds/{round_id}", token=token)
        view.update(rnd)
        if rnd["status"] in until:
            return rnd
        await asyncio.sleep(poll)


# ---------------------------------------------------------------- static renderings


def show_round(ui: Ui, rnd: Json) -> None:
    """`procure rounds show`: the round, then its award notice once there is one."""
    status = rnd["status"]
    rows: list[tuple[str, str | Text]] = [
        ("round", rnd["id"]),
        ("title", rnd["title"]),
        ("pool", f"{rnd['pool']['name']} ({rnd['pool']['code']})"),
        ("buyer", f"{rnd['buyer']['name']} ({rnd['buyer']['org']}), budget line "
                  f"{rnd['budget_line']}"),
        ("status", Text(status, style=_STATUS_STYLE.get(status, ""))
         if ui.rich else status + (f" ({rnd['status_reason']})"
                                   if rnd.get("status_reason") else "")),
        ("ceiling", money(rnd["ceiling_price"])),
        ("opens / closes", f"{when(rnd['opens_at'])} / {when(rnd['closes_at'])}"),
        ("rules", f"min {rnd['min_bids']} bids, SME deduction "
                  f"{percent(rnd['sme_price_deduction'])}, disclosure {rnd['disclosure']}"
                  + (f", min decrement {money(rnd['min_decrement'])}"
                     if rnd.get("min_decrement") else "")),
        ("anti-sniping", _extension_rule(rnd)),
        ("bids", _counts(rnd) if rnd.get("bid_count") is not None
         else f"{rnd['invited_count']} suppliers invited"),
    ]
    if status in BIDDING_STATUSES and status != "closed":
        rows.append(("closes in", countdown(seconds_left(rnd))))
    _pairs(ui, rows)
    if rnd.get("award") or rnd.get("ranking"):
        ui.blank()
        show_award(ui, rnd)


def show_award(ui: Ui, rnd: Json) -> None:
    """The result notice (成交结果公告) with the ranking of all valid bids."""
    award = rnd.get("award")
    ui.heading("成交结果公告 · result notice")
    if award is None:
        ui.say(f"no live award (round {rnd['status']}"
               + (f": {rnd['status_reason']})" if rnd.get("status_reason") else ")"))
    else:
        sup = award["supplier"]
        amount = money(award["amount"], award.get("currency", "CNY"))
        evaluated = money(award["evaluated_amount"], award.get("currency", "CNY"))
        _pairs(ui, [
            ("award", f"{award['id']} ({award['status']})"),
            ("round", f"{rnd['title']} ({rnd['id']})"),
            ("buyer", f"{award['buyer']['name']} ({award['buyer']['org']}), budget line "
                      f"{award['budget_line']}"),
            ("winner", Text(f"{sup['name']}", style="bold green") if ui.rich
             else sup["name"]),
            ("", f"{sup['credit_code']} · {sup['kind']} · {sup['size']}"),
            ("amount", Text(amount, style="bold") if ui.rich else amount),
            ("evaluated", evaluated if evaluated != amount
             else f"{evaluated} (no deduction)"),
            ("awarded", f"{when(award['awarded_at'])}, accept by {when(award['accept_by'])}"),
            ("bids", f"{award['bid_count']} bids, {award['invited_count']} suppliers invited"),
        ])
    ranking = rnd.get("ranking") or []
    if ranking:
        ui.table(["rank", "supplier", ("amount", "right"), ("evaluated", "right")],
                 [[r["rank"], r["supplier_name"], money(r["amount"]),
                   money(r["evaluated_amount"])] for r in ranking],
                 title=f"ranking of {len(ranking)} valid bids")


def _pairs(ui: Ui, rows: list[tuple[str, str | Text]]) -> None:
    if ui.rich:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", justify="right")
        grid.add_column()
        for key, value in rows:
            grid.add_row(key, value)
        ui.show(grid)
    else:
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            ui.say(f"{key:<{width}}  {value.plain if isinstance(value, Text) else value}")


def _extension_rule(rnd: Json) -> str:
    ext = rnd.get("extension")
    if not ext:
        return "none"
    return (f"a best bid in the last {ext['window_seconds']} s extends by "
            f"{ext['extend_seconds']} s, at most {ext['max_extensions']} times "
            f"(used {rnd.get('extensions_used') or 0})")
