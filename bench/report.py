"""The results as a short Markdown report, with the targets reached or not."""

from __future__ import annotations

from typing import Any

from bench import peak, report_storm
from bench.stats import at, fmt, median_at
from bench.targets import issue_rows
from bench.trend import scaling


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    out: list[tuple[str, str, bool | None]] = []
    out += report_storm.targets(r)
    # The performance issue's targets 2–5 (bench/targets.py).
    out += issue_rows(r, peak_rss(r))
    return out


def peak_rss(r: dict[str, Any]) -> dict[str, int]:
    peaks: dict[str, int] = {}
    for phase in (r.get("rss") or {}).values():
        for name, kb in phase.items():
            if kb is not None:
                peaks[name] = max(peaks.get(name, 0), kb)
    return peaks


def markdown(r: dict[str, Any]) -> str:
    cfg = r["config"]
    out: list[str] = []
    out.append(f"# Bench results {r['started']} ({'quick' if cfg['quick'] else 'full'} run, "
               f"{r['elapsed_s']:.0f} s)")
    out.append("")
    out.append(f"Every figure: median (min–max) over {cfg['reps']} run(s) of "
               f"{cfg['duration']:g} s after {cfg['warmup']:g} s warm-up, unless stated. "
               f"git {r['git']}.")
    out += report_storm.section(r)
    out += peak.markdown(r)
    close = at(r, "close", "by_n")
    if close:
        out += ["", "## Close to award (through the service's own timer)", "",
                f"Shape: {r['close']['shape']}; times from `closes_at`. Confirmed = the "
                "award.published outbox row's `published_at` (set after the broker's "
                "confirm); received = arrival on the finance queue.", "",
                "| bids | round.closed lateness ms | award written ms | confirmed ms | "
                "received ms | award event bytes | CPU ms: service / PostgreSQL |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for n, c in close.items():
            out.append(f"| {int(n):,} | {fmt(c['lateness_ms'], 1)} | {fmt(c['written_ms'])} | "
                       f"{fmt(c['confirmed_ms'])} | {fmt(c['received_ms'])} | "
                       f"{fmt(c['event_bytes'])} | {fmt(c.get('service_cpu_ms'))} / "
                       f"{fmt(c.get('postgres_cpu_ms'))} |")
        s = scaling({int(n): median_at(c, "received_ms") for n, c in close.items()})
        if s["per_bid_ratio"] is not None:
            out += ["", "Cost per bid (received, median): " + ", ".join(
                f"{n:,} bids {v:,.1f} ms per 1,000" for n, v in s["ms_per_1000_bids"].items())
                + f"; largest ÷ smallest {s['per_bid_ratio']:.2f} (≤ 1: linear or better); "
                "growth exponent between sizes " + ", ".join(
                    f"{st['from']:,}→{st['to']:,} {st['exponent']:.2f}" for st in s["steps"])
                + " (1 = linear)."]
    timer = r.get("timer")
    if timer and "lateness_ms" in timer:
        lat = timer["lateness_ms"]
        ac = timer["award_confirmed_ms"]
        out += ["", "## Timer lateness", "",
                f"{timer['open_rounds']:,} rounds open; per wave {timer['closing']} of them "
                f"close {timer['stagger_ms']:g} ms apart (3 bids each, so each is awarded); "
                f"{len(timer['waves'])} wave(s), pooled.", "",
                "| closes | p50 ms | p90 ms | p99 ms | max ms | p99 per wave | "
                "award confirmed p50 / p99 ms | one close's work p50 / p99 ms |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |",
                f"| {lat['n']} | {lat['p50']} | {lat['p90']} | {lat['p99']} | {lat['max']} | "
                f"{fmt(timer['lateness_p99_per_wave'], 1)} | {ac['p50']} / {ac['p99']} | "
                f"{timer['close_work_ms']['p50']} / {timer['close_work_ms']['p99']} |"]
    scale = r.get("scale")
    if scale and scale.get("by_n"):
        ps = scale.get("pool_service") or {}
        out += ["", "## Scale of state", "",
                "| admitted members | eligibility fill (rows/s, how) | launch POST /v1/rounds ms |"
                " GET /eligible ms (bytes) | pool service members: first page (200) ms | "
                "all pages ms |", "| --- | --- | --- | --- | --- | --- |"]
        for n, s in scale["by_n"].items():
            p = (ps.get("by_n") or {}).get(n) or {}
            if "first_page_ms" in p:
                first = fmt(p["first_page_ms"], 1)
                walk = f"{fmt(p['full_list_ms'])} ({p['pages']} pages)"
            else:
                first = p.get("error") or ps.get("skipped") or "n/a"
                walk = ""
            out.append(f"| {int(n):,} | {s['ingest_per_s']:,.0f} ({s['ingest_via']}) | "
                       f"{fmt(s['launch_ms'], 1)} | {fmt(s['eligible_ms'], 1)} "
                       f"({s['eligible_bytes']:,}) | {first} | {walk} |")
        if ps.get("git"):
            out.append("")
            out.append(f"Pool service as of `{ps['git']}` (working tree), members loaded "
                       "with COPY after creating the pool over its API.")
    peaks = peak_rss(r)
    if peaks:
        out += ["", "## Peak RSS (VmHWM)", "", "| process | peak MB | by phase (MB) |",
                "| --- | --- | --- |"]
        for name, kb in peaks.items():
            phases = ", ".join(f"{ph} {v[name] / 1024:.0f}" for ph, v in r["rss"].items()
                               if v.get(name))
            out.append(f"| {name} | {kb / 1024:,.0f} | {phases} |")
    out += ["", "## Targets", "", "| target | measured | reached |", "| --- | --- | --- |"]
    for name, measured, ok in targets(r):
        out.append(f"| {name} | {measured} | "
                   f"{'yes' if ok else 'no' if ok is not None else 'n/a'} |")
    if r.get("errors"):
        out += ["", "## Phase errors", ""] + [f"- {k}: {v}" for k, v in r["errors"].items()]
    if r.get("notes"):
        out += ["", "Notes: " + "; ".join(sorted(set(r["notes"])))[:1500]]
    m0, m1 = r["machine"]["before"], r["machine"]["after"]
    during = r["machine"].get("during") or []
    out += ["", "## Machine during the run", "", f"- before: `{m0['uptime']}`",
            f"- after: `{m1['uptime']}`", f"- cpus: {m0['cpus']}",
            "- load average (1 min) sampled every 30 s: " + ", ".join(
                f"{d['at']} {d['load'][0]}" for d in during), ""]
    others = sorted({line.split(None, 2)[-1][:90] for d in during for line in d["busiest"]
                     if "[bench]" not in line and "ps -eo" not in line
                     and float(line.split()[0]) >= 20})
    if others:
        out += ["Other processes seen at ≥ 20 % CPU in those samples:", ""]
        out += [f"- `{o}`" for o in others[:15]]
        out += [""]
    out += [
            "`top -bn1` at the start (others' processes included):", "", "```",
            *m0["top"][:16], "```"]
    return "\n".join(out) + "\n"
