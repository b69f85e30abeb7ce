"""The durable round timer: opens and closes rounds, expires awards and budget
reservations finance did not answer by their `reply_by` (finance.md 2), on time.

The deadlines live in the database, so nothing is lost when every process is down: the
first one back handles whatever came due. Each process sleeps until the earliest
deadline (by the database clock), and is woken early by NOTIFY when a round is
launched or extended. Several processes may run it: each close and expiry first claims
its row with `SKIP LOCKED` (another process's work is skipped, not waited for), then
takes the row lock and re-checks, so each round is closed exactly once.

Every round and award is handled on its own: one whose close fails (a statement
timeout, an oversized event) is recorded on its row with a short error code and
retried with a capped exponential backoff, and never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Awaitable, Callable

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
# Closes and expiries one process runs at once (each in its own transaction).
CONCURRENCY = 4
# Shortest sleep between ticks that found nothing left to do.
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
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def tick(self) -> float:
        """Handle everything due now; returns how long to sleep before the next deadline."""
        async with self._db.acquire() as conn:
            await timer_repository.open_due(conn)
            due_rounds = await timer_repository.rounds_due(conn, BATCH)
            due_awards = await timer_repository.awards_expired(conn, BATCH)
            due_budgets = await budget_repo.waiting_due(conn, BATCH)
        await asyncio.gather(
            *(self._guarded("close", rid, self._close) for rid in due_rounds),
            *(self._guarded("expire", aid, self._expire) for aid in due_awards),
            *(self._guarded("budget_timeout", bid, self._budget_timeout)
              for bid in due_budgets))
        if BATCH in (len(due_rounds), len(due_awards), len(due_budgets)):
            return 0
        async with self._db.acquire() as conn:
            now, due = await timer_repository.next_deadline(conn)
            reply_by = await budget_repo.next_reply_by(conn)
        if reply_by is not None and (due is None or reply_by < due):
            due = reply_by
        if due is None:
            return self._max_sleep
        # Something past due that this tick left alone is held by another process: look
        # again shortly rather than spin on it.
        return max(MIN_SLEEP, min(self._max_sleep, (due - now).total_seconds()))

    async def _close(self, round_id: uuid.UUID) -> None:
        await service.close_round(self._db, round_id, self._metrics, self._sealer)

    async def _expire(self, award_id: uuid.UUID) -> None:
        await service.expire_award(self._db, award_id, self._metrics)

    async def _budget_timeout(self, reservation_id: uuid.UUID) -> None:
        await budget.time_out(self._db, reservation_id, self._metrics, self._sealer)

    async def _guarded(self, action: str, item: uuid.UUID,
                       handle: Callable[[uuid.UUID], Awaitable[None]]) -> None:
        """Run one close or expiry; a failure is recorded on its row and backed off."""
        async with self._slots:
            try:
                await handle(item)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                code = failure_code(exc)
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
                return
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
