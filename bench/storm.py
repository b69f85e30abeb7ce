"""The bid storm: one round, its invited suppliers bidding as fast as C connections allow,
on one bidding process or two, and the same storm under py-spy. Each returns plain data
for the results file."""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench import drive, profile
from bench.feed import Pool, make_members, wait_eligible
from bench.procs import Proc, free_port, python_module
from bench.scenarios import (
    RESULTS,
    Context,
    _pyspy_path,
    cancel,
    launch,
    log,
    storm_spec,
    supplier_token,
)


async def storm_pool(ctx: Context) -> tuple[Pool, list[list[str]], dict[str, Any]]:
    """The storm's pool: N members admitted through pool.* events."""
    members = make_members(ctx.cfg.storm_suppliers, seed=11)
    pool = await ctx.feed.pool(code="bench-storm")
    t0 = time.perf_counter()
    await ctx.feed.admit(pool, members)
    published = time.perf_counter() - t0
    await wait_eligible(ctx.http, ctx.bidding[0].url, ctx.center, pool.id, len(members))
    applied = time.perf_counter() - t0
    tokens = [[str(m.id), supplier_token(ctx, m)] for m in members]
    ingest = {"events": len(members), "published_s": round(published, 3),
              "applied_s": round(applied, 3), "events_per_s": round(len(members) / applied, 1)}
    return pool, tokens, ingest


async def storm(ctx: Context, procs: list[Proc], pool: Pool, tokens: list[list[str]],
                concurrency: int, label: str, rep: int) -> dict[str, Any]:
    base = procs[0].url
    closes_at = datetime.now(UTC) + timedelta(seconds=ctx.cfg.warmup + ctx.cfg.duration + 120)
    rnd, _ = await launch(ctx, base, pool, closes_at)
    spec = storm_spec(ctx, [p.url for p in procs], f"/v1/rounds/{rnd['id']}/bids", tokens,
                      concurrency, {p.name: [p.pid] for p in procs}, seed=rep + concurrency)
    spec["decrement_cents"] = drive.decrement_cents(rnd.get("min_decrement"))
    try:
        result = await drive.load(ctx, f"{label}-r{rep}", spec)
    finally:
        await cancel(ctx, base, rnd["id"])
    names = [p.name for p in procs]
    result["cpu_cores"]["service"] = round(sum(result["cpu_cores"].get(n, 0) for n in names), 3)
    known = sum(result["cpu_cores"].get(k, 0) for k in ("loadgen", "postgres", "service"))
    result["cpu_cores"]["other"] = round(result["cpu_cores"]["machine_busy"] - known, 3)
    result["round_id"] = rnd["id"]
    return result


async def phase_storm(ctx: Context) -> dict[str, Any]:
    pool, tokens, ingest = await storm_pool(ctx)
    out: dict[str, Any] = {"pool_ingest": ingest, "suppliers": len(tokens), "by_c": {}}
    for c in ctx.cfg.concurrency:
        runs = []
        for rep in range(ctx.cfg.reps):
            runs.append(await storm(ctx, ctx.bidding[:1], pool, tokens, c, f"storm-c{c}", rep))
            log(f"storm C={c} rep {rep + 1}: {runs[-1]['accepted_per_s']:.0f} accepted/s, "
                f"p99 {runs[-1]['latency_ms']['p99']} ms")
        out["by_c"][str(c)] = drive.summarize(runs)
    out["_pool"] = pool
    out["_tokens"] = tokens
    return out


# ---------------------------------------------------------------- 5. processes


async def phase_processes(ctx: Context, pool: Pool, tokens: list[list[str]]) -> dict[str, Any]:
    # The PostgreSQL server is shared (max_connections): give the second process the
    # default pool of 20 only if that leaves others room, and say so if it does not.
    conn = await asyncpg.connect(ctx.admin_dsn)
    try:
        max_conn = int(await conn.fetchval("SHOW max_connections"))
        in_use = int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity"))
    finally:
        await conn.close()
    pool_max = max(4, min(20, max_conn - in_use - 25))
    env = {"MIGRATE_ON_START": "false"}
    if pool_max < 20:
        env["DB_POOL_MAX"] = str(pool_max)
        ctx.notes.append(f"bidding-2 ran with DB_POOL_MAX={pool_max}, not 20: "
                         f"{in_use} of max_connections={max_conn} in use on the shared server")
    port = free_port()
    second = Proc("bidding-2", python_module("bidding_service"),
                  {**ctx.service_env(port), **env}, port).start()
    ctx.bidding.append(second)
    c = max(ctx.cfg.concurrency)
    runs = []
    try:
        await second.wait_serving(ctx.notes)
        for rep in range(ctx.cfg.reps):
            runs.append(await storm(ctx, ctx.bidding[:2], pool, tokens, c, f"storm2-c{c}", rep))
            log(f"storm 2 processes C={c} rep {rep + 1}: "
                f"{runs[-1]['accepted_per_s']:.0f} accepted/s, "
                f"p99 {runs[-1]['latency_ms']['p99']} ms")
    finally:
        ctx.record_rss("processes")
        second.stop()
        ctx.bidding.remove(second)
        ctx.others["bidding-2"] = second
    return {"concurrency": c, "two": drive.summarize(runs), "second_pool_max": pool_max}


# ---------------------------------------------------------------- profile


async def phase_profile(ctx: Context, pool: Pool, tokens: list[list[str]]) -> dict[str, Any]:
    """py-spy against the bidding process during a C=max storm (not counted in figures)."""
    pyspy = _pyspy_path()
    if pyspy is None:
        return {"skipped": "py-spy not installed (pip install py-spy)"}
    target = ctx.bidding[0]
    c = max(ctx.cfg.concurrency)
    raw = RESULTS / "profile-bid-storm.collapsed.txt"
    seconds = max(2, int(ctx.cfg.duration))
    argv = [pyspy, "record", "--pid", str(target.pid), "--rate", "200",
            "--duration", str(seconds), "--format", "raw", "--output", str(raw)]
    closes_at = datetime.now(UTC) + timedelta(seconds=ctx.cfg.warmup + ctx.cfg.duration + 120)
    rnd, _ = await launch(ctx, target.url, pool, closes_at)
    spec = storm_spec(ctx, [target.url], f"/v1/rounds/{rnd['id']}/bids", tokens, c,
                      {target.name: [target.pid]}, seed=99)
    load = asyncio.create_task(drive.load(ctx, f"profile-c{c}", spec))
    try:
        await asyncio.sleep(ctx.cfg.warmup)
        spy = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE,
                                                   stderr=subprocess.STDOUT)
        spy_out, _ = await spy.communicate()
        result = await load
    finally:
        await cancel(ctx, target.url, rnd["id"])
    if spy.returncode != 0 or not raw.exists():
        return {"skipped": f"py-spy failed: {spy_out.decode()[-500:]}"}
    summary = profile.analyse(raw)
    profile.write_speedscope(raw, RESULTS / "profile-bid-storm.speedscope.json")
    (RESULTS / "profile-bid-storm.top.txt").write_text(profile.render_text(summary))
    return {"concurrency": c, "seconds": seconds, "samples": summary["samples"],
            "storm_under_profiler": {"accepted_per_s": result["accepted_per_s"],
                                     "latency_ms": result["latency_ms"]},
            "groups": summary["groups"], "top_inclusive": summary["inclusive"][:25],
            "top_self": summary["self"][:25]}
