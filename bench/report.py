"""The results as a short Markdown report, with the targets reached or not."""

from __future__ import annotations

from typing import Any

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


def _refused(s: dict[str, Any]) -> str:
    parts = [f"{k.split(' ', 1)[-1]} {fmt(v, 1)}" for k, v in s.get("refused_per_s", {}).items()]
    return ", ".join(parts) or "0"


def _errors(s: dict[str, Any]) -> str:
    parts = [f"{k} {fmt(v)}" for k, v in s.get("errors", {}).items()]
    return ", ".join(parts) or "0"


def _cores(s: dict[str, Any], keys: tuple[str, ...]) -> str:
    vals = []
    for k in keys:
        m = _med(s, "cpu_cores", k)
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


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    out: list[tuple[str, str, bool | None]] = []
    storm = _get(r, "storm", "by_c") or {}
    floor_a = _get(r, "floors", "a") or {}
    cmax = str(max((int(c) for c in storm), default=200))
    ours = _med(storm.get(cmax), "accepted_per_s")
    floor = _med(floor_a.get(cmax), "accepted_per_s")
    if ours is not None and floor:
        ratio = ours / floor
        out.append((f"throughput at C={cmax} ≥ 70% of floor (a)",
                    f"{ours:,.0f} / {floor:,.0f} bids/s = {ratio:.0%}", ratio >= 0.70))
    else:
        out.append((f"throughput at C={cmax} ≥ 70% of floor (a)", "not measured", None))
    eff = _med(storm.get(cmax), "per_service_core")
    feff = _med(floor_a.get(cmax), "per_service_core")
    if eff and feff:
        out.append((f"(supplementary, contention-proof) accepted/s per service core at C={cmax}"
                    " ≥ 70% of floor (a)'s", f"{eff:,.0f} vs {feff:,.0f} = {eff / feff:.0%}",
                    eff / feff >= 0.70))
    p99 = _med(storm.get(cmax), "latency_ms", "p99")
    fp99 = _med(floor_a.get(cmax), "latency_ms", "p99")
    if p99 is not None and fp99:
        out.append((f"p99 at C={cmax} ≤ 2× floor (a)'s",
                    f"{p99:,.1f} ms vs {fp99:,.1f} ms = {p99 / fp99:.1f}×", p99 <= 2 * fp99))
    else:
        out.append((f"p99 at C={cmax} ≤ 2× floor (a)'s", "not measured", None))
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
    storm = _get(r, "storm", "by_c") or {}
    floors = r.get("floors") or {}
    procs = _get(r, "processes", "two")
    out += ["", "## Bid storm: one round, "
            f"{_get(r, 'storm', 'suppliers') or '?'} invited suppliers, real HTTP + JWT",
            "", f"{cfg['bad_share']:.0%} of bids deliberately repeat the supplier's previous "
            "amount (refusal path). CPU in cores over the window: "
            "load generator / service process(es) / PostgreSQL backends / everything else "
            "on the machine / machine total (2 cores = 2.00).", "",
            "| setup | C | accepted bids/s | refused/s by reason | p50 ms | p90 ms | p99 ms |"
            " max ms | errors | CPU gen / svc / pg / other / total | accepted/s per svc core |"
            " svc+pg CPU ms per request |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c, s in storm.items():
        out.append(_storm_row("bidding service ×1", c, s))
    if procs:
        out.append(_storm_row("bidding service ×2", str(_get(r, "processes", "concurrency")),
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
    ingest = _get(r, "storm", "pool_ingest")
    if ingest:
        out.append("")
        out.append(f"Storm pool fed as {ingest['events']:,} pool.member.admitted events: "
                   f"applied by the bidding service in {ingest['applied_s']:.1f} s "
                   f"({ingest['events_per_s']:,.0f} events/s).")
    if storm and floors.get("a"):
        out += ["", "| C | ours ÷ floor (a) throughput | ours ÷ floor (b) | "
                "p99 ours ÷ p99 floor (a) | per service core: ours ÷ floor (a) |",
                "| --- | --- | --- | --- | --- |"]
        for c, s in storm.items():
            a = (floors.get("a") or {}).get(c)
            b = (floors.get("b") or {}).get(c)
            ours = _med(s, "accepted_per_s")
            fa = _med(a, "accepted_per_s")
            fb = _med(b, "tps")
            p99 = _med(s, "latency_ms", "p99")
            fp99 = _med(a, "latency_ms", "p99")
            out.append(f"| {c} | {ours / fa:.0%} |" if ours and fa else f"| {c} | n/a |")
            out[-1] += f" {ours / fb:.0%} |" if ours and fb else " n/a |"
            out[-1] += f" {p99 / fp99:.1f}× |" if p99 and fp99 else " n/a |"
            eff = _med(s, "per_service_core")
            feff = _med(a, "per_service_core")
            out[-1] += f" {eff / feff:.0%} |" if eff and feff else " n/a |"
    prof = r.get("profile")
    if prof and "groups" in prof:
        out += ["", f"Profile (py-spy, {prof['samples']:,} samples during a C="
                f"{prof['concurrency']} storm; see PROFILE.md): " + "; ".join(
                    f"{g['part'].strip()} {g['pct']}%" for g in prof["groups"][:11])]
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
