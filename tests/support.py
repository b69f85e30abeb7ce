"""Helpers for tests: run an app in-process over real HTTP, run a service as a process,
and listen to the events exchange."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

ROOT = Path(__file__).resolve().parents[1]


@asynccontextmanager
async def running_app(app: web.Application) -> AsyncIterator[TestClient]:
    """The app served on a real socket, with a client bound to it (its /metrics: see
    `metrics_url`)."""
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def metrics_url(client: TestClient) -> str:
    """/metrics of an in-process app, on its operations listener."""
    from shared.operations import OPERATIONS_PORT

    return f"http://127.0.0.1:{client.app[OPERATIONS_PORT]}/metrics"


class EventTap:
    """An exclusive queue bound to the exchange that records every event it sees."""

    def __init__(self, amqp_url: str, exchange: str, keys: tuple[str, ...] = ("#",)) -> None:
        self._url = amqp_url
        self._exchange = exchange
        self._keys = keys
        self.events: list[dict[str, Any]] = []
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []
        self._conn: aio_pika.abc.AbstractConnection | None = None
        self._arrived = asyncio.Condition()

    async def __aenter__(self) -> EventTap:
        self._conn = await aio_pika.connect(self._url)
        channel = await self._conn.channel()
        exchange = await channel.declare_exchange(self._exchange, aio_pika.ExchangeType.TOPIC,
                                                  durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in self._keys:
            await queue.bind(exchange, key)
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with self._arrived:
            self.messages.append(message)
            self.events.append(orjson.loads(message.body))
            self._arrived.notify_all()

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_]

    async def wait_for(self, predicate: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Wait until `predicate(events)` is truthy; returns the events seen."""
        async def check() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: bool(predicate(self.events)))

        await asyncio.wait_for(check(), timeout)
        return self.events


def _die_with_parent() -> None:
    """In the child: get SIGKILL if the test process dies, so no service outlives a run."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """`python -m <module>` as a real process with its own environment."""

    def __init__(self, module: str, env: dict[str, str], port: int | None = None) -> None:
        self.module = module
        self.port = port or free_port()
        given = int(env.get("METRICS_PORT") or 0)
        self.metrics_port = given or free_port()
        self.env = {**os.environ, **env, "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(self.port),
                    "METRICS_PORT": str(self.metrics_port)}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.gettempdir()) / "procure-test-logs" / \
            f"{module}-{self.port}-{uuid.uuid4().hex[:6]}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """/metrics on the process's operations listener."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    async def start(self, *, wait: bool = True) -> ServiceProcess:
        self.log_path.parent.mkdir(exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the fd
            self.proc = subprocess.Popen([sys.executable, "-m", self.module], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                         preexec_fn=_die_with_parent)
        if wait:
            await self.wait_ready()
        return self

    async def wait_ready(self, path: str = "/readyz", timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.module} exited: {self.log_path.read_text()[-2000:]}")
                try:
                    async with http.get(self.url + path) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.module} not ready: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


class TcpProxy:
    """A TCP forwarder in front of PostgreSQL or RabbitMQ that a test can cut and restore,
    to make a dependency unreachable without stopping it for everyone else."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


# The project's own documentation: what the tests check the code against.
DOCS = ROOT / "docs"


def markdown_section(path: Path, heading: str) -> str:
    """The text under the `## heading` of a document, up to the next `## ` heading."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 4)
    return text[start:end if end != -1 else len(text)]


def table_rows(section: str) -> list[list[str]]:
    """The body rows (cells stripped) of every Markdown table in `section`: not the
    header rows, nor the separator lines under them."""
    rows: list[list[str]] = []
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if set("".join(cells)) <= {"-", " ", ":"}:
            rows.pop()  # the header row above the separator
            continue
        rows.append(cells)
    return rows


def documented_endpoints(service: str) -> dict[tuple[str, str], list[str]]:
    """(method, path) -> the cells of its row in the `## {service}` table of
    docs/http-api.md (rows whose first cell is `` `METHOD /path` ``)."""
    import re

    endpoints: dict[tuple[str, str], list[str]] = {}
    for cells in table_rows(markdown_section(DOCS / "http-api.md", service)):
        found = re.fullmatch(r"`(GET|POST|PATCH|PUT|DELETE) (/[^`?\s]*)`", cells[0])
        if found:
            key = (found[1].lower(), found[2])
            assert key not in endpoints, f"{service}: {key} documented twice"
            endpoints[key] = cells
    return endpoints


def documented_paths(service: str) -> set[tuple[str, str]]:
    """(method, path) documented for one service in docs/http-api.md, params normalised."""
    import re

    return {(m, re.sub(r"{[^}]+}", "{}", p)) for m, p in documented_endpoints(service)}


def document_paths(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """(method, path) of an OpenAPI document, params normalised."""
    import re

    return {(m, re.sub(r"{[^}]+}", "{}", p)) for p, item in doc["paths"].items() for m in item}


async def wait_ready(client: TestClient, want: int, timeout: float = 20) -> dict[str, Any]:
    """Poll /readyz until it answers `want`; returns the last body."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with client.get("/readyz") as resp:
            body = dict(await resp.json())
            if resp.status == want:
                return body
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"/readyz never answered {want}: {body}")
        await asyncio.sleep(0.2)
