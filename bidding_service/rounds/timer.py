"""The durable round timer: opens and closes rounds, expires awards and budget
reservations finance did not answer by their `reply_by` (finance.md 2), on time.

The deadlines live in the database, so nothing is lost when every process is down: the
first one back handles whatever came due. Each process sleeps until the earliest
deadline (by the database clock), and is woken early by NOTIFY when a round is
launched or extended. Several processes may run it: each close and expiry first claims
its row with `SKIP LOCKED` (another process's work is skipped, not waited for), then
takes the row lock and re-checks, so each round is closed exactly once.

Closes run on up to `CLOSERS` workers per process, each claiming the earliest due
round nobody holds in the due query itself (`close_next_due`) and going on to the next
as soon as its close commits: no tick waits for the slowest close of a batch, and two
processes never start on the same round. When many small rounds are due at once, a
worker closes a few of them in one transaction (one commit, one append to the audit
chain, whose lock every close takes); if that transaction fails, it closes them again
one by one, so only the failing round is recorded and backed off.

Every round and award is handled on its own: one whose close fails (a statement
timeout, an oversized event) is recorded on its row with a short error code and
retried with a capped exponential backoff, and never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
import structlog

from bidding_service.awards import service
from bidding_service.bids.sealed import Sealer
from bidding_service.budget import repository as budget_repo
from bidding_service.budget import service as budget
from bidding_service.rounds import timer_repository
from shared.db import listen_forever
from shared.metrics import Metrics

log = structlog.get_logger(__name__)

BATCH = 50
# Closes one process runs at once, each in its own transaction on its own connection
# (of the pool's 20 by default: bids keep the rest).
CLOSERS = 8
# Award expiries and budget timeouts one process runs at once.
CONCURRENCY = 4
# Sleep between ticks while something past due is handled elsewhere or backs off.
MIN_SLEEP = 0.05

_SQLSTATE = re.compile(r"^[0-9A-Z]{5}$")


def failure_code(exc: BaseException) -> str:
    """A short code for a failure that carries no data: the SQLSTATE of a database
    error, else the exception's class name (never its message: it may quote a row)."""
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and _SQLSTATE.match(sqlstate):
        return f"sqlstate-{sqlstate}"
    return re.sub(r"[^A-Za-z0-9]", "", type(exc).__name__)[:48] or "error"


class RoundTimer:
    def __init__(self, db: asyncpg.Pool, dsn: str, schema: str, metrics: Metrics,
                 max_sleep: float, sealer: Sealer, retry_base: float = 1.0,
                 retry_max: float = 300.0) -> None:
        self._db = db
        self._dsn = dsn
        self._schema = schema
        self._metrics = metrics
        self._max_sleep = max_sleep
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._sealer = sealer
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._closers: set[asyncio.Task[None]] = set()
        self._handling: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def run(self) -> None:
        listener = asyncio.create_task(
            listen_forever(self._dsn, f"round_timer_{self._schema}", self._wake.set))
        try:
            while True:
                try:
                    delay = await self.tick()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("round_timer_error", error=type(exc).__name__,
                                detail=str(exc)[:200])
                    delay = 0.5
                self._wake.clear()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
        finally:
            listener.cancel()
            work = [listener, *self._closers, *self._handling.values()]
            for task in work:
                task.cancel()
            await asyncio.gather(*work, return_exceptions=True)

    async def tick(self) -> float:
        """Start on everything due now; returns how long to sleep before the next deadline.

        Closes and expiries run on in the background (`settle` waits for them)."""
        async with self._db.acquire() as conn:
            await timer_repository.open_due(conn)
            due_rounds = await timer_repository.rounds_due(conn, CLOSERS)
            due_awards = await timer_repository.awards_expired(conn, BATCH)
            due_budgets = await budget_repo.waiting_due(conn, BATCH)
        for _ in range(min(len(due_rounds), CLOSERS - len(self._closers))):
            self._spawn(self._closer(), self._closers)
        for action, items, handle in (("expire", due_awards, self._expire),
                                      ("budget_timeout", due_budgets, self._budget_timeout)):
            for item in items:
                if item not in self._handling:
                    self._start(action, item, handle)
        async with self._db.acquire() as conn:
            now, due = await timer_repository.next_deadline(conn)
            reply_by = await budget_repo.next_reply_by(conn)
        if reply_by is not None and (due is None or reply_by < due):
            due = reply_by
        if due is None:
            return self._max_sleep
        wait = (due - now).total_seconds()
        if wait <= 0:
            # Something past due is being handled (here or by another process) or backs
            # off: look again shortly rather than spin on it.
            return MIN_SLEEP
        # A deadline ahead: wake exactly then (a floor here would make every close that
        # comes due within it late by up to the floor).
        return min(self._max_sleep, wait)

    async def settle(self) -> None:
        """Wait for the closes and expiries started so far (tests, shutdown)."""
        while self._closers or self._handling:
            await asyncio.gather(*self._closers, *self._handling.values(),
                                 return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]],
               ) -> None:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _start(self, action: str, item: uuid.UUID,
               handle: Callable[[uuid.UUID], Awaitable[None]]) -> None:
        task = asyncio.create_task(self._guarded(action, item, handle))
        self._handling[item] = task

        def done(_task: asyncio.Task[None]) -> None:
            self._handling.pop(item, None)

        task.add_done_callback(done)

    async def _closer(self) -> None:
        """Close due rounds one transaction after the other until none is left."""
        while True:
            try:
                if not await service.close_next_due(self._db, self._metrics, self._sealer):
                    return
            except asyncio.CancelledError:
                raise
            except service.BatchFailed as failed:
                # Rolled back together: one by one, so only the failing round backs off.
                for round_id in failed.round_ids:
                    if not await self._close_alone(round_id):
                        return
            except service.CloseFailed as failed:
                if not await self._close_failed(failed):
                    return  # not backed off: the next tick tries again
            except Exception as exc:  # no round claimed: the database itself is failing
                log.warning("round_timer_error", error=type(exc).__name__,
                            detail=str(exc)[:200])
                return  # the next tick starts again

    async def _close_alone(self, round_id: uuid.UUID) -> bool:
        """Close one round of a failed batch; False when even recording a failure failed."""
        try:
            await service.close_due_round(self._db, round_id, self._metrics, self._sealer)
            return True
        except asyncio.CancelledError:
            raise
        except service.CloseFailed as failed:
            return await self._close_failed(failed)

    async def _close_failed(self, failed: service.CloseFailed) -> bool:
        cause = failed.__cause__ if failed.__cause__ is not None else failed
        return await self._record_failure("close", failed.round_id, failure_code(cause))

    async def _expire(self, award_id: uuid.UUID) -> None:
        await service.expire_award(self._db, award_id, self._metrics)

    async def _budget_timeout(self, reservation_id: uuid.UUID) -> None:
        await budget.time_out(self._db, reservation_id, self._metrics, self._sealer)

    async def _guarded(self, action: str, item: uuid.UUID,
                       handle: Callable[[uuid.UUID], Awaitable[None]]) -> None:
        """Run one expiry or budget timeout; a failure is recorded on its row and backed
        off."""
        async with self._slots:
            try:
                await handle(item)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                code = failure_code(exc)
            await self._record_failure(action, item, code)

    async def _record_failure(self, action: str, item: uuid.UUID, code: str) -> bool:
        """Count a failure and back its row off; False when even that failed."""
        self._metrics.timer_failures.labels(action=action, error=code).inc()
        record = {"close": timer_repository.record_close_failure,
                  "expire": timer_repository.record_expiry_failure,
                  "budget_timeout": budget_repo.record_timeout_failure}[action]
        try:
            async with self._db.acquire() as conn:
                retry = await record(conn, item, code, self._retry_base, self._retry_max)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database itself is failing: the loop retries
            log.error("round_timer_record_failed", action=action, id=str(item),
                      error=code, record_error=failure_code(exc))
            return False
        attempts, next_at = retry if retry is not None else (None, None)
        when = next_at.isoformat() if next_at else None
        if action == "close":
            log.error("round_close_failed", round_id=str(item), attempt=attempts,
                      error=code, next_attempt_at=when)
        elif action == "budget_timeout":
            log.error("budget_timeout_failed", reservation_id=str(item),
                      attempt=attempts, error=code, next_attempt_at=when)
        else:
            log.error("award_expiry_failed", award_id=str(item), attempt=attempts,
                      error=code, next_attempt_at=when)
        return True
