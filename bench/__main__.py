"""`python -m bench [--quick] [--phases ...]`: start everything, measure, write results.

Creates a throwaway database (via the postgres admin DSN) and broker names of its own,
starts the bidding service as real processes (`python -m bidding_service`), runs the
phases, writes bench/results/<stamp>.json and .md (and latest.*), prints the table,
and drops what it created.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import traceback
import uuid
from typing import Any

import aio_pika
import aiohttp
import asyncpg

from bench import drive, floors, peak, ratios, report, scenarios, storm, wrk
from bench.feed import FinanceTap, PoolFeed
from bench.procs import (
    ROOT,
    Proc,
    busiest,
    free_port,
    machine_state,
    python_module,
    set_log_dir,
)
from bench.scenarios import RESULTS, Config, Context, dumps, log
from shared.auth import Role, mint_token

PHASES = ("storm", "floors", "processes", "profile", "peak", "close", "timer", "scale")


def config(args: argparse.Namespace) -> Config:
    phases = tuple(p.strip() for p in args.phases.split(",")) if args.phases else PHASES
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}; known: {PHASES}")
    if args.quick:
        cfg = Config(quick=True, duration=3, warmup=0.5, reps=1, concurrency=(50, 200),
                     storm_suppliers=1000, bad_share=0.02, close_sizes=(1000, 2000, 10_000),
                     close_reps=1, timer_open=1000, timer_closing=50, timer_stagger_ms=40,
                     timer_reps=1, scale_sizes=(100, 1000), scale_reps=1,
                     pgbench_max_clients=50, profile=not args.no_profile, phases=phases)
    else:
        cfg = Config(quick=False, duration=10, warmup=1.5, reps=3, concurrency=(50, 200),
                     storm_suppliers=1000, bad_share=0.02,
                     close_sizes=(1000, 2000, 10_000, 100_000), close_reps=3, timer_open=5000,
                     timer_closing=200, timer_stagger_ms=50, timer_reps=3,
                     scale_sizes=(100, 1000, 10_000), scale_reps=3, pgbench_max_clients=50,
                     profile=not args.no_profile, phases=phases)
    if args.duration:
        cfg.duration = args.duration
    if args.reps:
        cfg.reps = args.reps
        cfg.close_reps = args.reps
        cfg.timer_reps = args.reps
        cfg.scale_reps = args.reps
    if args.concurrency:
        cfg.concurrency = tuple(int(c) for c in args.concurrency.split(","))
    cfg.loadgen = drive.choose(args.loadgen, wrk.find())
    return cfg


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = config(args)
    started = time.time()
    run_id = uuid.uuid4().hex[:8]
    database = f"bench_{run_id}"
    admin = args.admin_dsn
    base, _, _ = admin.rpartition("/")
    dsn = f"{base}/{database}"
    names = {"exchange": f"bench.{run_id}.events", "finance": f"bench.{run_id}.finance.awards",
             "pool_events": f"bench.{run_id}.bidding.pool-events",
             "awards": f"bench.{run_id}.pool.awards"}
    secret = "bench-secret-" + uuid.uuid4().hex
    set_log_dir(run_id)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(started)),
        "git": await asyncio.to_thread(git_describe),
        "config": cfg.__dict__, "machine": {"before": machine_state()}, "errors": {},
        "loadgen": load_generator(cfg, args.loadgen),
    }
    log(f"run {run_id}: database {database}, exchange {names['exchange']}, "
        f"phases {','.join(cfg.phases)}; storm load generator: "
        f"{results['loadgen']['description']}")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()

    bidding: list[Proc] = []
    ctx: Context | None = None
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64),
                                 timeout=aiohttp.ClientTimeout(total=120))
    try:
        port = free_port()
        env = {"DATABASE_URL": dsn, "LOG_LEVEL": "warning", "DEV_MODE": "true"}
        migrate = await asyncio.to_thread(
            subprocess.run, python_module("bidding_service", "migrate"),
            env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True)
        if migrate.returncode != 0:
            raise RuntimeError(f"bidding migrate failed: {migrate.stdout}{migrate.stderr}")
        ctx = Context(cfg=cfg, admin_dsn=admin, dsn=dsn, database=database,
                      amqp_url=args.amqp_url, names=names, secret=secret, http=http,
                      center={"Authorization": "Bearer " + mint_token(
                          secret, Role.PROCUREMENT_CENTER, sub="bench-center",
                          ttl_seconds=4 * 3600)},
                      feed=PoolFeed(args.amqp_url, names["exchange"]),
                      finance=FinanceTap(args.amqp_url, names["finance"]), bidding=bidding)
        first = Proc("bidding-1", python_module("bidding_service"), ctx.service_env(port),
                     port).start()
        bidding.append(first)
        await first.wait_http("/readyz", within_s=180)
        await ctx.feed.start()
        await ctx.finance.start()
        ctx.record_rss("start")
        watcher = asyncio.create_task(watch_machine(ctx, results))
        try:
            await phases(ctx, results)
        finally:
            watcher.cancel()
    finally:
        if ctx is not None:
            ctx.record_rss("end")
            if ctx.finance.reconnects:
                ctx.notes.append(f"the shared RabbitMQ went away and came back "
                                 f"{ctx.finance.reconnects} time(s) during the run")
            results["rss"] = ctx.rss
            results["notes"] = ctx.notes
            for p in bidding:
                p.stop()
            for p in ctx.others.values():
                p.stop()
        results["machine"]["after"] = await asyncio.to_thread(machine_state)
        results["elapsed_s"] = time.time() - started
        results["vs_floor_a"] = ratios.vs_floor_a(results)
        # Results first: nothing below may lose them.
        write_results(results, args)
        if ctx is not None:
            for closing in (ctx.feed.close(), ctx.finance.close()):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(closing, 10)
        await http.close()
        if not args.keep:
            await cleanup(admin, database, args.amqp_url, names)
    return results


def load_generator(cfg: Config, requested: str | None) -> dict[str, Any]:
    """Which generator drives the storm, its version, and the report's line about it."""
    found = wrk.find()
    version = wrk.version(found) if cfg.loadgen == drive.WRK and found else None
    return {"kind": cfg.loadgen, "requested": requested, "version": version,
            "description": drive.describe(cfg.loadgen, requested, version)}


def write_results(results: dict[str, Any], args: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = args.out or time.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    text = report.markdown(results)
    (RESULTS / f"{stem}.json").write_bytes(dumps(results))
    (RESULTS / f"{stem}.md").write_text(text)
    (RESULTS / "latest.json").write_bytes(dumps(results))
    (RESULTS / "latest.md").write_text(text)
    print(text, flush=True)
    log(f"wrote bench/results/{stem}.json and .md")


async def watch_machine(ctx: Context, results: dict[str, Any], every: float = 30.0) -> None:
    """What else the shared machine was doing during the run: load and busiest processes."""
    samples = results["machine"].setdefault("during", [])
    while True:
        mine = {p.pid for p in ctx.bidding + list(ctx.others.values()) if p.proc is not None}
        load = await asyncio.to_thread(lambda: open("/proc/loadavg").read().split()[:3])
        samples.append({"at": time.strftime("%H:%M:%S"), "load": load,
                        "busiest": await asyncio.to_thread(busiest, mine)})
        await asyncio.sleep(every)


def git_describe() -> str:
    """The commit, and "+dirty" when tracked files differ from it (others' work in progress)."""
    head = scenarios.git("log", "-1", "--format=%h")
    dirty = scenarios.git("status", "--porcelain", "--untracked-files=no")
    return head + ("+dirty" if dirty else "")


async def phases(ctx: Context, results: dict[str, Any]) -> None:
    cfg = ctx.cfg
    pool = tokens = None

    async def guarded(name: str, coro: Any) -> Any:
        log(f"phase {name}")
        t0 = time.perf_counter()
        try:
            value = await coro
            ctx.record_rss(name)
            return value
        except Exception as exc:
            results["errors"][name] = f"{type(exc).__name__}: {str(exc)[:500]}"
            traceback.print_exc()
            return None
        finally:
            results.setdefault("phase_seconds", {})[name] = round(time.perf_counter() - t0, 1)

    needs_storm = {"storm", "floors", "processes", "profile"} & set(cfg.phases)
    if needs_storm:
        stormed = await guarded("storm", storm.phase_storm(ctx) if "storm" in cfg.phases
                                else _storm_setup_only(ctx))
        if stormed:
            pool, tokens = stormed.pop("_pool"), stormed.pop("_tokens")
            if "storm" in cfg.phases:
                results["storm"] = stormed
    if "floors" in cfg.phases and tokens:
        results["floors"] = await guarded("floors", floors.phase_floors(ctx, tokens))
    if "processes" in cfg.phases and pool is not None and tokens:
        results["processes"] = await guarded(
            "processes", storm.phase_processes(ctx, pool, tokens))
    if "profile" in cfg.phases and cfg.profile and pool is not None and tokens:
        results["profile"] = await guarded("profile", storm.phase_profile(ctx, pool, tokens))
    if "peak" in cfg.phases:
        results["peak"] = await guarded("peak", peak.phase_peak(ctx))
    if "close" in cfg.phases:
        results["close"] = await guarded("close", scenarios.phase_close(ctx))
    if "scale" in cfg.phases:
        results["scale"] = await guarded("scale", scenarios.phase_scale(ctx))
    if "timer" in cfg.phases:
        results["timer"] = await guarded("timer", scenarios.phase_timer(ctx))


async def _storm_setup_only(ctx: Context) -> dict[str, Any]:
    pool, tokens, ingest = await storm.storm_pool(ctx)
    return {"_pool": pool, "_tokens": tokens, "pool_ingest": ingest}


async def cleanup(admin: str, database: str, amqp_url: str, names: dict[str, str]) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()
    try:
        await asyncio.wait_for(_delete_broker_names(amqp_url, names), 60)
    except Exception as exc:  # best effort: a leftover queue is harmless
        log(f"broker cleanup: {type(exc).__name__}: {exc}")


async def _delete_broker_names(amqp_url: str, names: dict[str, str]) -> None:
    amqp = await aio_pika.connect(amqp_url, timeout=10)
    async with amqp:
        for key in ("finance", "pool_events", "awards"):
            for suffix in ("", ".dlq"):
                # A channel per call: a failed delete closes its channel.
                channel = await amqp.channel()
                try:
                    await channel.queue_delete(names[key] + suffix, timeout=10)
                except (aio_pika.exceptions.AMQPError, TimeoutError):
                    pass
                with contextlib.suppress(Exception):
                    await channel.close()
        channel = await amqp.channel()
        await channel.exchange_delete(names["exchange"], timeout=10)


def main() -> int:
    if sys.argv[1:2] == ["soak"]:  # the long run: its own options (bench/soak.py)
        from bench import soak
        return soak.main(sys.argv[2:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="scaled down: about 2 minutes")
    parser.add_argument("--phases", help=f"comma list of {','.join(PHASES)} (default all)")
    parser.add_argument("--duration", type=float, help="storm seconds per run")
    parser.add_argument("--reps", type=int, help="runs per figure")
    parser.add_argument("--concurrency", help="comma list of C (default 50,200)")
    parser.add_argument("--loadgen", choices=(drive.WRK, drive.PYTHON),
                        help="storm load generator (default: wrk if on PATH, else python)")
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy")
    parser.add_argument("--keep", action="store_true", help="keep the database and queues")
    parser.add_argument("--admin-dsn", default=os.environ.get(
        "BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--amqp-url", default=os.environ.get(
        "BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--out", default=None, help="results file stem (default: timestamp)")
    args = parser.parse_args()
    try:
        import uvloop
        results = uvloop.run(run(args))
    except ImportError:  # pragma: no cover
        results = asyncio.run(run(args))
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
