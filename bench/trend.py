"""How a figure grows: the least-squares slope of samples over time (RSS in MB per
minute) and the cost per bid across close sizes (is the close linear or better?)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Ordinary least-squares slope of ys over xs; None for fewer than two distinct xs."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in length")
    n = len(xs)
    if n < 2:
        return None
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def rss_slope_mb_per_min(samples: Sequence[tuple[float, int]]) -> float | None:
    """Slope of (seconds, KiB) samples in MB per minute."""
    s = slope([t for t, _ in samples], [kb / 1024 for _, kb in samples])
    return None if s is None else s * 60


def scaling(ms_by_size: Mapping[int, float | None]) -> dict[str, Any]:
    """Cost per 1,000 bids at each size, and how it moves from the smallest size to the
    largest: `per_bid_ratio` <= 1 is linear or better (a fixed cost shared by more bids
    makes it < 1); `exponent` is the log-log slope between each pair of neighbours
    (1 = linear, 2 = quadratic)."""
    sizes = sorted(n for n, ms in ms_by_size.items() if ms is not None and ms > 0 and n > 0)
    per_k = {n: float(ms_by_size[n] or 0) / n * 1000 for n in sizes}
    steps = []
    for a, b in itertools.pairwise(sizes):
        ta, tb = float(ms_by_size[a] or 0), float(ms_by_size[b] or 0)
        steps.append({"from": a, "to": b, "time_ratio": tb / ta, "size_ratio": b / a,
                      "exponent": math.log(tb / ta) / math.log(b / a)})
    ratio = per_k[sizes[-1]] / per_k[sizes[0]] if len(sizes) >= 2 else None
    return {"ms_per_1000_bids": per_k, "steps": steps, "per_bid_ratio": ratio,
            "smallest": sizes[0] if sizes else None, "largest": sizes[-1] if sizes else None}
