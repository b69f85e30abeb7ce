"""The measurements' shared setup (Config, Context, launch, the load generator), and the
close to award, timer lateness and scale of state phases; the bid storm is in
bench/storm.py, its floors in bench/floors.py. Each returns plain data for the results file."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench import profile
from bench.feed import (
    FinanceTap,
    Member,
    Pool,
    PoolFeed,
    copy_eligibility,
    make_members,
    wait_eligible,
)
from bench.loadgen import cpu_delta, cpu_snapshot
from bench.procs import ROOT, TMP, Proc, free_port, python_module
from bench.stats import agg, dist
from bidding_service.bids.sealed import Sealer, bid_ad
from shared.auth import Role, mint_token

RESULTS = ROOT / "bench" / "results"


@dataclass
class Config:
    quick: bool
    duration: float
    warmup: float
    reps: int
    concurrency: tuple[int, ...]
    storm_suppliers: int
    bad_share: float
    close_sizes: tuple[int, ...]
    close_reps: int
    timer_open: int
    timer_closing: int
    timer_stagger_ms: float
    timer_reps: int
    scale_sizes: tuple[int, ...]
    scale_reps: int
    pgbench_max_clients: int
    profile: bool
    phases: tuple[str, ...]
    # Pools up to this size are fed as events; larger ones are COPY-loaded.
    events_max: int = 1000
    # The storm's load generator: "wrk" or "python" (bench/drive.py).
    loadgen: str = "python"


@dataclass
class Context:
    cfg: Config
    admin_dsn: str
    dsn: str
    database: str
    amqp_url: str
    names: dict[str, str]
    secret: str
    http: aiohttp.ClientSession
    center: dict[str, str]
    feed: PoolFeed
    finance: FinanceTap
    bidding: list[Proc]
    others: dict[str, Proc] = field(default_factory=dict)
    rss: dict[str, dict[str, int | None]] = field(default_factory=dict)
    # The bidding processes' BID_ENCRYPTION_KEY: the close scenario seals its bids with it.
    bid_key: bytes = field(default_factory=lambda: os.urandom(32))
    notes: list[str] = field(default_factory=list)

    def service_env(self, port: int) -> dict[str, str]:
        return {
            "DATABASE_URL": self.dsn, "AMQP_URL": self.amqp_url,
            "EVENTS_EXCHANGE": self.names["exchange"],
            "FINANCE_QUEUE": self.names["finance"],
            "POOL_EVENTS_QUEUE": self.names["pool_events"],
            "AWARDS_QUEUE": self.names["awards"],
            "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(port), "METRICS_PORT": str(free_port()),
            # A throwaway local run: development keys are fine (trust.md 1).
            "DEV_MODE": "true",
            "JWT_SECRET": self.secret, "ROUND_MIN_DURATION_SECONDS": "1",
            "BID_RATE_PER_SECOND": "1000000", "BID_RATE_BURST": "1000000",
            "LOG_LEVEL": "warning",
            "BID_ENCRYPTION_KEY": base64.b64encode(self.bid_key).decode(),
        }

    def record_rss(self, phase: str) -> None:
        procs = {p.name: p for p in self.bidding} | self.others
        self.rss[phase] = {name: p.hwm_kb() for name, p in procs.items()}


# ---------------------------------------------------------------- helpers


def supplier_token(ctx: Context, m: Member) -> str:
    return mint_token(ctx.secret, Role.SUPPLIER, sub=f"supplier-{m.id}", supplier_id=m.id,
                      ttl_seconds=4 * 3600)


async def launch(ctx: Context, base: str, pool: Pool, closes_at: datetime,
                 min_bids: int = 3, ceiling: str = "500000.00") -> tuple[dict[str, Any], float]:
    body = {"pool_id": str(pool.id), "title": "压测 bid storm round",
            "description": "bench", "buyer": {"org": "BENCH-ORG", "name": "压测采购单位"},
            "budget_line": "2026-BENCH-0001", "ceiling_price": ceiling,
            "closes_at": closes_at.isoformat(), "min_bids": min_bids,
            "sme_price_deduction": "0.10"}
    t0 = time.perf_counter()
    async with ctx.http.post(f"{base}/v1/rounds", json=body, headers=ctx.center) as r:
        data = await r.json(loads=orjson.loads)
        elapsed = time.perf_counter() - t0
        if r.status != 201:
            raise RuntimeError(f"launch failed: {r.status} {data}")
    return data, elapsed


async def cancel(ctx: Context, base: str, round_id: str) -> None:
    async with ctx.http.post(f"{base}/v1/rounds/{round_id}/cancel", json={"reason": "bench"},
                             headers=ctx.center) as r:
        if r.status != 200:
            ctx.notes.append(f"cancel {round_id}: {r.status} {await r.text()}")


async def run_loadgen(ctx: Context, label: str, spec: dict[str, Any]) -> dict[str, Any]:
    spec_path = TMP / f"loadgen-{label}.json"
    out_path = TMP / f"loadgen-{label}.out.json"
    spec_path.write_bytes(orjson.dumps(spec))
    proc = await asyncio.create_subprocess_exec(
        *python_module("bench.loadgen", str(spec_path), str(out_path)), cwd=ROOT)
    rc = await proc.wait()
    if rc != 0:
        raise RuntimeError(f"load generator failed ({rc}) for {label}")
    result: dict[str, Any] = orjson.loads(out_path.read_bytes())
    return result


def storm_spec(ctx: Context, targets: list[str], path: str, suppliers: list[list[str]],
               concurrency: int, watch: dict[str, list[int]], seed: int) -> dict[str, Any]:
    return {"targets": targets, "path": path, "suppliers": suppliers,
            "concurrency": concurrency, "duration": ctx.cfg.duration,
            "warmup": ctx.cfg.warmup, "bad_share": ctx.cfg.bad_share,
            "ceiling_cents": 50_000_000, "watch": watch, "admin_dsn": ctx.admin_dsn,
            "database": ctx.database, "seed": seed}


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    reasons = sorted({k for r in runs for k in r.get("refused_per_s", {})})
    errors = sorted({k for r in runs for k in r.get("errors", {})})
    cores = sorted({k for r in runs for k in r.get("cpu_cores", {})})
    return {
        "runs": len(runs),
        "accepted_per_s": agg(r["accepted_per_s"] for r in runs),
        "requests_per_s": agg(r["requests_per_s"] for r in runs),
        "refused_per_s": {k: agg(r.get("refused_per_s", {}).get(k, 0) for r in runs)
                          for k in reasons},
        "errors": {k: agg(r.get("errors", {}).get(k, 0) for r in runs) for k in errors},
        "latency_ms": {k: agg(r["latency_ms"][k] for r in runs)
                       for k in ("p50", "p90", "p99", "max")},
        "cpu_cores": {k: agg(r["cpu_cores"].get(k) for r in runs) for k in cores},
        "pg_waits": {k: agg(r.get("pg_waits", {}).get(k, 0) for r in runs)
                     for k in sorted({k for r in runs for k in r.get("pg_waits", {})})
                     if not k.startswith("_")},
        # Contention-proof view: answers per core-second the server side actually got.
        "per_service_core": agg(_ratio(r["accepted_per_s"], r["cpu_cores"].get("service"))
                                for r in runs),
        "server_cpu_ms_per_request": agg(
            _ratio(1000 * (r["cpu_cores"].get("service", 0) + r["cpu_cores"].get("postgres", 0)),
                   r["requests_per_s"]) for r in runs),
        "raw": runs,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True,
                          cwd=ROOT).stdout.strip()


def _pyspy_path() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


# ---------------------------------------------------------------- 3. close to award


ROUND_INSERT = """
INSERT INTO rounds (id, pool_id, pool_code, pool_name, title, description, buyer_org,
    buyer_name, budget_line, ceiling_price, opens_at, closes_at,
    min_bids, sme_price_deduction, disclosure, acceptance_seconds, status, invited_count,
    launched_by)
VALUES ($1, $2, 'bench-close', '压测预选库', '压测 close round', 'bench', 'BENCH-ORG',
    '压测采购单位', '2026-BENCH-0002', 500000.00, clock_timestamp() - interval '1 minute',
    clock_timestamp() + interval '1 hour', 3, 0.10,
    'sealed', 259200, 'open', $3, 'bench')
"""


async def load_closing_round(conn: asyncpg.Connection, n: int, seed: int, bid_key: bytes,
                             ) -> uuid.UUID:
    """A round with n invited suppliers each holding one valid bid (sealed under the
    service's BID_ENCRYPTION_KEY, with its actor, as the bid path stores it: the close
    appends each bid's audit entry to the chain), loaded with COPY."""
    sealer = Sealer(bid_key)
    rng = random.Random(seed)
    round_id = uuid.uuid4()
    now = datetime.now(UTC)
    members = make_members(n, seed=seed)
    inv = []
    bids = []
    for m in members:
        bid_id = uuid.uuid4()
        amount = Decimal(rng.randint(10_000_000, 50_000_000)) / 100
        at = now - timedelta(seconds=rng.uniform(1, 50))
        sealed = sealer.seal_amount(amount, bid_ad(round_id, m.id, bid_id))
        inv.append((round_id, m.id, m.name, m.credit_code, m.kind, m.size, "invited", bid_id,
                    sealed, at))
        bids.append((bid_id, round_id, m.id, sealed, at, True, f"supplier-{m.id}"))
    async with conn.transaction():
        await conn.execute(ROUND_INSERT, round_id, uuid.uuid4(), n)
        await conn.copy_records_to_table(
            "invitations", records=inv,
            columns=["round_id", "supplier_id", "name", "credit_code", "kind", "size",
                     "status", "last_bid_id", "last_amount_ct", "last_bid_at"])
        await conn.copy_records_to_table(
            "bids", records=bids,
            columns=["id", "round_id", "supplier_id", "amount_ct", "submitted_at", "valid",
                     "actor"])
    return round_id


async def _outbox_times(conn: asyncpg.Connection, round_id: uuid.UUID, within_s: float,
                        ) -> dict[str, Any]:
    """closed_at (from round.closed) and the award.published row's created/published_at."""
    # Match the award's row by subject (the award id): no big jsonb is read while polling.
    deadline = time.monotonic() + within_s
    while True:
        rows = await conn.fetch(
            "SELECT o.seq, o.type, o.created_at, o.published_at FROM outbox o"
            " WHERE (o.type = 'round.closed' AND o.subject = $1::text)"
            "    OR (o.type = 'award.published' AND o.subject IN"
            "        (SELECT a.id::text FROM awards a WHERE a.round_id = $1::uuid AND a.rank = 1))",
            str(round_id))
        by = {r["type"]: dict(r) for r in rows}
        award = by.get("award.published")
        if (award and award["published_at"] is not None and "round.closed" in by) \
                or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    for value in by.values():
        extra = await conn.fetchrow(
            "SELECT envelope->'data'->>'closed_at' AS closed_at,"
            " octet_length(envelope::text) AS size FROM outbox WHERE seq = $1", value["seq"])
        value.update(dict(extra) if extra else {})
    return by


async def phase_close(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"shape": "N invited suppliers, one valid bid each (N bidders)",
                           "by_n": {}}
    profiled = ctx.cfg.profile and _pyspy_path() is not None
    conn = await asyncpg.connect(ctx.dsn, server_settings={"search_path": "bidding"})
    try:
        for n in ctx.cfg.close_sizes:
            runs = []
            for rep in range(ctx.cfg.close_reps):
                t_load = time.perf_counter()
                round_id = await load_closing_round(conn, n, seed=1000 * rep + n,
                                                    bid_key=ctx.bid_key)
                load_s = time.perf_counter() - t_load
                spy = None
                if profiled and n == max(ctx.cfg.close_sizes) and rep == ctx.cfg.close_reps - 1:
                    spy = await _start_pyspy(ctx.bidding[0].pid, f"profile-close-{n}")
                pids = {"service": [ctx.bidding[0].pid],
                        "postgres": [r["pid"] for r in await conn.fetch(
                            "SELECT pid FROM pg_stat_activity WHERE datname = $1",
                            ctx.database)]}
                cpu0 = cpu_snapshot(pids)
                closes_at = await conn.fetchval(
                    "UPDATE rounds SET closes_at = clock_timestamp() + interval '1 second'"
                    " WHERE id = $1 RETURNING closes_at", round_id)
                arrived = await ctx.finance.wait_for("award.published", round_id, 60 + n / 500)
                cpu = cpu_delta(cpu0, cpu_snapshot(pids))
                if spy is not None:
                    out["profile"] = await _stop_pyspy(spy, f"profile-close-{n}")
                by = await _outbox_times(conn, round_id, within_s=30)
                run = _close_figures(closes_at, by, arrived)
                # CPU spent from 1 s before closes_at to the award's arrival: whose work is it?
                run["service_cpu_ms"] = round(cpu.get("service", 0) * 1000)
                run["postgres_cpu_ms"] = round(cpu.get("postgres", 0) * 1000)
                run["n"] = n
                run["load_s"] = round(load_s, 2)
                runs.append(run)
                log(f"close N={n} rep {rep + 1}: confirmed +{run['confirmed_ms']} ms, "
                    f"received +{run['received_ms']} ms (event {run['event_bytes']} B)")
            out["by_n"][str(n)] = {
                k: agg(r[k] for r in runs)
                for k in ("lateness_ms", "written_ms", "confirmed_ms", "received_ms",
                          "event_bytes", "service_cpu_ms", "postgres_cpu_ms")} | {"raw": runs}
    finally:
        await conn.close()
    return out


async def _start_pyspy(pid: int, stem: str) -> asyncio.subprocess.Process:
    pyspy = _pyspy_path()
    assert pyspy is not None
    proc = await asyncio.create_subprocess_exec(
        pyspy, "record", "--pid", str(pid), "--rate", "200",
        "--format", "raw", "--output", str(RESULTS / f"{stem}.collapsed.txt"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await asyncio.sleep(0.5)  # let it attach before the work starts
    return proc


async def _stop_pyspy(proc: asyncio.subprocess.Process, stem: str) -> dict[str, Any]:
    proc.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(proc.wait(), 30)
    except TimeoutError:
        proc.kill()
        return {"skipped": "py-spy did not stop"}
    raw = RESULTS / f"{stem}.collapsed.txt"
    if not raw.exists():
        return {"skipped": "py-spy wrote nothing"}
    summary = profile.analyse(raw, profile.CLOSE_GROUPS)
    (RESULTS / f"{stem}.top.txt").write_text(profile.render_text(summary))
    return {"samples": summary["samples"], "groups": summary["groups"],
            "top_inclusive": summary["inclusive"][:25], "top_self": summary["self"][:25]}


def _close_figures(closes_at: datetime, by: dict[str, Any], arrived: float | None,
                   ) -> dict[str, Any]:
    def ms(t: datetime | None) -> float | None:
        return None if t is None else round((t - closes_at).total_seconds() * 1000, 1)

    closed = by.get("round.closed")
    award = by.get("award.published")
    closed_at = datetime.fromisoformat(closed["closed_at"]) if closed else None
    return {
        "lateness_ms": ms(closed_at),
        "written_ms": ms(award["created_at"]) if award else None,
        "confirmed_ms": ms(award["published_at"]) if award else None,
        "received_ms": None if arrived is None else
        round((arrived - closes_at.timestamp()) * 1000, 1),
        "event_bytes": award["size"] if award else None,
    }


# ---------------------------------------------------------------- timer lateness


async def phase_timer(ctx: Context) -> dict[str, Any]:
    base = ctx.bidding[0].url
    members = make_members(5, seed=5)
    pool = await ctx.feed.pool(code="bench-timer")
    await ctx.feed.admit(pool, members)
    await wait_eligible(ctx.http, base, ctx.center, pool.id, len(members))
    tokens = [{"Authorization": f"Bearer {supplier_token(ctx, m)}"} for m in members]
    sem = asyncio.Semaphore(16)

    async def one_launch(closes_at: datetime) -> str:
        async with sem:
            data, _ = await launch(ctx, base, pool, closes_at)
            return str(data["id"])

    async def three_bids(round_id: str) -> None:
        async with sem:
            for i, h in enumerate(tokens[:3]):
                async with ctx.http.post(f"{base}/v1/rounds/{round_id}/bids",
                                         json={"amount": f"{90000 + i * 100}.00"},
                                         headers=h) as r:
                    if r.status != 201:
                        ctx.notes.append(f"timer bid refused: {r.status}")

    background = ctx.cfg.timer_open - ctx.cfg.timer_closing
    far = datetime.now(UTC) + timedelta(hours=2)
    t0 = time.perf_counter()
    await asyncio.gather(*(one_launch(far) for _ in range(background)))
    launch_rate = background / (time.perf_counter() - t0) if background else 100.0
    out: dict[str, Any] = {"open_rounds": ctx.cfg.timer_open, "closing": ctx.cfg.timer_closing,
                           "stagger_ms": ctx.cfg.timer_stagger_ms,
                           "background_launch_per_s": round(launch_rate, 1), "waves": []}
    conn = await asyncpg.connect(ctx.dsn, server_settings={"search_path": "bidding"})
    all_late: list[float] = []
    all_confirm: list[float] = []
    all_work: list[float] = []
    try:
        for rep in range(ctx.cfg.timer_reps):
            n = ctx.cfg.timer_closing
            # Time to launch and bid the wave, with a margin, before the first close.
            lead = 2.0 + 3.0 * n / max(launch_rate, 1.0)
            start = datetime.now(UTC) + timedelta(seconds=lead)
            step = timedelta(milliseconds=ctx.cfg.timer_stagger_ms)
            ids = await asyncio.gather(*(one_launch(start + i * step) for i in range(n)))
            await asyncio.gather(*(three_bids(r) for r in ids))
            margin = (start - datetime.now(UTC)).total_seconds()
            end = start + n * step
            await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 2)
            rows = await _wave_rows(conn, ids, within_s=30)
            late = [r["late"] for r in rows if r["late"] is not None]
            confirm = [r["confirm"] for r in rows if r["confirm"] is not None]
            work = [r["work"] for r in rows if r["work"] is not None]
            all_work += work
            all_late += late
            all_confirm += confirm
            d = dist(late)
            dc = dist(confirm)
            out["waves"].append({
                "rounds": n, "closed": len(late), "awarded_confirmed": len(confirm),
                "loaded_with_margin_s": round(margin, 2),
                "lateness_ms": {k: _ms(d[k]) for k in ("p50", "p90", "p99", "max")},
                "award_confirmed_ms": {k: _ms(dc[k]) for k in ("p50", "p90", "p99", "max")}})
            log(f"timer wave {rep + 1}: lateness p50 {_ms(d['p50'])} p99 {_ms(d['p99'])} ms "
                f"(loaded {margin:.1f} s early)")
    finally:
        await conn.close()
    d = dist(all_late)
    dc = dist(all_confirm)
    out["lateness_ms"] = {k: _ms(d[k]) for k in ("p50", "p90", "p99", "max")} | {"n": d["n"]}
    out["lateness_p99_per_wave"] = agg(w["lateness_ms"]["p99"] for w in out["waves"])
    out["lateness_p50_per_wave"] = agg(w["lateness_ms"]["p50"] for w in out["waves"])
    out["award_confirmed_ms"] = {k: _ms(dc[k]) for k in ("p50", "p90", "p99", "max")}
    dw = dist(all_work)
    # One close's own work: round.closed's closed_at to the award's outbox row.
    out["close_work_ms"] = {k: _ms(dw[k]) for k in ("p50", "p90", "p99", "max")}
    return out


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 1)


async def _wave_rows(conn: asyncpg.Connection, ids: list[str], within_s: float,
                     ) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within_s
    while True:
        rows = await conn.fetch(
            """
            SELECT r.id, r.closes_at, c.envelope->'data'->>'closed_at' AS closed_at,
                   a.created_at AS award_written, a.published_at
              FROM rounds r
              LEFT JOIN outbox c ON c.type = 'round.closed' AND c.subject = r.id::text
              LEFT JOIN awards aw ON aw.round_id = r.id AND aw.rank = 1
              LEFT JOIN outbox a ON a.type = 'award.published' AND a.subject = aw.id::text
             WHERE r.id = ANY($1::uuid[])
            """, ids)
        done = all(r["published_at"] is not None for r in rows)
        if done or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    out = []
    for r in rows:
        closed = datetime.fromisoformat(r["closed_at"]) if r["closed_at"] else None
        out.append({
            "work": None if closed is None or r["award_written"] is None else
            (r["award_written"] - closed).total_seconds(),
            "late": None if closed is None else (closed - r["closes_at"]).total_seconds(),
            "confirm": None if r["published_at"] is None else
            (r["published_at"] - r["closes_at"]).total_seconds()})
    return out


# ---------------------------------------------------------------- 4. scale of state


async def phase_scale(ctx: Context) -> dict[str, Any]:
    base = ctx.bidding[0].url
    out: dict[str, Any] = {"by_n": {}, "pool_service": None}
    pools: dict[int, Pool] = {}
    conn = await asyncpg.connect(ctx.dsn, server_settings={"search_path": "bidding"})
    try:
        await _scale_bidding(ctx, conn, base, out, pools)
    finally:
        await conn.close()
    out["pool_service"] = await _pool_service_members(ctx)
    return out


async def wait_pool(conn: asyncpg.Connection, pool_id: uuid.UUID, within_s: float = 30,
                    ) -> None:
    deadline = time.monotonic() + within_s
    while not await conn.fetchval("SELECT true FROM pools WHERE pool_id = $1", pool_id):
        if time.monotonic() > deadline:
            raise TimeoutError(f"pool.created for {pool_id} not applied")
        await asyncio.sleep(0.05)


async def _scale_bidding(ctx: Context, conn: asyncpg.Connection, base: str,
                         out: dict[str, Any], pools: dict[int, Pool]) -> None:
    for n in ctx.cfg.scale_sizes:
        members = make_members(n, seed=100 + n)
        pool = await ctx.feed.pool(code=f"bench-scale-{n}")
        via = "events" if n <= ctx.cfg.events_max else "copy"
        t0 = time.perf_counter()
        if via == "events":
            await ctx.feed.admit(pool, members)
        else:
            # Bulk: wait for pool.created to land, then COPY the eligibility copy.
            await wait_pool(conn, pool.id)
            t0 = time.perf_counter()
            await copy_eligibility(conn, pool, members)
        applied = await wait_eligible(ctx.http, base, ctx.center, pool.id, n,
                                      within_s=60 + n / 20)
        ingest = time.perf_counter() - t0
        pools[n] = pool
        launches, eligible, sizes = [], [], []
        for _rep in range(ctx.cfg.scale_reps):
            closes_at = datetime.now(UTC) + timedelta(hours=1)
            rnd, elapsed = await launch(ctx, base, pool, closes_at)
            launches.append(elapsed * 1000)
            await cancel(ctx, base, rnd["id"])
            t1 = time.perf_counter()
            async with ctx.http.get(f"{base}/v1/pools/{pool.id}/eligible",
                                    headers=ctx.center) as r:
                body = await r.read()
            eligible.append((time.perf_counter() - t1) * 1000)
            sizes.append(len(body))
        out["by_n"][str(n)] = {
            "ingest_via": via,
            "ingest_s": round(ingest, 2), "ingest_per_s": round(n / ingest, 1),
            "applied_wait_s": round(applied, 2),
            "launch_ms": agg(launches), "eligible_ms": agg(eligible),
            "eligible_bytes": sizes[-1] if sizes else None}
        log(f"scale N={n}: ingest ({via}) {n / ingest:.0f}/s, launch "
            f"{agg(launches)['median']:.0f} ms, eligible {agg(eligible)['median']:.0f} ms")


async def _pool_service_members(ctx: Context) -> dict[str, Any]:
    head = await asyncio.to_thread(git, "log", "-1", "--format=%h %s", "--", "pool_service")
    port = free_port()
    proc = Proc("pool-service", python_module("pool_service"), ctx.service_env(port), port)
    ctx.others["pool-service"] = proc
    out: dict[str, Any] = {"git": head, "by_n": {}}
    try:
        proc.start()
        await proc.wait_serving(ctx.notes)
    except (RuntimeError, TimeoutError) as exc:
        out["skipped"] = f"pool service did not start: {str(exc)[-400:]}"
        proc.stop()
        return out
    conn = await asyncpg.connect(ctx.dsn, server_settings={"search_path": "pool"})
    try:
        for n in ctx.cfg.scale_sizes:
            try:
                pool_id = await _pool_service_pool(ctx, proc.url, conn, n)
            except Exception as exc:  # the service is still being finished: say what broke
                out["by_n"][str(n)] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                continue
            first, walk, pages = [], [], 0
            for _rep in range(ctx.cfg.scale_reps):
                t0 = time.perf_counter()
                async with ctx.http.get(f"{proc.url}/v1/pools/{pool_id}/members?limit=200",
                                        headers=ctx.center) as r:
                    if r.status != 200:
                        raise RuntimeError(f"members: {r.status} {await r.text()}")
                    await r.read()
                first.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                cursor: str | None = None
                pages = 0
                seen = 0
                while True:
                    q = f"?limit=200&cursor={cursor}" if cursor else "?limit=200"
                    async with ctx.http.get(f"{proc.url}/v1/pools/{pool_id}/members{q}",
                                            headers=ctx.center) as r:
                        data = await r.json(loads=orjson.loads)
                    pages += 1
                    seen += len(data["items"])
                    cursor = data.get("next_cursor")
                    if not cursor:
                        break
                walk.append((time.perf_counter() - t0) * 1000)
            out["by_n"][str(n)] = {"first_page_ms": agg(first), "full_list_ms": agg(walk),
                                   "pages": pages, "members_listed": seen}
            log(f"pool service members N={n}: first page {agg(first)['median']:.0f} ms, "
                f"all {pages} pages {agg(walk)['median']:.0f} ms")
    finally:
        await conn.close()
        ctx.record_rss("scale")
        proc.stop()
    return out


async def _pool_service_pool(ctx: Context, base: str, conn: asyncpg.Connection, n: int,
                             ) -> str:
    """A pool created over the pool service's API, its N members loaded with COPY."""
    today = datetime.now(UTC).date()
    body = {"code": f"bench-members-{n}-{uuid.uuid4().hex[:6]}", "name": f"压测预选库 {n}",
            "category": "public_service", "jurisdiction": "city",
            "valid_from": str(today - timedelta(days=1)),
            "valid_to": str(today + timedelta(days=365)),
            "price_ceiling": "1000000.00", "max_round_budget": "500000.00"}
    async with ctx.http.post(f"{base}/v1/pools", json=body, headers=ctx.center) as r:
        data = await r.json(loads=orjson.loads)
        if r.status != 201:
            raise RuntimeError(f"create pool: {r.status} {data}")
    pool_id = uuid.UUID(data["id"])
    members = make_members(n, seed=500 + n)
    now = datetime.now(UTC)
    async with conn.transaction():
        await conn.copy_records_to_table(
            "suppliers", records=[(m.id, m.name, m.credit_code, m.kind, m.size)
                                  for m in members],
            columns=["id", "name", "credit_code", "kind", "size"])
        ms = [(uuid.uuid4(), m) for m in members]
        await conn.copy_records_to_table(
            "memberships", records=[(mid, pool_id, m.id, "admitted", now, 1)
                                    for mid, m in ms],
            columns=["id", "pool_id", "supplier_id", "status", "since", "version"])
        await conn.copy_records_to_table(
            "membership_history",
            records=[(mid, 1, pool_id, m.id, "admitted", None, "admitted", "bench", "bench",
                      "procurement_center", now) for mid, m in ms],
            columns=["membership_id", "version", "pool_id", "supplier_id", "action",
                     "from_status", "to_status", "reason", "actor", "actor_role", "at"])
        await conn.execute("UPDATE pools SET admitted_count = $2, peak_admitted_count = $2"
                           " WHERE id = $1", pool_id, n)
    return str(pool_id)


# ---------------------------------------------------------------- logging


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def dumps(data: Any) -> bytes:
    def default(v: Any) -> Any:
        if isinstance(v, (Pool, Member)):
            return None
        if isinstance(v, (uuid.UUID, Decimal, datetime)):
            return str(v)
        raise TypeError(type(v).__name__)
    return orjson.dumps(data, default=default, option=orjson.OPT_INDENT_2 |
                        orjson.OPT_NON_STR_KEYS)

