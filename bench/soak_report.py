"""The soak's verdict from its raw figures: errors, lost bids, RSS trend per process,
what was left undelivered; and its Markdown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from bench.trend import rss_slope_mb_per_min

WARMUP_S = 60.0


def rss_trend(samples: Mapping[str, Sequence[tuple[float, int]]],
              warmup_s: float = WARMUP_S) -> dict[str, dict[str, Any]]:
    """Per process (each incarnation of a restarted one on its own): samples, first and
    last and peak MB, and the least-squares slope in MB per minute over the samples
    after its first `warmup_s` (None when too short to tell)."""
    out: dict[str, dict[str, Any]] = {}
    for name, points in samples.items():
        if not points:
            continue
        t0 = points[0][0]
        settled = [(t, kb) for t, kb in points if t - t0 >= warmup_s]
        slope = rss_slope_mb_per_min(settled) if len(settled) >= 3 else None
        out[name] = {"samples": len(points), "minutes": round((points[-1][0] - t0) / 60, 2),
                     "first_mb": round(points[0][1] / 1024, 1),
                     "last_mb": round(points[-1][1] / 1024, 1),
                     "max_mb": round(max(kb for _, kb in points) / 1024, 1),
                     "slope_mb_per_min": None if slope is None else round(slope, 3)}
    return out


def lost_bids(accepted: Mapping[str, Mapping[str, Sequence[tuple[str, Decimal]]]],
              stored: set[str], ranking: Mapping[str, Mapping[str, Decimal]],
              ) -> dict[str, Any]:
    """Bids answered 201 that the database does not hold, and suppliers whose last
    accepted amount is not the one the round's published ranking shows for them.
    `ranking` holds only rounds whose ranking was read (others are not judged)."""
    ids = [bid for by in accepted.values() for bids in by.values() for bid, _ in bids]
    missing = sorted(set(ids) - stored)
    wrong = []
    for round_id, by in accepted.items():
        if round_id not in ranking:
            continue
        shown = ranking[round_id]
        for supplier, bids in by.items():
            if bids and shown.get(supplier) != bids[-1][1]:
                wrong.append(f"{round_id}/{supplier}: accepted {bids[-1][1]}, "
                             f"ranking {shown.get(supplier)}")
    return {"accepted": len(ids), "missing_in_database": len(missing),
            "missing_ids": missing[:20], "ranking_rounds": len(ranking),
            "ranking_mismatches": len(wrong), "ranking_mismatch_samples": wrong[:20]}


def verdict(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    lost = r["lost"]
    trend = r["rss"]
    longest = max(trend.values(), key=lambda t: t["minutes"], default=None)
    drained = r["drain"]
    rows = [
        ("0 errors (answers other than the expected and the deliberate refusals)",
         str(sum(r["errors"].values())), not r["errors"]),
        ("0 lost bids (every 201 in the database and the ranking)",
         f"{lost['missing_in_database']} missing of {lost['accepted']:,}, "
         f"{lost['ranking_mismatches']} ranking mismatches over {lost['ranking_rounds']} "
         "rounds", not lost["missing_in_database"] and not lost["ranking_mismatches"]),
        ("no round left open", str(r["left_open"]), not r["left_open"]),
        ("outbox and queues drained at the end",
         f"outbox unpublished {drained['outbox']}, queues "
         + ", ".join(f"{q.split('.', 2)[-1]} {n}" for q, n in drained["queues"].items()),
         drained["outbox_total"] == 0 and not any(drained["queues"].values())),
    ]
    if longest is not None and longest["slope_mb_per_min"] is not None:
        # "Flat": under 0.1 MB per minute, 3 MB over the soak's half hour.
        rows.append(("RSS flat (least-squares slope after the first minute)",
                     f"{longest['slope_mb_per_min']:+.3f} MB/min over "
                     f"{longest['minutes']:.1f} min", abs(longest["slope_mb_per_min"]) < 0.1))
    return rows


def markdown(r: dict[str, Any]) -> str:
    out = [f"# Soak {r['started']} ({r['minutes']:g} min requested, {r['elapsed_s']:.0f} s "
           f"in all), git {r['git']}", "",
           "Indicative: a shared 2-core machine. Continuous price competitions (a bid storm "
           "across each close), direct selections and rotations on two bidding processes "
           f"and the pool service; {r['processes']['restart_target']} restarted (SIGTERM, "
           f"started again) every {r['processes']['restart_every_s']:g} s.", "",
           "| check | measured | met |", "| --- | --- | --- |"]
    out += [f"| {name} | {text} | {'yes' if ok else 'NO'} |" for name, text, ok in verdict(r)]
    c = r["counts"]
    out += ["", f"Rounds: {c['price_rounds']} price competitions ({c['price_statuses']}), "
            f"{c['fixed_rounds']} direct selections and rotations; bids accepted "
            f"{r['lost']['accepted']:,}; restarts {len(r['restarts'])} "
            "(" + ", ".join(f"exit {x['exit_code']}, ready again in {x['down_to_ready_s']} s"
                            for x in r["restarts"]) + ").", "",
            "| answer | count | kind |", "| --- | --- | --- |"]
    for key, n in sorted(r["answers"].items()):
        kind = ("error" if key in r["errors"] else "deliberate" if key in r["deliberate"]
                else "expected")
        out.append(f"| {key} | {n:,} | {kind} |")
    out += ["", "| process | RSS samples | minutes | first / last / max MB | "
            "slope MB/min (after 1 min) | peak (VmHWM) MB |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name, t in r["rss"].items():
        slope = "–" if t["slope_mb_per_min"] is None else f"{t['slope_mb_per_min']:+.3f}"
        hwm = r["hwm_kb"].get(name)
        out.append(f"| {name} | {t['samples']} | {t['minutes']} | {t['first_mb']} / "
                   f"{t['last_mb']} / {t['max_mb']} | {slope} | "
                   f"{'–' if hwm is None else f'{hwm / 1024:.0f}'} |")
    if r["error_samples"]:
        out += ["", "First errors:", ""] + [f"- `{e}`" for e in r["error_samples"]]
    return "\n".join(out) + "\n"
