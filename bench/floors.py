"""The floors the bid storm is compared with: (a) a bare aiohttp handler doing one asyncpg
INSERT, driven like the service; (b) pgbench running the same INSERT."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import time
import uuid
from typing import Any

import asyncpg

from bench import drive
from bench.procs import TMP, Proc, free_port, machine_cpu, python_module
from bench.scenarios import Context, log, storm_spec
from bench.stats import agg, dist


async def phase_floors(ctx: Context, tokens: list[list[str]]) -> dict[str, Any]:
    conn = await asyncpg.connect(ctx.dsn)
    round_id = uuid.uuid4()
    try:
        from bench.floor_server import DDL
        await conn.execute(DDL)
        await conn.execute("INSERT INTO floor.rounds (id) VALUES ($1)", round_id)
        max_conn = int(await conn.fetchval("SHOW max_connections"))
        in_use = int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity"))
    finally:
        await conn.close()
    port = free_port()
    floor = Proc("floor-a", python_module("bench.floor_server"),
                 {"DATABASE_URL": ctx.dsn, "HTTP_PORT": str(port)}, port).start()
    ctx.others["floor-a"] = floor
    out: dict[str, Any] = {"a": {}, "b": {}}
    try:
        await floor.wait_http()
        for c in ctx.cfg.concurrency:
            runs = []
            for rep in range(ctx.cfg.reps):
                spec = storm_spec(ctx, [floor.url], f"/v1/rounds/{round_id}/bids", tokens, c,
                                  {"floor-a": [floor.pid]}, seed=rep + c)
                r = await drive.load(ctx, f"floor-a-c{c}-r{rep}", spec)
                r["cpu_cores"]["service"] = r["cpu_cores"].get("floor-a", 0)
                known = sum(r["cpu_cores"].get(k, 0) for k in ("loadgen", "postgres", "service"))
                r["cpu_cores"]["other"] = round(r["cpu_cores"]["machine_busy"] - known, 3)
                runs.append(r)
                log(f"floor (a) C={c} rep {rep + 1}: {r['accepted_per_s']:.0f}/s, "
                    f"p99 {r['latency_ms']['p99']} ms")
            out["a"][str(c)] = drive.summarize(runs)
    finally:
        ctx.record_rss("floors")
        floor.stop()
    # (b) pgbench: the same INSERT with no HTTP and no Python at all.
    pgbench = _pgbench_path()
    if pgbench is None:
        out["b"] = {"skipped": "pgbench not found"}
        return out
    headroom = max(1, max_conn - in_use - 20)
    for c in ctx.cfg.concurrency:
        clients = min(c, ctx.cfg.pgbench_max_clients, headroom)
        runs = []
        for rep in range(ctx.cfg.reps):
            r = await asyncio.to_thread(_run_pgbench, ctx, pgbench, round_id, clients,
                                        f"c{c}-r{rep}")
            runs.append(r)
            log(f"floor (b) pgbench -c {clients} rep {rep + 1}: {r['tps']:.0f} tps, "
                f"p99 {r['latency_ms']['p99']} ms")
        out["b"][str(c)] = {
            "clients": clients, "requested_clients": c,
            "note": None if clients == c else
            f"-c {clients}, not {c}: max_connections={max_conn} on a shared server",
            "tps": agg(r["tps"] for r in runs),
            "latency_ms": {k: agg(r["latency_ms"][k] for r in runs)
                           for k in ("p50", "p90", "p99", "max")},
            "cpu_cores": {k: agg(r["cpu_cores"][k] for r in runs)
                          for k in runs[0]["cpu_cores"]},
            "raw": runs,
        }
    return out


def _pgbench_path() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    return candidates[-1] if candidates else None


def _run_pgbench(ctx: Context, pgbench: str, round_id: uuid.UUID, clients: int,
                 label: str) -> dict[str, Any]:
    script = TMP / "pgbench-insert.sql"
    script.write_text(
        "\\set amt random(1, 50000000)\n"
        "INSERT INTO floor.bids (id, round_id, supplier_id, amount, submitted_at)"
        f" VALUES (gen_random_uuid(), '{round_id}', gen_random_uuid(), :amt / 100.0,"
        " clock_timestamp());\n")
    logdir = TMP / f"pgbench-{label}"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    seconds = round(ctx.cfg.warmup + ctx.cfg.duration)
    argv = [pgbench, "-n", "-h", "127.0.0.1", "-U", "postgres", "-c", str(clients),
            "-j", "2", "-T", str(seconds), "-f", str(script), "-l",
            "--log-prefix", str(logdir / "tx"), ctx.database]
    m0 = machine_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=logdir)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    m1 = machine_cpu()
    text = proc.stdout.read().decode() if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed: {text[-2000:]}")
    # Per-transaction log: client tx_no latency_us script_no epoch_s epoch_us.
    rows: list[tuple[float, float]] = []
    for path in logdir.glob("tx*"):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6:
                rows.append((int(parts[4]) + int(parts[5]) / 1e6, int(parts[2]) / 1e6))
    start = min(t for t, _ in rows)
    kept = sorted(lat for t, lat in rows if t - lat >= start + ctx.cfg.warmup)
    window = max(t for t, _ in rows) - (start + ctx.cfg.warmup)
    d = dist(kept)
    return {"clients": clients, "tps": len(kept) / window if window > 0 else 0.0,
            "transactions": len(kept),
            "latency_ms": {k: round(d[k] * 1000, 2) for k in ("p50", "p90", "p99", "max")},
            "cpu_cores": {"pgbench": round((usage.ru_utime + usage.ru_stime) / wall, 3),
                          "machine_busy": round((m1[0] - m0[0]) / wall, 3)},
            "summary": [ln for ln in text.splitlines() if ln.startswith(("tps", "latency"))]}
