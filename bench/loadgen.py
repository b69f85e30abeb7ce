"""The bid-storm load generator, run as its own process (`python -m bench.loadgen SPEC OUT`).

C workers share one aiohttp connector (limit=C). Each worker takes a supplier from a
shared queue, submits a bid lower than that supplier's last accepted one, and puts the
supplier back, so no two requests of one supplier are in flight at once (no
self-inflicted conflicts). A share `bad_share` of bids deliberately repeats the
supplier's previous amount, so the refusal path (422 bid-not-lower) is exercised too.

Only requests started inside the measuring window (after `warmup`) count. The
generator reports its own CPU time, and that of the pids it is asked to watch (the
service processes, their PostgreSQL backends) and of the whole machine, over exactly
that window.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench.procs import cpu_seconds, machine_cpu


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


async def pg_backends(admin_dsn: str | None, database: str | None) -> list[int]:
    if not admin_dsn or not database:
        return []
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


async def sample_waits(spec: dict[str, Any], start: float, stop: float,
                       out: dict[str, Any]) -> None:
    """What the database's client backends are doing, sampled every 50 ms: average
    number of backends per state / wait event over the window (pg_stat_activity)."""
    if not spec.get("admin_dsn") or not spec.get("database"):
        return
    conn = await asyncpg.connect(spec["admin_dsn"])
    counts: collections.Counter[str] = collections.Counter()
    samples = 0
    try:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        while time.perf_counter() < stop:
            rows = await conn.fetch(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                " WHERE datname = $1 AND backend_type = 'client backend'", spec["database"])
            samples += 1
            for r in rows:
                if r["state"] == "active":
                    label = (f"{r['wait_event_type']}:{r['wait_event']}"
                             if r["wait_event_type"] else "active (on CPU)")
                else:
                    label = str(r["state"])
                counts[label] += 1
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    out.update({k: round(v / max(samples, 1), 2) for k, v in counts.most_common()})
    out["_samples"] = samples


def cpu_snapshot(pids: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    snap: dict[str, dict[int, float]] = {}
    for label, group in pids.items():
        snap[label] = {}
        for pid in group:
            value = cpu_seconds(pid)
            if value is not None:
                snap[label][pid] = value
    return snap


def cpu_delta(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]],
              ) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, values in after.items():
        start = before.get(label, {})
        out[label] = round(sum(v - start.get(pid, v) for pid, v in values.items()), 3)
    return out


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    targets: list[str] = spec["targets"]
    path: str = spec["path"]
    tokens: list[list[str]] = spec["suppliers"]  # [supplier_id, token]
    concurrency: int = spec["concurrency"]
    duration: float = spec["duration"]
    warmup: float = spec["warmup"]
    bad_share: float = spec.get("bad_share", 0.0)
    decrement = int(spec.get("decrement_cents", 1))
    ceiling = int(spec.get("ceiling_cents", 50_000_000))
    watch: dict[str, list[int]] = {k: list(v) for k, v in spec.get("watch", {}).items()}
    rng = random.Random(spec.get("seed", 1))

    headers = [{"Authorization": f"Bearer {tok}", "Content-Type": "application/json",
                "X-Bench-Supplier": sid} for sid, tok in tokens]
    last: list[int | None] = [None] * len(tokens)
    free = collections.deque(range(len(tokens)))
    rng.shuffle(free)

    latencies: list[float] = []
    outcomes: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + duration
    window: dict[str, Any] = {}
    waits: dict[str, Any] = {}

    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0,
                                     force_close=False, enable_cleanup_closed=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     skip_auto_headers=("User-Agent",),
                                     json_serialize=lambda o: orjson.dumps(o).decode()) as http:
        async def worker(i: int) -> None:
            url = targets[i % len(targets)] + path
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                s = free.popleft()
                prev = last[s]
                if prev is not None and rng.random() < bad_share:
                    cents = prev  # not lower than its previous bid: must be refused
                elif prev is None:
                    cents = ceiling - rng.randint(0, 10_000)
                else:
                    cents = prev - rng.randint(decrement, decrement + 499)
                status = 0
                slug = ""
                try:
                    async with http.post(url, data=b'{"amount":"%s"}' % money(cents).encode(),
                                         headers=headers[s]) as resp:
                        body = await resp.read()
                        status = resp.status
                    if status == 201:
                        last[s] = cents
                    else:
                        try:
                            slug = str(orjson.loads(body).get("type", "")).rsplit("/", 1)[-1]
                        except (orjson.JSONDecodeError, AttributeError):
                            slug = "unparsable"
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    slug = type(exc).__name__
                finally:
                    free.append(s)
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    latencies.append(t1 - t0)
                    if status == 201:
                        outcomes["accepted"] += 1
                    elif status == 0:
                        errors[slug] += 1
                    elif status >= 500:
                        errors[f"{status} {slug}"] += 1
                    else:
                        outcomes[f"{status} {slug}"] += 1

        async def window_marks() -> None:
            await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
            pids = dict(watch)
            pids["postgres"] = await pg_backends(spec.get("admin_dsn"), spec.get("database"))
            window["pids"] = pids
            window["t0"] = time.perf_counter()
            window["self0"] = sum(os.times()[:2])
            window["m0"] = machine_cpu()
            window["cpu0"] = cpu_snapshot(pids)
            await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
            window["t1"] = time.perf_counter()
            window["self1"] = sum(os.times()[:2])
            window["m1"] = machine_cpu()
            window["cpu1"] = cpu_snapshot(pids)

        marks = asyncio.create_task(window_marks())
        sampler = asyncio.create_task(sample_waits(spec, measure_from, stop_at, waits))
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        await marks
        await sampler
    finished = time.perf_counter()

    wall = window["t1"] - window["t0"]
    busy = window["m1"][0] - window["m0"][0]
    total = window["m1"][1] - window["m0"][1]
    cpu = {"loadgen": round(window["self1"] - window["self0"], 3),
           **cpu_delta(window["cpu0"], window["cpu1"]),
           "machine_busy": round(busy, 3), "machine_capacity": round(total, 3)}
    lat = sorted(latencies)
    accepted = outcomes.get("accepted", 0)
    return {
        "concurrency": concurrency, "targets": len(targets), "window_s": round(wall, 3),
        "drain_s": round(finished - stop_at, 3),
        "requests": len(lat), "accepted": accepted,
        "accepted_per_s": accepted / duration,
        "requests_per_s": len(lat) / duration,
        "refused": {k: v for k, v in outcomes.items() if k != "accepted"},
        "refused_per_s": {k: v / duration for k, v in outcomes.items() if k != "accepted"},
        "errors": dict(errors),
        "latency_ms": summarize(lat),
        "cpu_s": cpu,
        "cpu_cores": {k: round(v / wall, 3) for k, v in cpu.items()
                      if k != "machine_capacity"},
        "pg_waits": waits,
    }


def summarize(lat: list[float]) -> dict[str, float | None]:
    if not lat:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, max(0, round(p * len(lat)) - 1))] * 1000, 2)

    return {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
            "max": round(lat[-1] * 1000, 2), "mean": round(sum(lat) / len(lat) * 1000, 2)}


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    Path(sys.argv[2]).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
