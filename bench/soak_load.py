"""The soak's workload: price rounds with a bid storm across each close, direct
selections and rotations, awards accepted or declined, a bidding process restarted
every few minutes, and RSS sampled throughout. Every answer is tallied: what was
expected, what was a deliberate refusal, what was an error."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from bench.loadgen import money
from bench.procs import Proc, status_kb

Refusal = Callable[[int, str, float], bool]
CEILING_CT = 40_000_000
JUSTIFICATION = "压测：长时间稳定性测试中的直接选定（bench soak, direct selection）"


@dataclass
class Tally:
    """Every answer by operation, status and problem type, split into the expected,
    the deliberate refusals and the errors; and every accepted bid."""

    answers: Counter[str] = field(default_factory=Counter)
    deliberate: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    # round id -> supplier id -> [(bid id, amount)] of the bids answered 201, in order.
    accepted: dict[str, dict[str, list[tuple[str, Decimal]]]] = field(default_factory=dict)
    price_rounds: list[str] = field(default_factory=list)
    fixed_rounds: list[str] = field(default_factory=list)
    restarts: list[dict[str, Any]] = field(default_factory=list)

    def record(self, op: str, status: int, ptype: str, ok: bool, deliberate: bool = False,
               detail: str = "") -> None:
        key = f"{op} {status}{' ' + ptype if ptype else ''}"
        self.answers[key] += 1
        if ok:
            return
        if deliberate:
            self.deliberate[key] += 1
            return
        self.errors[key] += 1
        if len(self.error_samples) < 30:
            self.error_samples.append(f"{time.strftime('%H:%M:%S')} {key} {detail[:200]}")


@dataclass
class Soak:
    """What the workload needs: the session, the processes, who may be asked, tokens."""

    http: aiohttp.ClientSession
    bidding: list[Proc]
    up: list[Proc]
    center: dict[str, str]
    suppliers: dict[str, dict[str, str]]  # supplier id -> headers with its token
    watched: list[Proc]  # other processes whose RSS is sampled (the pool service)
    pool_id: str
    tally: Tally
    rng: random.Random
    # (type, round id) -> first arrival at the outside consumer of the finance queue.
    finance_arrivals: dict[tuple[str, str], float] = field(default_factory=dict)
    rss: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    hwm: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    _turn: int = 0

    def base(self) -> str:
        """The next bidding process that takes requests (round-robin)."""
        self._turn += 1
        return self.up[self._turn % len(self.up)].url

    async def call(self, op: str, method: str, path: str, headers: dict[str, str],
                   body: dict[str, Any] | None, expect: int,
                   deliberate: Refusal | None = None) -> tuple[int, Any]:
        """One request; the answer tallied (`deliberate(status, type, answered_at)` says
        which refusals were asked for). Returns (status, JSON body or None)."""
        try:
            async with self.http.request(method, self.base() + path, json=body,
                                         headers=headers) as r:
                raw = await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.tally.record(op, 0, type(exc).__name__, ok=False, detail=str(exc))
            return 0, None
        answered = time.time()
        data = orjson.loads(raw) if raw else None
        ptype = ""
        if status != expect and isinstance(data, dict):
            ptype = str(data.get("type", "")).rsplit("/", 1)[-1]
        self.tally.record(op, status, ptype, ok=status == expect,
                          deliberate=deliberate is not None and deliberate(
                              status, ptype, answered),
                          detail=raw.decode(errors="replace"))
        return status, data


def price_body(pool_id: str, closes_at: datetime) -> dict[str, Any]:
    return {"pool_id": pool_id, "title": "压测 soak price round", "description": "soak",
            "buyer": {"org": "BENCH-ORG", "name": "压测采购单位"},
            "budget_line": "2026-BENCH-SOAK", "ceiling_price": money(CEILING_CT),
            "closes_at": closes_at.isoformat(), "min_bids": 3,
            "sme_price_deduction": "0.05"}


def fixed_body(pool_id: str, method: str, supplier_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"method": method, "pool_id": pool_id,
                            "title": f"压测 soak {method}", "description": "soak",
                            "buyer": {"org": "BENCH-ORG", "name": "压测采购单位"},
                            "budget_line": "2026-BENCH-SOAK", "amount": "50000.00"}
    if method == "direct_selection":
        body |= {"supplier_id": supplier_id, "justification": JUSTIFICATION}
    return body


async def decide(s: Soak, award: dict[str, Any], accept: bool) -> None:
    """The winner accepts, or declines (the next-ranked or next-in-turn gets an award)."""
    headers = s.suppliers.get(str(award["supplier"]["id"]))
    if headers is None:
        s.tally.record("decide", 0, "unknown-winner", ok=False, detail=str(award["id"]))
        return
    if accept:
        await s.call("accept", "POST", f"/v1/awards/{award['id']}/accept", headers, {}, 200)
    else:
        await s.call("decline", "POST", f"/v1/awards/{award['id']}/decline", headers,
                     {"reason": "soak: capacity taken"}, 200)


async def storm(s: Soak, round_id: str, closes_at: float, seconds: float,
                concurrency: int) -> None:
    """Every supplier bids lower and lower from `seconds` before the close to just after
    it; 2 % repeat their last amount (422 bid-not-lower, deliberate); bids answered
    after the close are 409 round-not-open (deliberate)."""
    await asyncio.sleep(max(0.0, closes_at - seconds - time.time()))
    mine = s.tally.accepted.setdefault(round_id, {})
    last: dict[str, int] = {}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for sid in s.rng.sample(list(s.suppliers), len(s.suppliers)):
        queue.put_nowait(sid)

    async def worker() -> None:
        while time.time() < closes_at + 0.5:
            sid = await queue.get()
            repeat = sid in last and s.rng.random() < 0.02
            cents = last[sid] if repeat else last.get(sid, CEILING_CT) - s.rng.randint(
                100, 50_000)
            def asked_for(status: int, ptype: str, answered: float, repeat: bool = repeat,
                          ) -> bool:
                # Refused as closed only once it is (the database's clock is this
                # machine's); refused as not lower only when it was a deliberate repeat.
                if (status, ptype) == (409, "round-not-open"):
                    return answered >= closes_at - 0.005
                return repeat and (status, ptype) == (422, "bid-not-lower")

            status, data = await s.call(
                "bid", "POST", f"/v1/rounds/{round_id}/bids", s.suppliers[sid],
                {"amount": money(cents)}, 201, deliberate=asked_for)
            if status == 201 and isinstance(data, dict):
                last[sid] = cents
                mine.setdefault(sid, []).append((str(data["id"]), Decimal(data["amount"])))
            queue.put_nowait(sid)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def award_of(s: Soak, round_id: str, within_s: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        status, data = await s.call("round", "GET", f"/v1/rounds/{round_id}", s.center,
                                    None, 200)
        if status == 200 and isinstance(data, dict) and data.get("award"):
            return dict(data["award"])
        await asyncio.sleep(0.5)
    return None


async def price_round(s: Soak, open_s: float, storm_s: float, concurrency: int) -> None:
    closes = datetime.now(UTC) + timedelta(seconds=open_s)
    status, data = await s.call("launch price", "POST", "/v1/rounds", s.center,
                                price_body(s.pool_id, closes), 201)
    if status != 201 or not isinstance(data, dict):
        return
    round_id = str(data["id"])
    s.tally.price_rounds.append(round_id)
    closes_at = datetime.fromisoformat(data["closes_at"]).timestamp()
    await storm(s, round_id, closes_at, storm_s, concurrency)
    award = await award_of(s, round_id, 30)
    if award is None:
        s.tally.record("award", 0, "no-award-in-30s", ok=False, detail=round_id)
        return
    await decide(s, award, accept=s.rng.random() < 0.75)


async def fixed_round(s: Soak, method: str) -> None:
    sid = s.rng.choice(list(s.suppliers)) if method == "direct_selection" else None
    status, data = await s.call(f"launch {method}", "POST", "/v1/rounds", s.center,
                                fixed_body(s.pool_id, method, sid), 201)
    if status != 201 or not isinstance(data, dict):
        return
    s.tally.fixed_rounds.append(str(data["id"]))
    if not data.get("award"):
        s.tally.record(f"launch {method}", status, "no-award", ok=False, detail=str(data))
        return
    await decide(s, data["award"], accept=True)


async def every(seconds: float, until: float, make: Any) -> None:
    """Start `make()` every `seconds` until `until`; wait for all of them."""
    tasks: list[asyncio.Task[None]] = []
    while time.time() < until:
        tasks.append(asyncio.create_task(make()))
        await asyncio.sleep(seconds)
    await asyncio.gather(*tasks)


async def restarts(s: Soak, target: int, seconds: float, until: float) -> None:
    """Restart bidding process `target` every `seconds`: taken out of the rotation,
    a second for its requests in flight, SIGTERM, started again on its port."""
    while time.time() + seconds < until:
        await asyncio.sleep(seconds)
        old = s.bidding[target]
        s.up.remove(old)
        await asyncio.sleep(1.0)
        old.hwm_kb()
        s.hwm[old.name] = old.peak_rss_kb or 0
        t0 = time.perf_counter()
        code = await asyncio.to_thread(old.stop)
        new = Proc(f"bidding-{target + 1}.{len(s.tally.restarts) + 1}", old.argv,
                   {k: v for k, v in old.env.items()}, old.port).start()
        try:
            await new.wait_http("/readyz", within_s=60)
        except (RuntimeError, TimeoutError) as exc:
            s.tally.record("restart", 0, "not-ready", ok=False, detail=str(exc)[-300:])
        s.bidding[target] = new
        s.up.append(new)
        s.tally.restarts.append({"process": old.name, "exit_code": code,
                                 "down_to_ready_s": round(time.perf_counter() - t0, 2),
                                 "at_s": round(time.time() - s.started, 1)})
        if code != 0:
            s.tally.record("restart", 0, f"exit-{code}", ok=False, detail=old.tail(500))


async def sample_rss(s: Soak, every_s: float) -> None:
    while True:
        for p in [*s.bidding, *s.watched]:
            with contextlib.suppress(AssertionError):
                kb = status_kb(p.pid, "VmRSS")
                if kb is not None:
                    s.rss.setdefault(p.name, []).append((time.time() - s.started, kb))
                hwm = p.hwm_kb()
                if hwm is not None:
                    s.hwm[p.name] = max(s.hwm.get(p.name, 0), hwm)
        await asyncio.sleep(every_s)
