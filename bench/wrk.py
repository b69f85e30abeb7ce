"""The bid storm driven by wrk (bench/wrk_bids.lua), a C load generator that costs far
less CPU per request than the service it measures.

`run(spec, workdir)` takes the same spec as `python -m bench.loadgen` and returns the
same figures. One wrk process per target (port), C / targets connections each, each
with its own disjoint share of the suppliers, split again over its threads. A warm-up
run goes first; the measured run carries on from the amounts the warm-up left.

CPU is read from /proc over the measured window: the moment the measured wrk processes
are started to `duration` seconds later (wrk's own clock starts a few ms after, once its
threads are up), for the wrk processes, the watched service processes, the database's
PostgreSQL backends and the whole machine. Latency percentiles are wrk's own
(`latency:percentile` in done()); with two processes they are merged from each run's
grid of percentiles (exact to 1 point below p99, to 0.1 above).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from bench.loadgen import cpu_delta, cpu_snapshot, pg_backends, sample_waits
from bench.procs import ROOT, machine_cpu

SCRIPT = ROOT / "bench" / "wrk_bids.lua"
MARK = "BENCH-WRK "
MAX_THREADS = 2  # the machine has 2 cores; more threads only add switching
TIMEOUT_S = 10

T = TypeVar("T")

# Counted by wrk_bids.lua: deliberate repeats sent, answered and refused; refusals or
# errors of bids that were lower (never expected); requests sent for a supplier already in
# flight (never expected); answers without our request id; bids unanswered when wrk stopped.
CHECKS = ("repeats", "repeats_answered", "repeats_refused", "not_deliberate", "overlaps",
          "unmatched", "in_flight_at_end")


def find() -> str | None:
    """The wrk executable on PATH, or None."""
    return shutil.which("wrk")


def version(wrk: str) -> str:
    """wrk's banner line, e.g. "wrk debian/4.1.0-3+b2 [epoll]" (`wrk -v` exits 1)."""
    try:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"wrk ({exc})"
    first = (out.stdout or out.stderr).splitlines()[:1]
    return first[0].split(" Copyright")[0].strip() if first else "wrk"


def split(items: Sequence[T], parts: int) -> list[list[T]]:
    """`parts` disjoint slices, round-robin: item i goes to slice i % parts."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    return [list(items[k::parts]) for k in range(parts)]


def threads_for(connections: int, suppliers: int, max_threads: int = MAX_THREADS) -> int:
    """wrk threads for one process: the most (up to max_threads) that divide its
    connections evenly; each thread's supplier slice must outnumber its connections, or a
    thread would have to send for a supplier whose previous bid has no answer yet."""
    if connections < 1:
        raise ValueError("connections must be at least 1")
    threads = next(t for t in range(min(max_threads, connections), 0, -1)
                   if connections % t == 0)
    if suppliers // threads <= connections // threads:
        raise ValueError(f"{suppliers} suppliers over {threads} thread(s) is not more than "
                         f"{connections // threads} connection(s) per thread")
    return threads


def parse_summary(stdout: str) -> dict[str, Any]:
    """The `BENCH-WRK {...}` line wrk_bids.lua's done() prints after wrk's own report."""
    for line in stdout.splitlines():
        if line.startswith(MARK):
            data: dict[str, Any] = json.loads(line[len(MARK):])
            grid = data["latency_us"]["percentiles"]
            data["latency_us"]["percentiles"] = {float(p): float(v) for p, v in grid.items()}
            return data
    raise ValueError("no BENCH-WRK line in wrk's output (did the Lua script fail?)")


def merged_percentile(runs: Sequence[tuple[int, dict[float, float]]], q: float,
                      ) -> float | None:
    """The q-th percentile of several runs' latencies together, from each run's request
    count and grid {percentile: value}. For a single run it is that run's own value at q
    (when q is on its grid)."""
    total = sum(n for n, _ in runs)
    if total == 0:
        return None
    for x in sorted({v for n, grid in runs if n for v in grid.values()}):
        # Share of all requests known to be at or below x.
        below = sum(n * max((p for p, v in grid.items() if v <= x), default=0.0) / 100
                    for n, grid in runs if n)
        if below >= q / 100 * total - 1e-9:
            return x
    return max(v for n, grid in runs if n for v in grid.values())


def figures(summaries: Sequence[dict[str, Any]], cpu_s: dict[str, float], wall: float,
            concurrency: int) -> dict[str, Any]:
    """The storm's figures, in the shape `bench.loadgen` reports them, from each wrk
    process's summary and the CPU seconds over the measured window (`wall` seconds)."""
    accepted = 0.0
    accepted_n = requests = 0
    rates: dict[str, float] = {}
    refused: dict[str, int] = {}
    errors: dict[str, int] = {}
    requests_per_s = 0.0
    for s in summaries:
        seconds = s["duration_us"] / 1e6
        requests += s["requests"]
        requests_per_s += s["requests"] / seconds
        for key, n in s["counts"].items():
            status = int(key.split(" ", 1)[0])
            if status == 201:
                accepted_n += n
                accepted += n / seconds
            elif status >= 500:
                errors[key] = errors.get(key, 0) + n
            else:
                refused[key] = refused.get(key, 0) + n
                rates[key] = rates.get(key, 0.0) + n / seconds
        for kind, n in s["errors"].items():
            if kind != "status" and n:  # "status" is wrk's count of answers >= 400
                errors[f"socket {kind}"] = errors.get(f"socket {kind}", 0) + n
    runs = [(int(s["latency_us"]["count"]), s["latency_us"]["percentiles"]) for s in summaries]
    counted = sum(n for n, _ in runs)

    def ms(us: float | None) -> float | None:
        return None if us is None else round(us / 1000, 2)

    latency = {f"p{q:g}": ms(merged_percentile(runs, q)) for q in (50, 90, 99)}
    latency["max"] = ms(max((s["latency_us"]["max"] for s in summaries if s["requests"]),
                            default=None))
    latency["mean"] = ms(sum(n * s["latency_us"]["mean"] for (n, _), s in
                             zip(runs, summaries, strict=True)) / counted) if counted else None
    return {
        "generator": "wrk", "concurrency": concurrency, "targets": len(summaries),
        "window_s": round(wall, 3), "requests": requests, "accepted": accepted_n,
        "accepted_per_s": accepted, "requests_per_s": requests_per_s,
        "refused": refused, "refused_per_s": rates, "errors": errors,
        "latency_ms": latency,
        "cpu_s": cpu_s,
        "cpu_cores": {k: round(v / wall, 3) for k, v in cpu_s.items()
                      if k != "machine_capacity"},
        "checks": {k: sum(s[k] for s in summaries)
                   for k in CHECKS},
    }


def write_slices(workdir: Path, suppliers: Sequence[Sequence[str]], threads: int) -> None:
    """suppliers-<thread>.tsv for wrk_bids.lua: "supplier_id<TAB>token" lines."""
    workdir.mkdir(parents=True, exist_ok=True)
    for t, part in enumerate(split(suppliers, threads)):
        (workdir / f"suppliers-{t}.tsv").write_text(
            "".join(f"{sid}\t{token}\n" for sid, token in part))


class _Process:
    """One wrk process against one target, with its own suppliers and state files."""

    def __init__(self, wrk: str, url: str, workdir: Path, connections: int, threads: int,
                 spec: dict[str, Any]) -> None:
        self.wrk, self.url, self.workdir = wrk, url, workdir
        self.connections, self.threads, self.spec = connections, threads, spec

    def argv(self, seconds: int) -> list[str]:
        return [self.wrk, "-t", str(self.threads), "-c", str(self.connections),
                "-d", f"{seconds}s", "--timeout", f"{TIMEOUT_S}s", "-s", str(SCRIPT), self.url]

    async def start(self, seconds: int, stage: str, state_in: str,
                    ) -> asyncio.subprocess.Process:
        env = {**os.environ, "BENCH_WRK_DIR": str(self.workdir),
               "BENCH_WRK_STATE_IN": state_in,
               "BENCH_WRK_STATE_OUT": str(self.workdir / f"state-{stage}.txt"),
               "BENCH_BAD_SHARE": str(self.spec.get("bad_share", 0.0)),
               "BENCH_DECREMENT_CENTS": str(self.spec.get("decrement_cents", 1)),
               "BENCH_CEILING_CENTS": str(self.spec.get("ceiling_cents", 50_000_000)),
               "BENCH_SEED": str(self.spec.get("seed", 1))}
        return await asyncio.create_subprocess_exec(
            *self.argv(seconds), env=env, cwd=self.workdir,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async def finish(self, proc: asyncio.subprocess.Process, stage: str) -> dict[str, Any]:
        out, err = await proc.communicate()
        text = out.decode(errors="replace")
        (self.workdir / f"wrk-{stage}.out").write_text(text + err.decode(errors="replace"))
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()[-1000:]}")
        return parse_summary(text)


async def run(spec: dict[str, Any], workdir: Path, wrk: str) -> dict[str, Any]:
    """Warm-up, then the measured run, on every target at once; the storm's figures."""
    targets: list[str] = spec["targets"]
    concurrency: int = spec["concurrency"]
    if concurrency % len(targets):
        raise ValueError(f"C={concurrency} does not split evenly over {len(targets)} targets")
    per = concurrency // len(targets)
    shutil.rmtree(workdir, ignore_errors=True)
    procs = []
    for k, (target, share) in enumerate(zip(targets, split(spec["suppliers"], len(targets)),
                                            strict=True)):
        threads = threads_for(per, len(share))
        write_slices(workdir / f"p{k}", share, threads)
        procs.append(_Process(wrk, target + spec["path"], workdir / f"p{k}", per, threads,
                              spec))
    warmup = max(1, math.ceil(spec["warmup"]))
    started = [await p.start(warmup, "warmup", "") for p in procs]
    await asyncio.gather(*(p.finish(s, "warmup") for p, s in zip(procs, started, strict=True)))

    duration = max(1, math.ceil(spec["duration"]))
    pids: dict[str, list[int]] = {k: list(v) for k, v in spec.get("watch", {}).items()}
    pids["postgres"] = await pg_backends(spec.get("admin_dsn"), spec.get("database"))
    running = [await p.start(duration, "measured", str(p.workdir / "state-warmup.txt"))
               for p in procs]
    pids["loadgen"] = [s.pid for s in running]
    t0, m0, cpu0 = time.perf_counter(), machine_cpu(), cpu_snapshot(pids)
    waits: dict[str, Any] = {}
    sampler = asyncio.create_task(sample_waits(spec, t0, t0 + duration, waits))
    await asyncio.sleep(duration)
    t1, m1, cpu1 = time.perf_counter(), machine_cpu(), cpu_snapshot(pids)
    summaries = await asyncio.gather(*(p.finish(s, "measured")
                                       for p, s in zip(procs, running, strict=True)))
    await sampler
    cpu = cpu_delta(cpu0, cpu1) | {"machine_busy": round(m1[0] - m0[0], 3),
                                   "machine_capacity": round(m1[1] - m0[1], 3)}
    result = figures(summaries, cpu, t1 - t0, concurrency)
    result["pg_waits"] = waits
    result["wrk"] = {"argv": [a.replace(f"{ROOT}/", "") for a in procs[0].argv(duration)],
                     "processes": len(procs), "connections_each": per,
                     "threads_each": procs[0].threads, "warmup_s": warmup,
                     "duration_s": duration}
    return result
