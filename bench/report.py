"""The results as a short Markdown report, with the targets reached or not."""

from __future__ import annotations

from typing import Any

from bench import report_storm
from bench.stats import fmt


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _med(d: Any, *path: str) -> float | None:
    value = _get(d, *path, "median")
    return None if value is None else float(value)


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    out: list[tuple[str, str, bool | None]] = []
    out += report_storm.targets(r)
    close = _get(r, "close", "by_n") or {}
    c10 = _get(close, "10000", "confirmed_ms")
    if c10 and c10.get("median") is not None:
        out.append(("close → award confirmed < 300 ms at 10,000 bids",
                    f"{fmt(c10, 0)} ms", c10["max"] < 300))
    else:
        out.append(("close → award confirmed < 300 ms at 10,000 bids", "not measured", None))
    c100 = _med(close, "100000", "confirmed_ms")
    if c10 and c10.get("median") and c100 is not None:
        growth = c100 / c10["median"]
        out.append(("… growing no worse than linearly to 100,000 (≤ 10× for 10× the bids)",
                    f"{c100:,.0f} ms = {growth:.1f}× the 10,000 figure", growth <= 10))
    else:
        out.append(("… growing no worse than linearly to 100,000", "not measured", None))
    timer = r.get("timer") or {}
    tp99 = _get(timer, "lateness_ms", "p99")
    if tp99 is not None:
        out.append((f"timer lateness p99 < 100 ms with {timer['open_rounds']:,} open rounds",
                    f"p99 {tp99:,.1f} ms over {timer['lateness_ms']['n']} closes "
                    f"(per wave {fmt(timer['lateness_p99_per_wave'], 1)})", tp99 < 100))
    else:
        out.append(("timer lateness p99 < 100 ms with 1,000 open rounds", "not measured", None))
    peaks = peak_rss(r)
    services = {k: v for k, v in peaks.items() if k.startswith(("bidding", "pool"))}
    if services:
        worst = max(services.values())
        text = ", ".join(f"{k} {v / 1024:,.0f} MB" for k, v in services.items())
        out.append(("peak RSS < 200 MB per service process", text, worst < 200 * 1024))
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
    close = _get(r, "close", "by_n")
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
