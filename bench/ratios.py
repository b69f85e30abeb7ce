"""The bid storm's figures as ratios to floor (a) measured in the same run: the
service's accepted bids/s over the floor's, its p99 over the floor's, at the same C and
with the same load generator."""

from __future__ import annotations

from typing import Any

THROUGHPUT_TARGET = 0.70  # the bid path: at least 70 % of the floor's accepted bids/s
P99_TARGET = 2.0          # and a p99 at most twice the floor's


def _median(summary: Any, *path: str) -> float | None:
    d = summary
    for p in (*path, "median"):
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return None if d is None else float(d)


def ratio(ours: float | None, floor: float | None) -> float | None:
    """ours / floor, or None when either is missing or the floor is zero."""
    return None if ours is None or not floor else ours / floor


def compare(ours: dict[str, Any] | None, floor: dict[str, Any] | None) -> dict[str, Any]:
    """One storm summary against floor (a)'s summary at the same C (medians over reps)."""
    mine = _median(ours, "accepted_per_s")
    theirs = _median(floor, "accepted_per_s")
    p99 = _median(ours, "latency_ms", "p99")
    fp99 = _median(floor, "latency_ms", "p99")
    throughput = ratio(mine, theirs)
    latency = ratio(p99, fp99)
    return {
        "accepted_per_s": mine, "floor_accepted_per_s": theirs,
        "p99_ms": p99, "floor_p99_ms": fp99,
        "throughput_ratio": throughput, "p99_ratio": latency,
        "per_service_core_ratio": ratio(_median(ours, "per_service_core"),
                                        _median(floor, "per_service_core")),
        "throughput_reached": None if throughput is None else throughput >= THROUGHPUT_TARGET,
        "p99_reached": None if latency is None else latency <= P99_TARGET,
        "generators": [(ours or {}).get("generator"), (floor or {}).get("generator")],
    }


def vs_floor_a(results: dict[str, Any]) -> dict[str, Any]:
    """Every storm figure of a results file against floor (a) of the same file."""
    storm = ((results.get("storm") or {}).get("by_c")) or {}
    floor = ((results.get("floors") or {}).get("a")) or {}
    out: dict[str, Any] = {"by_c": {c: compare(s, floor.get(c)) for c, s in storm.items()
                                    if c in floor}}
    procs = results.get("processes") or {}
    if procs.get("two") and str(procs.get("concurrency")) in floor:
        c = str(procs["concurrency"])
        out["two_processes"] = compare(procs["two"], floor[c]) | {"concurrency": int(c)}
    return out
