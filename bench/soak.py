"""`python -m bench soak [--minutes 30]`: the long run (not in CI).

Starts a throwaway database and broker names, the pool service and two bidding
processes (`BUDGET_RESERVATION` off: rounds need no budget reply), registers and admits
suppliers through the pool service's API (the bidding service learns them from its
events), then for `--minutes`: a price competition launched every few seconds with a bid
storm across its close, the winner accepting or declining; direct selections and
rotations in between, each accepted; the second bidding process restarted (SIGTERM,
then started again) every `--restart-every` seconds; RSS of every process sampled.

At the end: errors (answers other than the expected ones and the deliberate refusals),
lost bids (every bid answered 201 in the database and, as its supplier's last amount, in
the round's published ranking), rounds left open, the outbox and every queue drained,
RSS slope per process. Writes bench/results/soak-<stamp>.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import orjson

from bench import soak_load, soak_report
from bench.feed import FinanceTap, make_members, wait_eligible
from bench.procs import ROOT, Proc, free_port, python_module, set_log_dir
from bench.scenarios import RESULTS, dumps, git, log
from procure.credit_codes import make_credit_code
from shared.auth import Role, mint_token

QUEUES = ("finance", "pool_events", "awards", "finance_budget", "budget_answers")
SUPPLIERS = 40


def service_env(names: dict[str, str], dsn: str, amqp: str, secret: str, key: bytes,
                port: int) -> dict[str, str]:
    return {"DATABASE_URL": dsn, "AMQP_URL": amqp, "EVENTS_EXCHANGE": names["exchange"],
            "FINANCE_QUEUE": names["finance"], "POOL_EVENTS_QUEUE": names["pool_events"],
            "AWARDS_QUEUE": names["awards"], "FINANCE_BUDGET_QUEUE": names["finance_budget"],
            "BUDGET_ANSWERS_QUEUE": names["budget_answers"], "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port), "METRICS_PORT": str(free_port()), "DEV_MODE": "true",
            "JWT_SECRET": secret, "ROUND_MIN_DURATION_SECONDS": "1",
            "BID_RATE_PER_SECOND": "1000000", "BID_RATE_BURST": "1000000",
            "LOG_LEVEL": "warning", "MIGRATE_ON_START": "false",
            "BID_ENCRYPTION_KEY": base64.b64encode(key).decode()}


async def admit_suppliers(http: aiohttp.ClientSession, pool_url: str,
                          center: dict[str, str]) -> tuple[str, list[str]]:
    """A pool and its members, created over the pool service's API."""
    today = datetime.now(UTC).date()
    async with http.post(f"{pool_url}/v1/pools", headers=center, json={
            "code": f"bench-soak-{uuid.uuid4().hex[:6]}", "name": "压测预选库 soak",
            "category": "public_service", "jurisdiction": "city",
            "valid_from": str(today - timedelta(days=1)),
            "valid_to": str(today + timedelta(days=365)), "price_ceiling": "1000000.00",
            "max_round_budget": "500000.00"}) as r:
        pool = await r.json(loads=orjson.loads)
        if r.status != 201:
            raise RuntimeError(f"create pool: {r.status} {pool}")
    ids = []
    rng = random.Random()
    for m in make_members(SUPPLIERS, seed=rng.randrange(1 << 30)):
        # The pool service checks the code's division and kind prefix too.
        body = {"name": m.name, "credit_code": make_credit_code(m.kind, rng), "kind": m.kind,
                "size": m.size}
        async with http.post(f"{pool_url}/v1/suppliers", headers=center, json=body) as r:
            data = await r.json(loads=orjson.loads)
            if r.status != 201:
                raise RuntimeError(f"register supplier: {r.status} {data}")
        async with http.post(f"{pool_url}/v1/pools/{pool['id']}/members", headers=center,
                             json={"supplier_id": data["id"]}) as r:
            if r.status != 201:
                raise RuntimeError(f"admit: {r.status} {await r.text()}")
        ids.append(str(data["id"]))
    return str(pool["id"]), ids


async def ranking(s: soak_load.Soak, round_id: str) -> dict[str, Decimal] | None:
    """supplier id -> amount in the round's published ranking (every page)."""
    shown: dict[str, Decimal] = {}
    cursor = None
    while True:
        q = "?limit=200" + (f"&cursor={cursor}" if cursor else "")
        status, data = await s.call("ranking", "GET", f"/v1/rounds/{round_id}/ranking{q}",
                                    {}, None, 200)
        if status != 200 or not isinstance(data, dict):
            return None
        shown |= {str(i["supplier_id"]): Decimal(i["amount"]) for i in data["items"]}
        cursor = data.get("next_cursor")
        if not cursor:
            return shown


async def drained(dsn: str, amqp: str, names: dict[str, str], within_s: float,
                  ) -> dict[str, Any]:
    """Wait until no outbox row is unpublished and every queue is empty (or time is up)."""
    deadline = time.monotonic() + within_s
    conn = await asyncpg.connect(dsn)
    broker = await aio_pika.connect(amqp, timeout=10)
    try:
        while True:
            outbox = {schema: int(await conn.fetchval(
                f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"))
                for schema in ("bidding", "pool")}
            queues = {}
            for key in QUEUES:
                for name in (names[key], names[key] + ".dlq"):
                    channel = await broker.channel()
                    try:
                        q = await channel.declare_queue(name, passive=True)
                        queues[name] = q.declaration_result.message_count or 0
                    except aio_pika.exceptions.ChannelClosed:
                        pass  # not declared (no dead-letter queue for it): nothing waits
                    with contextlib.suppress(Exception):
                        await channel.close()
            total = sum(outbox.values())
            if (total == 0 and not any(queues.values())) or time.monotonic() > deadline:
                return {"outbox": outbox, "outbox_total": total, "queues": queues}
            await asyncio.sleep(1.0)
    finally:
        await conn.close()
        await broker.close()


async def workload(s: soak_load.Soak, args: argparse.Namespace) -> None:
    until = time.time() + args.minutes * 60
    kinds = ["direct_selection", "rotation"]

    async def fixed() -> None:
        kinds.reverse()
        await soak_load.fixed_round(s, kinds[0])

    sampler = asyncio.create_task(soak_load.sample_rss(s, 5.0))
    try:
        await asyncio.gather(
            soak_load.every(args.price_every, until, lambda: soak_load.price_round(
                s, open_s=args.price_open, storm_s=3.0, concurrency=12)),
            soak_load.every(args.fixed_every, until, fixed),
            soak_load.restarts(s, 1, args.restart_every, until))
    finally:
        sampler.cancel()


async def checks(s: soak_load.Soak, dsn: str, amqp: str, names: dict[str, str],
                 ) -> dict[str, Any]:
    t = s.tally
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "bidding"})
    try:
        ids = [bid for by in t.accepted.values() for bids in by.values() for bid, _ in bids]
        stored = {str(r["id"]) for r in await conn.fetch(
            "SELECT id FROM bids WHERE id = ANY($1::uuid[])", ids)}
        statuses = {str(r["id"]): r["status"] for r in await conn.fetch(
            "SELECT id, status FROM rounds WHERE id = ANY($1::uuid[])", t.price_rounds)}
    finally:
        await conn.close()
    shown = {}
    for rid in t.accepted:
        got = await ranking(s, rid)
        if got is not None:
            shown[rid] = got
    unreceived = [rid for rid in t.price_rounds
                  if ("award.published", rid) not in s.finance_arrivals]
    return {"lost": soak_report.lost_bids(t.accepted, stored, shown),
            "left_open": sum(1 for v in statuses.values() if v in ("open", "scheduled")),
            "price_statuses": dict(sorted(
                {v: list(statuses.values()).count(v) for v in set(statuses.values())}.items())),
            "award_not_received": unreceived,
            "drain": await drained(dsn, amqp, names, 90)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.time()
    run_id = uuid.uuid4().hex[:8]
    database = f"bench_{run_id}"
    dsn = f"{args.admin_dsn.rpartition('/')[0]}/{database}"
    names = {"exchange": f"bench.{run_id}.events"} | {
        k: f"bench.{run_id}.{k.replace('_', '-')}" for k in QUEUES}
    secret, key = "bench-secret-" + uuid.uuid4().hex, os.urandom(32)
    set_log_dir(f"soak-{run_id}")
    log(f"soak {run_id}: {args.minutes:g} min, database {database}")
    admin = await asyncpg.connect(args.admin_dsn)
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    procs: list[Proc] = []
    s: soak_load.Soak | None = None
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    tap = FinanceTap(args.amqp_url, names["finance"])
    result: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                              "git": git("log", "-1", "--format=%h"), "minutes": args.minutes}
    try:
        base_env = service_env(names, dsn, args.amqp_url, secret, key, free_port())
        for service in ("bidding_service", "pool_service"):
            done = await asyncio.to_thread(
                subprocess.run, python_module(service, "migrate"), cwd=ROOT,
                env={**os.environ, **base_env}, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{service} migrate: {done.stdout}{done.stderr}")
        for name, module in (("pool-service", "pool_service"), ("bidding-1", "bidding_service"),
                             ("bidding-2", "bidding_service")):
            port = free_port()
            procs.append(Proc(name, python_module(module),
                              service_env(names, dsn, args.amqp_url, secret, key, port),
                              port).start())
        for p in procs:
            await p.wait_http("/readyz", within_s=120)
        await tap.start()
        center = {"Authorization": "Bearer " + mint_token(
            secret, Role.PROCUREMENT_CENTER, sub="bench-center", ttl_seconds=4 * 3600)}
        pool_id, ids = await admit_suppliers(http, procs[0].url, center)
        await wait_eligible(http, procs[1].url, center, uuid.UUID(pool_id), len(ids))
        suppliers = {sid: {"Authorization": "Bearer " + mint_token(
            secret, Role.SUPPLIER, sub=f"supplier-{sid}", supplier_id=uuid.UUID(sid),
            ttl_seconds=4 * 3600)} for sid in ids}
        s = soak_load.Soak(http=http, bidding=procs[1:], up=list(procs[1:]), center=center,
                           suppliers=suppliers, watched=procs[:1], pool_id=pool_id,
                           tally=soak_load.Tally(), rng=random.Random(run_id),
                           finance_arrivals=tap.arrivals)
        log("workload")
        await workload(s, args)
        log("checks and drain")
        result |= await checks(s, dsn, args.amqp_url, names)
        for p in [*s.bidding, *s.watched]:
            p.hwm_kb()
            s.hwm[p.name] = max(s.hwm.get(p.name, 0), p.peak_rss_kb or 0)
        t = s.tally
        result |= {
            "errors": dict(t.errors), "deliberate": dict(t.deliberate),
            "answers": dict(t.answers), "error_samples": t.error_samples,
            "restarts": t.restarts, "rss": soak_report.rss_trend(s.rss),
            "rss_samples": s.rss, "hwm_kb": s.hwm,
            "processes": {"restart_target": "bidding-2", "restart_every_s": args.restart_every},
            "counts": {"price_rounds": len(t.price_rounds), "fixed_rounds": len(t.fixed_rounds),
                       "price_statuses": result.get("price_statuses")}}
        if result["award_not_received"]:
            t.errors["award.published not received"] = len(result["award_not_received"])
            result["errors"] = dict(t.errors)
    finally:
        # Restarted processes replaced their first incarnation in s.bidding.
        for p in {id(p): p for p in [*procs, *(s.bidding if s else [])]}.values():
            p.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(tap.close(), 10)
        await http.close()
        if not args.keep:
            await cleanup(args, database, names)
    result["elapsed_s"] = time.time() - started
    write(result, args)
    return result


async def cleanup(args: argparse.Namespace, database: str, names: dict[str, str]) -> None:
    conn = await asyncpg.connect(args.admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()
    with contextlib.suppress(Exception):
        broker = await aio_pika.connect(args.amqp_url, timeout=10)
        async with broker:
            for name in [n for k in QUEUES for n in (names[k], names[k] + ".dlq")]:
                channel = await broker.channel()
                with contextlib.suppress(Exception):
                    await channel.queue_delete(name, timeout=10)
            channel = await broker.channel()
            await channel.exchange_delete(names["exchange"], timeout=10)


def write(result: dict[str, Any], args: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = args.out or "soak-" + time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{stem}.json").write_bytes(dumps(result))
    if "lost" in result:
        text = soak_report.markdown(result)
        (RESULTS / f"{stem}.md").write_text(text)
        print(text, flush=True)
    log(f"wrote bench/results/{stem}.json" + (" and .md" if "lost" in result else ""))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--restart-every", type=float, default=None,
                        help="seconds between restarts of bidding-2 (default: 180, or a "
                             "third of a shorter soak)")
    parser.add_argument("--price-every", type=float, default=6.0,
                        help="seconds between price competition launches")
    parser.add_argument("--price-open", type=float, default=12.0,
                        help="seconds a price competition is open")
    parser.add_argument("--fixed-every", type=float, default=3.0,
                        help="seconds between direct selection / rotation launches")
    parser.add_argument("--keep", action="store_true", help="keep the database and queues")
    parser.add_argument("--out", default=None, help="results file stem")
    parser.add_argument("--admin-dsn", default=os.environ.get(
        "BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--amqp-url", default=os.environ.get(
        "BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    args = parser.parse_args(argv)
    if args.restart_every is None:
        args.restart_every = min(180.0, args.minutes * 60 / 3)
    try:
        import uvloop
        result = uvloop.run(run(args))
    except ImportError:  # pragma: no cover
        result = asyncio.run(run(args))
    ok = all(met for _, _, met in soak_report.verdict(result)) if "lost" in result else False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
