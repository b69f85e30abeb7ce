"""Processes the bench starts, and what /proc says about them (CPU time, peak RSS)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
TMP = ROOT / "bench" / "results" / "tmp"
TICK = os.sysconf("SC_CLK_TCK")
LOGS = {"dir": TMP}


def set_log_dir(run_id: str) -> Path:
    """Child processes of this run log under bench/results/tmp/<run_id>/."""
    LOGS["dir"] = TMP / run_id
    LOGS["dir"].mkdir(parents=True, exist_ok=True)
    return LOGS["dir"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of `pid` so far (None if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kb(pid: int, key: str) -> int | None:
    """A `VmHWM`/`VmRSS`-style line of /proc/<pid>/status, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return (total - idle) / TICK, total / TICK


def machine_state() -> dict[str, object]:
    """uptime/load and the top of `top`: what else was running."""
    def run(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"({cmd[0]} failed: {exc})"
    top = run(["top", "-bn1", "-w", "160"]).splitlines()
    return {"at": time.strftime("%Y-%m-%d %H:%M:%S %z"), "uptime": run(["uptime"]).strip(),
            "cpus": os.cpu_count(), "top": top[:22]}


def busiest(mine: set[int], n: int = 6) -> list[str]:
    """The n processes using the most CPU right now (ps): "pcpu etime args", with the
    bench's own processes tagged `[bench]`."""
    try:
        out = subprocess.run(["ps", "-eo", "pcpu,pid,etime,args", "--sort=-pcpu"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = []
    for line in out.splitlines()[1:n + 1]:
        pcpu, pid, etime, args = [*line.split(None, 3), "", "", "", ""][:4]
        tag = "[bench] " if int(pid) in mine or "bench" in args else ""
        # Paths of this machine stay out of the recorded results.
        args = args.replace(f"{ROOT}/", "<repo>/").replace(str(Path.home()), "~")
        lines.append(f"{pcpu} {etime} {tag}{args}"[:150])
    return lines


class Proc:
    """One child process with its own log file under bench/results/tmp/."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str],
                 port: int | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = {**os.environ, **env}
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        LOGS["dir"].mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS["dir"] / f"{name}.log"
        self.peak_rss_kb: int | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=ROOT)
        return self

    async def wait_http(self, path: str = "/readyz", within_s: float = 60.0) -> None:
        deadline = time.monotonic() + within_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.tail()}")
                try:
                    async with http.get(self.url + path) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready: {self.tail()}")

    async def wait_serving(self, notes: list[str], ready_s: float = 30.0) -> None:
        """/readyz if it comes; else /healthz, with a note (the shared broker may be down:
        the HTTP paths measured here need only the database)."""
        try:
            await self.wait_http("/readyz", within_s=ready_s)
        except TimeoutError:
            await self.wait_http("/healthz", within_s=30.0)
            notes.append(f"{self.name} served without being ready (broker unreachable) "
                         f"at {time.strftime('%H:%M:%S')}")

    def cpu(self) -> float | None:
        return cpu_seconds(self.pid)

    def hwm_kb(self) -> int | None:
        value = status_kb(self.pid, "VmHWM")
        if value is not None:
            self.peak_rss_kb = value
        return value if value is not None else self.peak_rss_kb

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful), SIGKILL if it does not exit in time; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.hwm_kb()
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait(10)
        return self.proc.returncode

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
