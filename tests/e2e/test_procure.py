"""`procure` against the services as real processes: the demo end to end, `procure run`
started and stopped with SIGINT, and the finance listener's exactly-once file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import aiohttp
import asyncpg
import orjson
import pytest

from procure.credit_codes import make_credit_code
from shared.auth import Role, mint_token
from shared.broker import FINANCE_KEYS, QueueSpec, declare_events_exchange, declare_queue
from shared.events import new_event
from tests.conftest import ADMIN_DSN
from tests.support import ROOT, ServiceProcess, free_port

pytestmark = pytest.mark.e2e
PROCURE = [sys.executable, "-m", "procure"]


@pytest.fixture(scope="module")
async def procure_env(service_env: dict[str, str]) -> AsyncIterator[dict[str, str]]:
    """A database and broker names of their own (default schemas `pool` and `bidding`,
    as `procure run` uses them), so in-process apps of other tests never compete."""
    base, _, name = service_env["DATABASE_URL"].rpartition("/")
    db_name = f"{name}_procure"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{db_name}"')
    finally:
        await admin.close()
    suffix = ".procure"
    env = {**service_env, "DATABASE_URL": f"{base}/{db_name}", "LOG_LEVEL": "info",
           "ROUND_MIN_DURATION_SECONDS": "1", "TIMER_MAX_SLEEP_SECONDS": "0.2",
           "BID_RATE_PER_SECOND": "1000", "BID_RATE_BURST": "1000",
           **{key: service_env[key] + suffix for key in
              ("EVENTS_EXCHANGE", "AWARDS_QUEUE", "POOL_EVENTS_QUEUE", "FINANCE_QUEUE",
               "FINANCE_BUDGET_QUEUE", "BUDGET_ANSWERS_QUEUE")}}
    yield env
    # Best effort: a broker that is down now must not hide the tests' own outcome.
    with contextlib.suppress(Exception):
        conn = await aio_pika.connect(env["AMQP_URL"], timeout=10)
        try:
            channel = await conn.channel()
            for key in ("AWARDS_QUEUE", "POOL_EVENTS_QUEUE", "FINANCE_QUEUE",
                        "FINANCE_BUDGET_QUEUE", "BUDGET_ANSWERS_QUEUE"):
                for queue in (env[key], env[key] + ".dlq"):
                    await channel.queue_delete(queue)
            await channel.exchange_delete(env["EVENTS_EXCHANGE"])
        finally:
            await conn.close()
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    finally:
        await admin.close()


def _env(procure_env: dict[str, str], **extra: str) -> dict[str, str]:
    return {**os.environ, **procure_env, **extra}


async def _procure(env: dict[str, str], *args: str, timeout: float = 60,
                   ) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *PROCURE, *args, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"procure {' '.join(args)} hung:\n{out.decode()[-3000:]}\n"
                             f"{err.decode()[-3000:]}") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _python_m(env: dict[str, str], *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *args, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()[-2000:]


# ---------------------------------------------------------------- the demo


@pytest.mark.timeout(240)
async def test_demo_awards_a_round_that_finance_records(procure_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    await _python_m(_env(procure_env), "pool_service", "seed")
    # The bidding service first, so its queue is bound before the seed's pool.created
    # events are relayed (as `procure run` does it).
    bidding = await ServiceProcess("bidding_service", procure_env).start()
    pool = await ServiceProcess("pool_service", procure_env).start()
    services = [pool, bidding]
    awards_file = tmp_path / "awards.jsonl"
    try:
        code, out, err = await _procure(
            _env(procure_env, POOL_URL=pool.url, BIDDING_URL=bidding.url),
            "demo", "--non-interactive", "--round-seconds", "8", "--seed", "42",
            "--finance-out", str(awards_file), timeout=180)
        assert code == 0, f"{out[-4000:]}\n{err[-4000:]}"
        last = out.strip().splitlines()[-1]
        match = re.fullmatch(r"AWARD (\S+) (\S+) (\d+\.\d{2})", last)
        assert match, last
        award_id, supplier_id, amount = match.groups()

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{bidding.url}/v1/awards/{award_id}") as resp:
                assert resp.status == 200
                award = await resp.json()
            async with http.get(f"{bidding.url}/v1/rounds/{award['round_id']}") as resp:
                rnd = await resp.json()
        assert (award["id"], award["supplier"]["id"], award["amount"]) == \
            (award_id, supplier_id, amount)
        assert award["status"] == "accepted"
        assert rnd["award"]["id"] == award_id and rnd["ranking"][0]["rank"] == 1

        # The finance listener wrote that award once, and no event twice.
        events = [orjson.loads(line) for line in awards_file.read_bytes().splitlines()]
        published = [e for e in events if e["type"] == "award.published"
                     and e["data"]["id"] == award_id]
        assert len(published) == 1
        data = published[0]["data"]
        assert (data["supplier"]["id"], data["amount"]) == (supplier_id, amount)
        assert any(e["type"] == "award.accepted" and e["data"]["award_id"] == award_id
                   for e in events)
        assert len({e["id"] for e in events}) == len(events)

        # Sealed: until the award nothing the demo printed carried an amount.
        lines = out.splitlines()
        cut = next(i for i, line in enumerate(lines)
                   if "award.published" in line or "round awarded" in line)
        before = "\n".join(lines[:cut])
        assert "placed a sealed bid" in before
        for entry in rnd["ranking"]:
            for shown in (entry["amount"], f"{float(entry['amount']):,.2f}"):
                assert shown not in before, shown
        # The supplier suspended mid-round was refused.
        assert "bid refused (403)" in before

        code, shown, err = await _procure(
            _env(procure_env, BIDDING_URL=bidding.url), "rounds", "show", award["round_id"])
        assert code == 0, err
        assert award["supplier"]["name"] in shown and "accepted" in shown
    finally:
        for service in services:
            assert service.terminate() == 0


# ---------------------------------------------------------------- procure run


def _pids(output: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"\((?:API docs \S+, )?pid (\d+)\)", output)]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


def _announced(log: Path) -> bool:
    return "press Ctrl-C to stop" in log.read_text()


async def _wait_ready(http: aiohttp.ClientSession, urls: list[str],
                      proc: subprocess.Popen[bytes], log: Path) -> None:
    """Both /readyz answer 200 and `procure run` said where the services listen."""
    for _ in range(600):
        assert proc.poll() is None, _tail(log)
        ready = 0
        for url in urls:
            try:
                async with http.get(url + "/readyz") as resp:
                    ready += resp.status == 200
            except aiohttp.ClientError:
                pass
        if ready == len(urls) and _announced(log):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("procure run never became ready:\n" + _tail(log))


async def _admit_suppliers(http: aiohttp.ClientSession, pool_url: str, bidding_url: str,
                           secret: str, pool_id: str, n: int) -> list[str]:
    center = {"Authorization": f"Bearer {mint_token(secret, Role.PROCUREMENT_CENTER)}"}
    ids = []
    for i in range(n):
        code = make_credit_code("enterprise", random.Random(uuid.uuid4().int))
        async with http.post(f"{pool_url}/v1/suppliers", headers=center, json={
                "name": f"温州测试服务有限公司{i}", "credit_code": code,
                "kind": "enterprise", "size": "small"}) as resp:
            assert resp.status == 201, await resp.text()
            ids.append((await resp.json())["id"])
        async with http.post(f"{pool_url}/v1/pools/{pool_id}/members", headers=center,
                             json={"supplier_id": ids[-1]}) as resp:
            assert resp.status == 201, await resp.text()
    for _ in range(200):
        async with http.get(f"{bidding_url}/v1/pools/{pool_id}/eligible",
                            headers=center) as resp:
            if set(ids) <= set((await resp.json())["supplier_ids"]):
                return ids
        await asyncio.sleep(0.1)
    raise AssertionError("the bidding service never learned the admissions")


@pytest.mark.timeout(180)
async def test_run_serves_both_services_and_sigint_stops_them_cleanly(
        procure_env: dict[str, str], tmp_path: Path) -> None:
    pool_url = f"http://127.0.0.1:{free_port()}"
    bidding_url = f"http://127.0.0.1:{free_port()}"
    portal_url = f"http://127.0.0.1:{free_port()}"
    env = _env(procure_env, POOL_URL=pool_url, BIDDING_URL=bidding_url, PORTAL_URL=portal_url)
    log = tmp_path / "procure-run.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([*PROCURE, "run"], env=env, cwd=ROOT, stdout=sink,
                                stderr=subprocess.STDOUT)
    pids: list[int] = []
    try:
        async with aiohttp.ClientSession() as http:
            await _wait_ready(http, [pool_url, bidding_url, portal_url], proc, log)
            pids = _pids(_tail(log))
            assert len(pids) == 3, _tail(log)

            # Work through the services so both outboxes have events to relay.
            code, listed, err = await _procure(env, "pools", "list", "--json")
            assert code == 0, err
            trips = next(p for p in map(orjson.loads, listed.splitlines())
                         if p["code"] == "overseas-study-trips")
            secret = procure_env["JWT_SECRET"]
            ids = await _admit_suppliers(http, pool_url, bidding_url, secret, trips["id"], 3)
            code, launched, err = await _procure(
                env, "rounds", "launch", "--pool", "overseas-study-trips", "--title",
                "2027年赴新加坡城市治理考察", "--ceiling", "150000", "--minutes", "0.1",
                "--min-bids", "2", "--json")
            assert code == 0, err
            rnd = orjson.loads(launched)
            assert rnd["status"] == "open" and rnd["invited_count"] >= 3
            for supplier_id, amount in zip(ids, ("121000.00", "118500.00"), strict=False):
                token = mint_token(secret, Role.SUPPLIER, supplier_id=supplier_id)
                async with http.post(f"{bidding_url}/v1/rounds/{rnd['id']}/bids",
                                     headers={"Authorization": f"Bearer {token}"},
                                     json={"amount": amount}) as resp:
                    assert resp.status == 201, await resp.text()
            code, watched, err = await _procure(env, "rounds", "watch", rnd["id"])
            assert code == 0, err
            sealed, _, notice = watched.partition("result notice")
            assert "2 bids from 2 of" in sealed and "round closed" in sealed
            assert "118,500" not in sealed and "121,000" not in sealed
            assert "118,500.00 CNY" in notice and "ranking of 2 valid bids" in notice
            # The portal it started shows the result notice.
            async with http.get(f"{portal_url}/rounds/{rnd['id']}?lang=en") as resp:
                page = await resp.text()
                assert resp.status == 200 and "¥118,500.00" in page, page[-2000:]

        proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(proc.wait, 60) == 0, log.read_text()[-3000:]
        output = log.read_text()
        assert "stopped; nothing left running" in output
        for _ in range(50):
            if all(_gone(pid) for pid in pids):
                break
            await asyncio.sleep(0.1)
        assert all(_gone(pid) for pid in pids), output[-3000:]
        async with aiohttp.ClientSession() as http:
            for url in (pool_url, bidding_url, portal_url):
                with pytest.raises(aiohttp.ClientConnectionError):
                    await http.get(url + "/healthz")

        # It served the environment's database, and nothing committed stayed unsent.
        conn = await asyncpg.connect(procure_env["DATABASE_URL"])
        try:
            for schema in ("pool", "bidding"):
                total, unsent = await conn.fetchrow(
                    f"SELECT count(*), count(*) FILTER (WHERE published_at IS NULL)"
                    f" FROM {schema}.outbox")
                assert total > 0 and unsent == 0, (schema, total, unsent)
        finally:
            await conn.close()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for pid in pids:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(("variable", "what"), [("AMQP_URL", "RabbitMQ"),
                                                ("DATABASE_URL", "PostgreSQL")])
async def test_run_says_what_to_start_when_infrastructure_is_down(
        procure_env: dict[str, str], variable: str, what: str) -> None:
    port = free_port()
    dead = {"AMQP_URL": f"amqp://guest:guest@127.0.0.1:{port}/",
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/postgres"}[variable]
    code, out, err = await _procure(
        _env(procure_env, **{variable: dead, "POOL_URL": f"http://127.0.0.1:{free_port()}",
                             "BIDDING_URL": f"http://127.0.0.1:{free_port()}",
                             "PORTAL_URL": f"http://127.0.0.1:{free_port()}"}), "run")
    assert code == 3, out + err
    assert what in err and f"127.0.0.1:{port}" in err and "scripts/services" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------- finance listen


@pytest.mark.timeout(120)
async def test_finance_listen_writes_each_event_once_across_redeliveries(
        procure_env: dict[str, str], tmp_path: Path) -> None:
    queue = f"{procure_env['FINANCE_QUEUE']}.listen-{uuid.uuid4().hex[:6]}"
    awards_file = tmp_path / "awards.jsonl"
    award = {"id": str(uuid.uuid4()), "amount": "98000.00", "currency": "CNY",
             "budget_line": "B-1", "supplier": {"name": "温州市国际商会"}}
    published = new_event("/bidding-service", "award.published", award["id"], award)
    accepted = new_event("/bidding-service", "award.accepted", award["id"],
                         {"award_id": award["id"], "round_id": str(uuid.uuid4()),
                          "supplier_id": str(uuid.uuid4()), "at": published.time.isoformat()})
    # As if a listener crashed after writing `published` and before acknowledging it.
    awards_file.write_bytes(orjson.dumps(published.to_json_dict()) + b"\n")

    conn = await aio_pika.connect(procure_env["AMQP_URL"])
    try:
        channel = await conn.channel()
        exchange = await declare_events_exchange(channel, procure_env["EVENTS_EXCHANGE"])
        await declare_queue(channel, exchange, QueueSpec(queue, FINANCE_KEYS))
        for body, key in ((orjson.dumps(published.to_json_dict()), "award.published"),
                          (b"not json", "award.published"),
                          (orjson.dumps(accepted.to_json_dict()), "award.accepted")):
            await exchange.publish(aio_pika.Message(body, content_type="application/json"),
                                   routing_key=key)
        env = _env(procure_env)
        code, out, err = await _procure(env, "--finance-queue", queue, "finance", "listen",
                                        "--out", str(awards_file), "--count", "1",
                                        "--timeout", "30")
        assert code == 0, out + err
        lines = [orjson.loads(line) for line in awards_file.read_bytes().splitlines()]
        assert [e["id"] for e in lines] == [str(published.id), str(accepted.id)]
        assert "already recorded, skipped" in out and "award.accepted" in out
        assert "not a CloudEvent" in err

        # Nothing is left to deliver; the poison message went to the dead-letter queue.
        main = await channel.declare_queue(queue, passive=True)
        dlq = await channel.declare_queue(f"{queue}.dlq", passive=True)
        assert main.declaration_result.message_count == 0
        assert dlq.declaration_result.message_count == 1
        # `procure dlq list` shows it with why it died, and leaves it there.
        code, out, err = await _procure(env, "dlq", "list", f"{queue}.dlq", "--json")
        assert code == 0, out + err
        listed = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert [(d["reason"], d["queue"], d["type"]) for d in listed] == \
            [("rejected", queue, "award.published")]
        dlq = await channel.declare_queue(f"{queue}.dlq", passive=True)
        assert dlq.declaration_result.message_count == 1

        # One round's events delivered out of order: recorded as they came, each with
        # its sequence, and read back in sequence order.
        round_id = str(uuid.uuid4())
        rank1, rank2 = str(uuid.uuid4()), str(uuid.uuid4())
        round_events = [
            new_event("/bidding-service", "award.published", rank1,
                      {"id": rank1, "round_id": round_id, "rank": 1}, sequence=1),
            new_event("/bidding-service", "award.declined", rank1,
                      {"award_id": rank1, "round_id": round_id, "reason": "x"}, sequence=2),
            new_event("/bidding-service", "award.published", rank2,
                      {"id": rank2, "round_id": round_id, "rank": 2}, sequence=3)]
        for event in (round_events[0], round_events[2], round_events[1]):
            await exchange.publish(aio_pika.Message(event.to_json(),
                                                    content_type="application/json"),
                                   routing_key=event.type)
        code, out, err = await _procure(env, "--finance-queue", queue, "finance", "listen",
                                        "--out", str(awards_file), "--count", "3",
                                        "--timeout", "30")
        assert code == 0, out + err
        assert "arrived after sequence 3" in err
        from procure.finance import AwardsFile, in_order

        recorded = AwardsFile(awards_file).events()
        assert [e.get("sequence") for e in recorded[2:]] == ["1", "3", "2"]
        ordered = [e for e in in_order(recorded) if e.get("partitionkey") == round_id]
        assert [(e["type"], e["sequence"]) for e in ordered] == [
            ("award.published", "1"), ("award.declined", "2"), ("award.published", "3")]

        # With nothing new, a bounded listen ends without writing anything.
        code, out, err = await _procure(env, "--finance-queue", queue, "finance", "listen",
                                        "--out", str(awards_file), "--timeout", "1")
        assert code == 0, out + err
        assert len(awards_file.read_bytes().splitlines()) == 5
        await channel.queue_delete(queue)
        await channel.queue_delete(f"{queue}.dlq")
    finally:
        await conn.close()
