"""The real peak: many rounds closing in the same second on two bidding processes,
then the same with one of them killed (SIGKILL) at the close.

Each run COPY-loads `rounds` rounds of `bidders` invited suppliers with one sealed bid
each (`scenarios.load_closing_round`), then moves every `closes_at` to one instant with a
single UPDATE (its trigger wakes both processes' timers). Per round: `round.closed`'s
`closed_at`, the award's outbox row (written) and its `published_at` (confirmed by the
broker), and the arrival of `award.published` at an outside consumer of the finance queue
(`FinanceTap`), all from `closes_at`. Which process closed how many rounds comes from
each process's own `round_timer_lateness_seconds_count{action="close"}`.

The kill run SIGKILLs the second process KILL_AFTER_S after `closes_at`, so it dies in
the middle of its closes (their transactions roll back): the survivor must close every
round. The killed process is then started again and must become ready; at the end of
the phase it is stopped, so the later phases run on one process as before.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from typing import Any

import asyncpg

from bench.procs import Proc, free_port, python_module
from bench.scenarios import Context, load_closing_round, log
from bench.stats import dist

KILL_AFTER_S = 0.025
LEAD_S = 3.0
CLOSE_COUNT = 'round_timer_lateness_seconds_count{action="close"}'

ROWS = """
SELECT r.id, r.status, r.closes_at,
       (SELECT count(*) FROM awards x WHERE x.round_id = r.id) AS awards,
       (SELECT count(*) FROM outbox c WHERE c.type = 'round.closed'
                                        AND c.subject = r.id::text) AS closed_events,
       (SELECT c.envelope->'data'->>'closed_at' FROM outbox c
         WHERE c.type = 'round.closed' AND c.subject = r.id::text LIMIT 1) AS closed_at,
       a.created_at AS written, a.published_at AS confirmed
  FROM rounds r
  LEFT JOIN awards aw ON aw.round_id = r.id AND aw.rank = 1
  LEFT JOIN outbox a ON a.type = 'award.published' AND a.subject = aw.id::text
 WHERE r.id = ANY($1::uuid[])
"""


def metric_value(text: str, sample: str) -> float:
    """The value of one sample line (`name{labels}`) of Prometheus text; 0 when absent."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 1)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-round times (epoch seconds; None when missing) as distributions in ms from
    `closes_at`, and the checks: exactly one award and one round.closed per round,
    exactly one award.published event received, no round left open."""
    out: dict[str, Any] = {"rounds": len(rows)}
    for key in ("closed", "written", "confirmed", "received"):
        d = dist([r[key] - r["closes_at"] for r in rows if r.get(key) is not None])
        out[f"{key}_ms"] = {k: _ms(d[k]) for k in ("p50", "p90", "p99", "max")} | {"n": d["n"]}
    out["left_open"] = sum(1 for r in rows if r["status"] in ("open", "scheduled"))
    out["not_one_award"] = sum(1 for r in rows if r["awards"] != 1)
    out["not_one_closed_event"] = sum(1 for r in rows if r["closed_events"] != 1)
    out["not_one_event_received"] = sum(1 for r in rows if len(set(r["event_ids"])) != 1)
    out["redeliveries"] = sum(len(r["event_ids"]) - len(set(r["event_ids"])) for r in rows)
    out["statuses"] = dict(Counter(r["status"] for r in rows))
    out["awards_ok"] = not (out["not_one_award"] or out["not_one_closed_event"]
                            or out["not_one_event_received"])
    return out


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


async def _closes(ctx: Context, proc: Proc) -> float | None:
    try:
        async with ctx.http.get(f"http://127.0.0.1:{proc.env['METRICS_PORT']}/metrics") as r:
            return metric_value(await r.text(), CLOSE_COUNT)
    except Exception:  # a killed process has no metrics: the caller says so
        return None


async def _start(ctx: Context, name: str, port: int | None = None,
                 metrics_port: str | None = None) -> Proc:
    """A further bidding process (its pool capped if the shared server is short)."""
    conn = await asyncpg.connect(ctx.admin_dsn)
    try:
        max_conn = int(await conn.fetchval("SHOW max_connections"))
        in_use = int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity"))
    finally:
        await conn.close()
    port = port or free_port()
    env = {**ctx.service_env(port), "MIGRATE_ON_START": "false"}
    if metrics_port:
        env["METRICS_PORT"] = metrics_port
    pool_max = max(4, min(20, max_conn - in_use - 25))
    if pool_max < 20:
        env["DB_POOL_MAX"] = str(pool_max)
        ctx.notes.append(f"{name} ran with DB_POOL_MAX={pool_max}: {in_use} of "
                         f"max_connections={max_conn} in use on the shared server")
    proc = Proc(name, python_module("bidding_service"), env, port).start()
    await proc.wait_serving(ctx.notes)
    return proc


async def _run(ctx: Context, conn: asyncpg.Connection, procs: list[Proc], rounds: int,
               bidders: int, seed: int, kill: Proc | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    ids = [await load_closing_round(conn, bidders, seed=seed + i, bid_key=ctx.bid_key)
           for i in range(rounds)]
    load_s = time.perf_counter() - t0
    before = {p.name: await _closes(ctx, p) for p in procs}
    closes_at: datetime = await conn.fetchval(
        "WITH moved AS (UPDATE rounds SET closes_at = date_trunc('second', clock_timestamp())"
        f" + interval '{LEAD_S:g} seconds' WHERE id = ANY($1::uuid[]) RETURNING closes_at)"
        " SELECT min(closes_at) FROM moved", ids)
    at = closes_at.timestamp()
    killed_at = None
    if kill is not None:
        await asyncio.sleep(max(0.0, at + KILL_AFTER_S - time.time()))
        kill.hwm_kb()
        assert kill.proc is not None
        kill.proc.kill()
        killed_at = time.time()
        kill.proc.wait(10)
    await asyncio.gather(*(ctx.finance.wait_for("award.published", rid, 60 + rounds / 5)
                           for rid in ids))
    await asyncio.sleep(0.5)  # a late redelivery, if any, is counted
    after = {p.name: await _closes(ctx, p) for p in procs}
    raw = await conn.fetch(ROWS, ids)
    rows = []
    for r in raw:
        key = ("award.published", str(r["id"]))
        closed = datetime.fromisoformat(r["closed_at"]) if r["closed_at"] else None
        rows.append({"status": r["status"], "closes_at": r["closes_at"].timestamp(),
                     "awards": r["awards"], "closed_events": r["closed_events"],
                     "closed": closed.timestamp() if closed else None,
                     "written": r["written"].timestamp() if r["written"] else None,
                     "confirmed": r["confirmed"].timestamp() if r["confirmed"] else None,
                     "received": ctx.finance.arrivals.get(key),
                     "event_ids": ctx.finance.event_ids.get(key, [])})
    out = summarise(rows)
    out["load_s"] = round(load_s, 2)
    out["closed_by"] = {name: _delta(before[name], after[name]) for name in before}
    if killed_at is not None:
        out["killed"] = {"process": kill.name if kill else None,
                         "after_closes_at_ms": round((killed_at - at) * 1000, 1),
                         "closed_before_kill": sum(1 for r in rows if r["closed"] is not None
                                                   and r["closed"] < killed_at)}
    return out


async def phase_peak(ctx: Context) -> dict[str, Any]:
    rounds, bidders = (30, 50) if ctx.cfg.quick else (100, 100)
    out: dict[str, Any] = {"rounds": rounds, "bidders": bidders,
                           "kill_after_closes_at_ms": KILL_AFTER_S * 1000}
    first = ctx.bidding[0]
    second = await _start(ctx, "bidding-peak-2")
    ctx.others[second.name] = second
    conn = await asyncpg.connect(ctx.dsn, server_settings={"search_path": "bidding"})
    restarted: Proc | None = None
    try:
        out["all_up"] = await _run(ctx, conn, [first, second], rounds, bidders, 70_000, None)
        log(f"peak {rounds}×{bidders}, 2 processes: received p99 "
            f"{out['all_up']['received_ms']['p99']} ms, closed by {out['all_up']['closed_by']}")
        out["killed"] = await _run(ctx, conn, [first, second], rounds, bidders, 80_000, second)
        log(f"peak {rounds}×{bidders}, one killed: received p99 "
            f"{out['killed']['received_ms']['p99']} ms, closed by {out['killed']['closed_by']}")
        t0 = time.perf_counter()
        restarted = await _start(ctx, "bidding-peak-2-restarted", second.port,
                                 second.env["METRICS_PORT"])
        ctx.others[restarted.name] = restarted
        out["restart_ready_s"] = round(time.perf_counter() - t0, 2)
    finally:
        await conn.close()
        ctx.record_rss("peak")
        for p in (second, restarted):
            if p is not None:
                p.stop()
    return out


def markdown(r: dict[str, Any]) -> list[str]:
    """The report's section for this phase (empty when it did not run)."""
    peak = r.get("peak")
    if not peak or "all_up" not in peak:
        return []
    out = ["", f"## Peak: {peak['rounds']} rounds × {peak['bidders']} bidders closing at "
           "the same instant, 2 bidding processes", "",
           "Times in ms from `closes_at`: round.closed's `closed_at`, the award's outbox row "
           "(written), its `published_at` (broker confirmed), its arrival at an outside "
           "consumer of the finance queue (received). Kill run: the second process "
           f"SIGKILLed {peak['kill_after_closes_at_ms']:g} ms after `closes_at`.", "",
           "| run | closed p50 / p99 | written p50 / p99 | confirmed p50 / p99 | "
           "received p50 / p90 / p99 / max | closes per process | one award each | "
           "left open |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, label in (("all_up", "both up"), ("killed", "one killed")):
        run = peak.get(key)
        if not run:
            continue
        rec = run["received_ms"]

        def pair(k: str, run: dict[str, Any] = run) -> str:
            return f"{run[k]['p50']} / {run[k]['p99']}"

        by = ", ".join(f"{n} {'killed' if v is None else f'{v:.0f}'}"
                       for n, v in run["closed_by"].items())
        if run.get("killed"):
            by += f" ({run['killed']['closed_before_kill']} closed before the kill)"
        out.append(f"| {label} | {pair('closed_ms')} | {pair('written_ms')} | "
                   f"{pair('confirmed_ms')} | {rec['p50']} / {rec['p90']} / {rec['p99']} / "
                   f"{rec['max']} | {by} | {'yes' if run['awards_ok'] else 'NO'} "
                   f"({run['redeliveries']} redelivered) | {run['left_open']} |")
    if peak.get("restart_ready_s") is not None:
        out += ["", f"The killed process, started again, was ready in "
                f"{peak['restart_ready_s']:.1f} s."]
    return out
