"""Which load generator drives the bid storm: wrk when it is installed (its CPU is a small
fraction of the service's), else the Python one (`bench.loadgen`), which costs about as
much CPU as the service and so competes with it for the 2 cores."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bench import wrk
from bench.procs import LOGS
from bench.scenarios import Context, run_loadgen, summarize_runs
from bench.stats import agg

WRK = "wrk"
PYTHON = "python"
FALLBACK = ("Python load generator (wrk not installed): its own CPU competes with the "
            "service")


def choose(requested: str | None, found: str | None) -> str:
    """The generator to use: the one asked for, else wrk when it was found on PATH."""
    if requested == WRK and found is None:
        raise SystemExit("--loadgen wrk: wrk is not on PATH (scripts/bench-setup installs it)")
    if requested in (WRK, PYTHON):
        return requested
    if requested is not None:
        raise SystemExit(f"--loadgen {requested}: expected wrk or python")
    return WRK if found else PYTHON


def describe(kind: str, requested: str | None, version: str | None = None) -> str:
    """One line for the report: which generator produced the storm tables, and why."""
    if kind == WRK:
        return f"wrk ({version or 'wrk'}, Lua script bench/wrk_bids.lua)"
    if requested == PYTHON:
        return "Python load generator (forced with --loadgen python): its own CPU " \
               "competes with the service"
    return FALLBACK


def decrement_cents(min_decrement: str | None) -> int:
    """The round's minimum decrement in cents (a round without one takes 0.01)."""
    if min_decrement is None or Decimal(min_decrement) <= 0:
        return 1
    return int(Decimal(min_decrement) * 100)


async def load(ctx: Context, label: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One storm (warm-up, then the measured window) with the configured generator."""
    if ctx.cfg.loadgen == WRK:
        found = wrk.find()
        if found is None:
            raise RuntimeError("wrk is not on PATH")
        return await wrk.run(spec, LOGS["dir"] / f"wrk-{label}", found)
    result = await run_loadgen(ctx, label, spec)
    result["generator"] = PYTHON
    return result


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """summarize_runs, plus which generator produced the runs and wrk's own checks."""
    out = summarize_runs(runs)
    out["generator"] = ", ".join(sorted({str(r.get("generator", PYTHON)) for r in runs}))
    checks = sorted({k for r in runs for k in r.get("checks", {})})
    if checks:
        out["checks"] = {k: agg(r.get("checks", {}).get(k) for r in runs) for k in checks}
    return out
