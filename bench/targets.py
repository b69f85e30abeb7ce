"""The performance issue's targets 2–5 as rows of the report's Targets table: what was
measured, against what, and whether it was met (None: not measured at the target's
scale, e.g. a --quick run, and not already missed at a smaller one)."""

from __future__ import annotations

from typing import Any

from bench.stats import at
from bench.trend import scaling

Row = tuple[str, str, bool | None]

PEAK_ROUNDS, PEAK_BIDDERS, PEAK_P99_MS = 100, 100, 150.0
CLOSE_2K_MS, CLOSE_100K_MS = 50.0, 2000.0
TIMER_OPEN, TIMER_P99_MS = 5000, 50.0
RSS_MB = 150.0


def _at_scale(ok: bool, full: bool) -> bool | None:
    """Met only when measured at the target's scale; missed already at a smaller one."""
    return ok if full or not ok else None


def peak_rows(r: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    peak = r.get("peak") or {}
    for key, label in (("all_up", "both processes up"), ("killed", "one process killed at "
                                                                   "the close")):
        run = peak.get(key) or {}
        p99 = at(run, "received_ms", "p99")
        name = (f"2. {PEAK_ROUNDS} rounds × {PEAK_BIDDERS} bidders closing in one second, "
                f"2 processes, {label}: award.published received p99 ≤ {PEAK_P99_MS:g} ms")
        if p99 is None:
            out.append((name, "not measured", None))
            continue
        full = peak.get("rounds") == PEAK_ROUNDS and peak.get("bidders") == PEAK_BIDDERS
        whole = run.get("awards_ok") and not run.get("left_open")
        text = (f"p99 {p99:,.0f} ms, max {run['received_ms']['max']:,.0f} ms over "
                f"{run['received_ms']['n']} rounds ({peak.get('rounds')} × "
                f"{peak.get('bidders')}); one award each: {'yes' if whole else 'NO'}")
        out.append((name, text, _at_scale(p99 <= PEAK_P99_MS and bool(whole), full)))
    return out


def close_rows(r: dict[str, Any]) -> list[Row]:
    close = at(r, "close", "by_n") or {}
    out: list[Row] = []
    for n, limit in ((2000, CLOSE_2K_MS), (100_000, CLOSE_100K_MS)):
        name = f"3. one round of {n:,} bidders: received ≤ {limit:,.0f} ms after closes_at"
        rec = at(close, str(n), "received_ms")
        if not rec or rec.get("max") is None:
            out.append((name, "not measured", None))
            continue
        out.append((name, f"median {rec['median']:,.0f} ms, worst {rec['max']:,.0f} ms "
                    f"({rec['n']} run(s))", rec["max"] <= limit))
    s = scaling({int(n): at(c, "received_ms", "median") for n, c in close.items()})
    name = "3. … linear or better from 1,000 to 100,000 bidders (cost per bid not growing)"
    if s["per_bid_ratio"] is None:
        out.append((name, "not measured", None))
    else:
        per_k = s["ms_per_1000_bids"]
        text = (", ".join(f"{n:,}: {v:,.1f}" for n, v in per_k.items()) + " ms per 1,000 bids"
                f"; largest ÷ smallest {s['per_bid_ratio']:.2f}")
        full = s["smallest"] <= 1000 and s["largest"] >= 100_000
        # Not monotonic in the sizes: only the full range decides it.
        out.append((name, text, s["per_bid_ratio"] <= 1.0 if full else None))
    return out


def timer_row(r: dict[str, Any]) -> Row:
    timer = r.get("timer") or {}
    p99 = at(timer, "lateness_ms", "p99")
    name = f"4. timer lateness p99 ≤ {TIMER_P99_MS:g} ms with {TIMER_OPEN:,} rounds open"
    if p99 is None:
        return (name, "not measured", None)
    lat = timer["lateness_ms"]
    text = (f"p50 {lat['p50']} / p99 {p99:,.1f} / max {lat['max']} ms over {lat['n']} closes "
            f"with {timer['open_rounds']:,} open")
    return (name, text, _at_scale(p99 <= TIMER_P99_MS, timer["open_rounds"] >= TIMER_OPEN))


def rss_row(peaks: dict[str, int], full_close: bool) -> Row:
    services = {k: v for k, v in peaks.items() if k.startswith(("bidding", "pool"))}
    name = (f"5. peak RSS ≤ {RSS_MB:g} MB per service process throughout "
            "(the 100,000-bid close included)")
    if not services:
        return (name, "not measured", None)
    worst = max(services.values())
    text = ", ".join(f"{k} {v / 1024:,.0f} MB" for k, v in services.items())
    return (name, text, _at_scale(worst <= RSS_MB * 1024, full_close))


def issue_rows(r: dict[str, Any], peaks: dict[str, int]) -> list[Row]:
    full_close = "100000" in (at(r, "close", "by_n") or {})
    return [*peak_rows(r), *close_rows(r), timer_row(r), rss_row(peaks, full_close)]
