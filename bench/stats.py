"""Small statistics helpers: median and spread of repeated figures, percentiles."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any


def agg(values: Iterable[float | None]) -> dict[str, Any]:
    """Median, min and max of repeated measurements (None values are dropped)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0, "values": []}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals), "values": [round(v, 4) for v in vals]}


def pct(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(p * len(sorted_values)) - 1))
    return sorted_values[k]


def dist(values: Iterable[float]) -> dict[str, Any]:
    v = sorted(values)
    if not v:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    return {"n": len(v), "p50": pct(v, 0.5), "p90": pct(v, 0.9), "p99": pct(v, 0.99),
            "max": v[-1], "min": v[0]}


def fmt(a: dict[str, Any] | None, digits: int = 0, unit: str = "") -> str:
    """`median (min–max)` for a table cell; a single run shows just the value."""
    if not a or a.get("median") is None:
        return "n/a"

    def f(x: float) -> str:
        return f"{x:,.{digits}f}"

    if a["n"] == 1 or a["min"] == a["max"]:
        return f"{f(a['median'])}{unit}"
    return f"{f(a['median'])}{unit} ({f(a['min'])}–{f(a['max'])})"


def at(d: Any, *path: str) -> Any:
    """The value at `path` in nested results dicts, or None where any step is missing."""
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def median_at(d: Any, *path: str) -> float | None:
    """The median of the repeated figure at `path`, or None."""
    value = at(d, *path, "median")
    return None if value is None else float(value)
