"""The bid storm's part of the report: the storm table (service, two processes, floors),
which load generator produced it, its own checks, the ratios to floor (a) of the same
run, and the storm's rows of the Targets table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.ratios import P99_TARGET, THROUGHPUT_TARGET, vs_floor_a
from bench.stats import at, fmt, median_at

OLD_PYTHON = "Python load generator (bench.loadgen): its own CPU competes with the service"


def _refused(s: dict[str, Any]) -> str:
    parts = [f"{k.split(' ', 1)[-1]} {fmt(v, 1)}" for k, v in s.get("refused_per_s", {}).items()]
    return ", ".join(parts) or "0"


def _errors(s: dict[str, Any]) -> str:
    parts = [f"{k} {fmt(v)}" for k, v in s.get("errors", {}).items()]
    return ", ".join(parts) or "0"


def _cores(s: dict[str, Any], keys: tuple[str, ...]) -> str:
    vals = []
    for k in keys:
        m = median_at(s, "cpu_cores", k)
        vals.append("–" if m is None else f"{m:.2f}")
    return " / ".join(vals)


def _storm_row(label: str, c: str, s: dict[str, Any] | None) -> str:
    if not s:
        return f"| {label} | {c} | not run | | | | | | | | | |"
    lat = s["latency_ms"]
    return (f"| {label} | {c} | {fmt(s['accepted_per_s'])} | {_refused(s)} | "
            f"{fmt(lat['p50'], 1)} | {fmt(lat['p90'], 1)} | {fmt(lat['p99'], 1)} | "
            f"{fmt(lat['max'], 0)} | {_errors(s)} | "
            f"{_cores(s, ('loadgen', 'service', 'postgres', 'other', 'machine_busy'))} | "
            f"{fmt(s.get('per_service_core'))} | {fmt(s.get('server_cpu_ms_per_request'), 2)} |")



def generator_line(r: dict[str, Any], rows: Sequence[dict[str, Any] | None]) -> str:
    """Which load generator produced the table (every row but pgbench's)."""
    kinds = sorted({str(s.get("generator", "python")) for s in rows if s})
    if len(kinds) > 1:
        return "Load generators differ between rows: " + ", ".join(kinds) + "."
    described = at(r, "loadgen", "description")
    if described and (not kinds or kinds[0] == at(r, "loadgen", "kind")):
        return f"Load generator (every row but pgbench's): {described}."
    if not kinds or kinds == ["python"]:
        return f"Load generator (every row but pgbench's): {OLD_PYTHON}."
    return f"Load generator (every row but pgbench's): {kinds[0]}."


def checks_text(label: str, s: dict[str, Any] | None) -> str | None:
    """wrk_bids.lua's own checks: the refusals are the deliberate repeats, nothing else."""
    checks = (s or {}).get("checks")
    if not checks:
        return None

    def n(key: str) -> str:
        value = median_at(checks, key)
        return "?" if value is None else f"{value:,.0f}"

    return (f"{label}: {n('repeats_refused')} of {n('repeats_answered')} answered deliberate "
            f"repeats refused ({n('repeats')} sent), "
            f"{n('not_deliberate')} refusals or errors of lower bids, "
            f"{n('overlaps')} requests for a supplier already in flight")


def ratio_rows(r: dict[str, Any]) -> list[str]:
    """Each storm figure over floor (a)'s of the same run, at the same C."""
    cmp = r.get("vs_floor_a") or vs_floor_a(r)
    floor_b = at(r, "floors", "b") or {}
    rows = [(f"bidding service ×1 | {c}", c, v) for c, v in cmp["by_c"].items()]
    if cmp.get("two_processes"):
        two = cmp["two_processes"]
        rows.append((f"bidding service ×2 | {two['concurrency']}", str(two["concurrency"]), two))
    if not rows:
        return []
    out = ["", f"Ratios to floor (a) in the same run (medians; targets: bids/s ≥ "
           f"{THROUGHPUT_TARGET:.0%}, p99 ≤ {P99_TARGET:g}×):", "",
           "| setup | C | bids/s ÷ floor (a) | p99 ÷ floor (a) | bids/s ÷ floor (b) | "
           "per service core ÷ floor (a) |", "| --- | --- | --- | --- | --- | --- |"]
    for label, c, v in rows:
        fb = median_at(floor_b.get(c), "tps")
        ours = v["accepted_per_s"]
        out.append(
            f"| {label} | {_pct(v['throughput_ratio'], v['throughput_reached'])} | "
            f"{_times(v['p99_ratio'], v['p99_reached'])} | "
            f"{f'{ours / fb:.0%}' if ours and fb else 'n/a'} | "
            f"{_pct(v['per_service_core_ratio'], None)} |")
    return out


def _pct(value: float | None, reached: bool | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0%}" + ("" if reached is None else " ✓" if reached else " ✗")


def _times(value: float | None, reached: bool | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}×" + ("" if reached is None else " ✓" if reached else " ✗")


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """Target 1: at C=50 and C=200 on one process, ≥ 70 % of floor (a)'s accepted bids/s
    and p99 ≤ 2× floor (a)'s, same run; the two-process figure reported with its ratio."""
    cmp = r.get("vs_floor_a") or vs_floor_a(r)
    out: list[tuple[str, str, bool | None]] = []
    wanted = [str(c) for c in (at(r, "config", "concurrency") or (50, 200))]
    for c in sorted(set(wanted) | set(cmp["by_c"]), key=int):
        v = cmp["by_c"].get(c)
        name = f"bid path, 1 process, C={c}: accepted bids/s ≥ 70% of floor (a)'s"
        if v and v["throughput_ratio"] is not None:
            out.append((name, f"{v['accepted_per_s']:,.0f} / {v['floor_accepted_per_s']:,.0f}"
                        f" bids/s = {v['throughput_ratio']:.0%}", v["throughput_reached"]))
        else:
            out.append((name, "not measured", None))
        name = f"bid path, 1 process, C={c}: p99 ≤ 2× floor (a)'s"
        if v and v["p99_ratio"] is not None:
            out.append((name, f"{v['p99_ms']:,.1f} ms vs {v['floor_p99_ms']:,.1f} ms = "
                        f"{v['p99_ratio']:.1f}×", v["p99_reached"]))
        else:
            out.append((name, "not measured", None))
    two = cmp.get("two_processes")
    if two and two["throughput_ratio"] is not None:
        p99 = "n/a" if two["p99_ratio"] is None else f"{two['p99_ratio']:.1f}×"
        out.append((f"(reported) 2 bidding processes, C={two['concurrency']}, vs floor (a)",
                    f"{two['accepted_per_s']:,.0f} / {two['floor_accepted_per_s']:,.0f} bids/s"
                    f" = {two['throughput_ratio']:.0%}, p99 {p99}", None))
    cmax = str(max((int(c) for c in cmp["by_c"]), default=200))
    eff = (cmp["by_c"].get(cmax) or {}).get("per_service_core_ratio")
    if eff is not None:
        out.append((f"(supplementary, contention-proof) accepted/s per service core at C={cmax}"
                    " ≥ 70% of floor (a)'s", f"{eff:.0%}", eff >= THROUGHPUT_TARGET))
    return out


def section(r: dict[str, Any]) -> list[str]:
    """The bid storm's Markdown lines."""
    cfg = r["config"]
    out: list[str] = []
    storm = at(r, "storm", "by_c") or {}
    floors = r.get("floors") or {}
    procs = at(r, "processes", "two")
    out += ["", "## Bid storm: one round, "
            f"{at(r, 'storm', 'suppliers') or '?'} invited suppliers, real HTTP + JWT",
            "", f"{cfg['bad_share']:.0%} of bids deliberately repeat the supplier's previous "
            "amount (refusal path). CPU in cores over the window: "
            "load generator / service process(es) / PostgreSQL backends / everything else "
            "on the machine / machine total (2 cores = 2.00).", "",
            generator_line(r, [*storm.values(), procs, *(floors.get("a") or {}).values()]), "",
            "| setup | C | accepted bids/s | refused/s by reason | p50 ms | p90 ms | p99 ms |"
            " max ms | errors | CPU gen / svc / pg / other / total | accepted/s per svc core |"
            " svc+pg CPU ms per request |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c, s in storm.items():
        out.append(_storm_row("bidding service ×1", c, s))
    if procs:
        out.append(_storm_row("bidding service ×2", str(at(r, "processes", "concurrency")),
                              procs))
    for c, s in (floors.get("a") or {}).items():
        out.append(_storm_row("floor (a) bare aiohttp + 1 INSERT", c, s))
    for c, b in (floors.get("b") or {}).items():
        if not isinstance(b, dict) or "tps" not in b:
            continue
        lat = b["latency_ms"]
        cores = b["cpu_cores"]
        out.append(
            f"| floor (b) pgbench -c {b['clients']} -j 2 | {c} | {fmt(b['tps'])} | – | "
            f"{fmt(lat['p50'], 1)} | {fmt(lat['p90'], 1)} | {fmt(lat['p99'], 1)} | "
            f"{fmt(lat['max'], 0)} | 0 | pgbench {fmt(cores['pgbench'], 2)}, machine "
            f"{fmt(cores['machine_busy'], 2)} | – | – |")
    checks = [checks_text(label, s) for label, s in
              [(f"bidding ×1 C={c}", s) for c, s in storm.items()]
              + ([("bidding ×2", procs)] if procs else [])
              + [(f"floor (a) C={c} (no rule: it accepts repeats)", s)
                 for c, s in (floors.get("a") or {}).items()]]
    if any(checks):
        out += ["", "Answers, as counted by wrk: " + "; ".join(c for c in checks if c) + "."]
    notes = [b["note"] for b in (floors.get("b") or {}).values()
             if isinstance(b, dict) and b.get("note")]
    if notes:
        out.append("")
        out.append("pgbench: " + "; ".join(sorted(set(notes))) + ".")
    waits = []
    for label, s in [(f"bidding ×1 C={c}", s) for c, s in storm.items()] + (
            [("bidding ×2", procs)] if procs else []) + [
            (f"floor (a) C={c}", s) for c, s in (floors.get("a") or {}).items()]:
        w = (s or {}).get("pg_waits") or {}
        parts = [f"{k} {v['median']:.1f}" for k, v in sorted(
            w.items(), key=lambda kv: -(kv[1]["median"] or 0)) if v["median"]]
        if parts:
            waits.append(f"{label}: " + ", ".join(parts[:6]))
    if waits:
        out.append("")
        out.append("PostgreSQL client backends of the bench database, average count by state "
                   "(pg_stat_activity every 50 ms; floor rows include the idle bidding "
                   "service's pool): " + "; ".join(waits) + ".")
    ingest = at(r, "storm", "pool_ingest")
    if ingest:
        out.append("")
        out.append(f"Storm pool fed as {ingest['events']:,} pool.member.admitted events: "
                   f"applied by the bidding service in {ingest['applied_s']:.1f} s "
                   f"({ingest['events_per_s']:,.0f} events/s).")
    out += ratio_rows(r)
    prof = r.get("profile")
    if prof and "groups" in prof:
        out += ["", f"Profile (py-spy, {prof['samples']:,} samples during a C="
                f"{prof['concurrency']} storm; see PROFILE.md): " + "; ".join(
                    f"{g['part'].strip()} {g['pct']}%" for g in prof["groups"][:11])]
    return out

