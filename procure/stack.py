"""`procure run`: both services as child processes, started the way operators start them.

Migrate, seed, serve; wait for /readyz; forward logs; on SIGINT/SIGTERM let the outbox
relays finish what is committed, send SIGTERM, wait, and leave nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urlsplit

import aio_pika
import aiohttp
import asyncpg
import orjson
from rich.text import Text

from procure.errors import START_INFRA_HINT, ProcureError, Unreachable
from procure.settings import ProcureSettings, url_port
from procure.ui import Ui
from shared.settings import METRICS_PORT_OFFSET

POOL = "pool"
BIDDING = "bidding"
PORTAL = "portal"
# Services with a database of their own (migrations, /metrics); the portal has neither.
STATEFUL = (POOL, BIDDING)
STOP_TIMEOUT = 15.0  # the services promise to exit within 10 s of SIGTERM
READY_TIMEOUT = 60.0
DRAIN_TIMEOUT = 5.0
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}
_STYLES = {POOL: "cyan", BIDDING: "magenta", PORTAL: "green"}


@dataclass(frozen=True)
class ServiceDef:
    key: str
    module: str
    title: str
    url: str

    @property
    def port(self) -> int:
        return url_port(self.url)

    @property
    def host(self) -> str:
        host = urlsplit(self.url).hostname or "127.0.0.1"
        return "127.0.0.1" if host == "localhost" else host

    @property
    def metrics_port(self) -> int:
        """The operations listener (/metrics): the services' default, API port + 1000."""
        return self.port + METRICS_PORT_OFFSET

    @property
    def metrics_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.metrics_port}/metrics"


def service_defs(settings: ProcureSettings) -> dict[str, ServiceDef]:
    return {POOL: ServiceDef(POOL, "pool_service", "pool service", settings.pool_url),
            BIDDING: ServiceDef(BIDDING, "bidding_service", "bidding service",
                                settings.bidding_url),
            PORTAL: ServiceDef(PORTAL, "portal", "public portal", settings.portal_url)}


class LogSink(Protocol):
    def line(self, service: str, text: str) -> None: ...

    def close(self) -> None: ...


class ConsoleLogs:
    """Service log lines on the console, prefixed by service (compact unless `raw`)."""

    def __init__(self, ui: Ui, *, raw: bool = False) -> None:
        self._ui = ui
        self._raw = raw
        self._width = max(len(POOL), len(BIDDING), len(PORTAL))

    def line(self, service: str, text: str) -> None:
        body = text if self._raw else compact_log(text)
        if self._ui.rich:
            self._ui.say(Text.assemble((f"{service:<{self._width}} │ ",
                                        _STYLES.get(service, "dim")), body))
        else:
            self._ui.say(f"[{service}] {body}")

    def close(self) -> None:
        pass


class FileLogs:
    """Service log lines appended to one file (the demo keeps its screen for the round)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def line(self, service: str, text: str) -> None:
        self._file.write(f"[{service}] {text}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def compact_log(line: str) -> str:
    """A structlog JSON line as `HH:MM:SS level event key=value ...`; other text as is."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line
    if not isinstance(record, dict) or "event" not in record:
        return line
    stamp = str(record.pop("timestamp", ""))
    with contextlib.suppress(ValueError):
        stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone() \
            .strftime("%H:%M:%S")
    level = str(record.pop("level", ""))
    event = str(record.pop("event"))
    record.pop("service", None)
    extras = " ".join(f"{k}={_short(v)}" for k, v in record.items())
    return " ".join(part for part in (stamp, f"{level:<7}", event, extras) if part)


def _short(value: object) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass
class Child:
    service: ServiceDef
    proc: asyncio.subprocess.Process
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    pump: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.proc.returncode is None


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if `procure` itself is killed, so none is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ServiceStack:
    """The services as child processes of this one."""

    def __init__(self, settings: ProcureSettings, ui: Ui, logs: LogSink, *,
                 which: Iterable[str] = (POOL, BIDDING, PORTAL), round_min_seconds: int = 10,
                 seed: bool = True, extra_env: dict[str, str] | None = None) -> None:
        defs = service_defs(settings)
        self.services = [defs[key] for key in (POOL, BIDDING, PORTAL) if key in set(which)]
        self._settings = settings
        self._ui = ui
        self._logs = logs
        self._round_min = round_min_seconds
        self._seed = seed
        self._extra_env = dict(extra_env or {})
        self.children: list[Child] = []
        self._hurry = asyncio.Event()

    # ------------------------------------------------------------ environment

    def child_env(self, service: ServiceDef | None = None) -> dict[str, str]:
        """The caller's environment plus what `procure` was told (its options win)."""
        s = self._settings
        env = dict(os.environ)
        env.pop("DB_SCHEMA", None)  # each service has its own schema by default
        env.pop("METRICS_PORT", None)  # and its own operations port (set below)
        # `procure run` and the demo start local development services (trust.md 1).
        env.setdefault("DEV_MODE", "true")
        env.update({
            "DATABASE_URL": s.database_url, "AMQP_URL": s.amqp_url,
            "EVENTS_EXCHANGE": s.events_exchange,
            "JWT_SECRET": s.jwt_secret.get_secret_value(),
            "FINANCE_QUEUE": s.finance_queue,
            "ROUND_MIN_DURATION_SECONDS": str(self._round_min),
            "PYTHONUNBUFFERED": "1",
            # The portal reads the two services' public APIs.
            "POOL_SERVICE_URL": s.pool_url, "BIDDING_SERVICE_URL": s.bidding_url,
            **self._extra_env,
        })
        if service is not None:
            env["HTTP_HOST"] = service.host
            env["HTTP_PORT"] = str(service.port)
            env["METRICS_PORT"] = str(service.metrics_port)
        return env

    # ------------------------------------------------------------ checks

    async def check_infrastructure(self) -> None:
        """PostgreSQL and RabbitMQ must answer; say how to start them if not."""
        await check_database(self._settings)
        await check_broker(self._settings)
        for svc in self.services:
            host = urlsplit(svc.url).hostname or ""
            if host not in _LOCAL_HOSTS:
                raise ProcureError(
                    f"the {svc.title} URL {svc.url} is not on this machine; `procure run` "
                    "starts services locally (use --pool-port/--bidding-port, or point "
                    "POOL_URL/BIDDING_URL at 127.0.0.1)")
            ports = [(svc.port, svc.url)]
            if svc.key in STATEFUL:
                ports.append((svc.metrics_port, "its /metrics"))
            for port, what in ports:
                if _port_busy(svc.host, port):
                    raise ProcureError(
                        f"port {port} (the {svc.title}, {what}) is already in use: are "
                        "the services running already? Stop them, or pick other ports with "
                        "--pool-port/--bidding-port")

    # ------------------------------------------------------------ start

    async def start(self) -> None:
        """Check, migrate, seed, spawn, wait for /readyz."""
        await self.check_infrastructure()
        await asyncio.gather(*(self._once(svc, "migrate") for svc in self.services
                               if svc.key in STATEFUL))
        if self._seed and any(svc.key == POOL for svc in self.services):
            pool = next(svc for svc in self.services if svc.key == POOL)
            await self._once(pool, "seed")
        # The bidding service first: its queue for pool.* events must exist before the
        # pool service's relay publishes them (the broker drops what no queue is bound to,
        # and the bidding service cannot run rounds in a pool it never heard of). The
        # portal last: it is ready once both services are.
        for svc in sorted(self.services, key=lambda s: (s.key == PORTAL, s.key != BIDDING)):
            await self._spawn(svc)
            await self._wait_ready(self.children[-1])

    async def _once(self, svc: ServiceDef, command: str) -> None:
        """`python -m <module> <command>`, its output kept and shown only if it fails."""
        self._ui.say(f"{svc.title}: {command}", style="dim")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", svc.module, command, env=self.child_env(svc),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent)
        try:
            output, _ = await proc.communicate()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            await proc.wait()
            raise
        if proc.returncode != 0:
            tail = "\n".join(output.decode(errors="replace").splitlines()[-15:])
            raise ProcureError(f"`python -m {svc.module} {command}` failed "
                               f"(exit {proc.returncode}):\n{tail}")

    async def _spawn(self, svc: ServiceDef) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", svc.module, env=self.child_env(svc),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent)
        child = Child(svc, proc)
        child.pump = asyncio.create_task(self._pump(child), name=f"logs-{svc.key}")
        self.children.append(child)

    async def _pump(self, child: Child) -> None:
        stream = child.proc.stdout
        assert stream is not None
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the stream limit: skip it
                continue
            if not raw:
                return
            text = raw.decode(errors="replace").rstrip("\n")
            child.tail.append(text)
            self._logs.line(child.service.key, text)

    async def _wait_ready(self, child: Child) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        url = child.service.url + "/readyz"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if not child.running:
                    if child.pump is not None:
                        await child.pump
                    raise ProcureError(
                        f"the {child.service.title} {exit_text(child.proc.returncode)} while "
                        "starting; its last lines:\n" + "\n".join(child.tail))
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(url) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise ProcureError(f"the {child.service.title} did not become ready at {url} within "
                           f"{READY_TIMEOUT:.0f} s; its last lines:\n" + "\n".join(child.tail))

    # ------------------------------------------------------------ run and stop

    async def first_exit(self) -> Child:
        """The first child to exit (unexpectedly, while serving)."""
        waits = {asyncio.create_task(c.proc.wait()): c for c in self.children}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return waits[next(iter(done))]
        finally:
            for task in waits:
                task.cancel()

    def hurry(self) -> None:
        """A second Ctrl-C while stopping: don't wait for the outbox."""
        self._hurry.set()

    async def stop(self) -> bool:
        """Drain, SIGTERM, wait; True if every child exited by itself with code 0."""
        running = [c for c in self.children if c.running]
        if running:
            await self._drain_outboxes([c for c in running if c.service.key in STATEFUL])
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        clean = True
        for child in self.children:
            try:
                await asyncio.wait_for(child.proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self._ui.warn(f"the {child.service.title} did not stop within "
                              f"{STOP_TIMEOUT:.0f} s of SIGTERM: killing it")
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
                await child.proc.wait()
                clean = False
            if child.pump is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await child.pump
            if child.proc.returncode != 0:
                clean = False
        self._logs.close()
        return clean

    async def _drain_outboxes(self, children: Sequence[Child]) -> None:
        """Give the outbox relays a moment to publish what is committed (as /metrics shows).

        Stopping loses nothing either way (unsent events go out at the next start), but
        a clean stop should leave the broker knowing everything the databases know.
        """
        deadline = time.monotonic() + DRAIN_TIMEOUT
        told = False
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline and not self._hurry.is_set():
                backlog = 0
                for child in children:
                    backlog += await _outbox_backlog(http, child.service.metrics_url)
                if backlog == 0:
                    return
                if not told:
                    self._ui.say(f"waiting for {backlog} outbox event(s) to be published "
                                 "(Ctrl-C again to skip)", style="dim")
                    told = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), 0.2)


async def _outbox_backlog(http: aiohttp.ClientSession, metrics_url: str) -> int:
    try:
        async with http.get(metrics_url) as resp:
            text = await resp.text()
    except (aiohttp.ClientError, TimeoutError):
        return 0
    for line in text.splitlines():
        if line.startswith("outbox_backlog "):
            with contextlib.suppress(ValueError):
                return int(float(line.split()[1]))
    return 0


def exit_text(code: int | None) -> str:
    """`exited with code 1` or `was killed by SIGKILL`."""
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def _port_busy(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    with socket.socket(socket.AF_INET6 if ":" in target else socket.AF_INET) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((target, port)) == 0


async def check_database(settings: ProcureSettings) -> None:
    where = settings.masked_database_url
    try:
        conn = await asyncpg.connect(settings.database_url, timeout=5)
    except asyncpg.InvalidCatalogNameError:
        name = urlsplit(settings.database_url).path.lstrip("/")
        raise ProcureError(f"PostgreSQL at {where} has no database {name!r}: create it "
                           f"(`createdb -h 127.0.0.1 -U postgres {name}`) or set "
                           "DATABASE_URL") from None
    except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as exc:
        raise Unreachable("PostgreSQL", where, _why(exc), START_INFRA_HINT) from None
    except asyncpg.PostgresError as exc:
        raise ProcureError(f"PostgreSQL at {where} refused the connection: {exc}") from None
    await conn.close()


async def check_broker(settings: ProcureSettings) -> None:
    try:
        conn = await aio_pika.connect(settings.amqp_url, timeout=5)
    except Exception as exc:  # aio-pika raises several unrelated types for "no broker"
        raise Unreachable("RabbitMQ", settings.masked_amqp_url, _why(exc),
                          START_INFRA_HINT) from None
    await conn.close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def run_until_signal(stack: ServiceStack, ui: Ui,
                           on_ready: Callable[[], None] | None = None) -> int:
    """Start the stack, serve until SIGINT/SIGTERM (or a child dies), stop it; exit code."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal() -> None:
        if stopping.is_set():
            stack.hurry()
        stopping.set()

    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, on_signal)
    code = 0
    stopper = asyncio.create_task(stopping.wait())
    try:
        startup = asyncio.create_task(stack.start())
        await asyncio.wait({startup, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not startup.done():
            ui.say("stopping before the services were ready", style="yellow")
            startup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await startup
        else:
            startup.result()  # raises a startup failure (the finally below cleans up)
            if on_ready is not None:
                on_ready()
            exited = asyncio.create_task(stack.first_exit())
            await asyncio.wait({exited, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if exited.done():
                child = exited.result()
                ui.fail(f"the {child.service.title} {exit_text(child.proc.returncode)} "
                        "unexpectedly; stopping the other")
                code = 1
            else:
                exited.cancel()
                ui.say("stopping: SIGTERM to the services", style="yellow")
    finally:
        stopper.cancel()
        clean = await stack.stop()
        for sig in signals:
            loop.remove_signal_handler(sig)
    if not clean and code == 0:
        ui.fail("a service did not stop cleanly")
        code = 1
    if code == 0:
        ui.say("stopped; nothing left running", style="green")
    return code
