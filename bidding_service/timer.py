"""The durable round timer: opens and closes rounds and expires awards on time.

The deadlines live in the database, so nothing is lost when every process is down: the
first one back handles whatever came due. Each process sleeps until the earliest
deadline (by the database clock), and is woken early by NOTIFY when a round is
launched or extended. Several processes may run it: the close takes the round's row
lock and re-checks, so each round is closed exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog

from bidding_service import repository as repo
from bidding_service import service
from bidding_service.sealed import Sealer
from shared.db import listen_forever
from shared.metrics import Metrics

log = structlog.get_logger(__name__)

BATCH = 50


class RoundTimer:
    def __init__(self, db: asyncpg.Pool, dsn: str, schema: str, metrics: Metrics,
                 max_sleep: float, sealer: Sealer) -> None:
        self._db = db
        self._dsn = dsn
        self._schema = schema
        self._metrics = metrics
        self._max_sleep = max_sleep
        self._sealer = sealer
        self._wake = asyncio.Event()

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
            await repo.open_due(conn)
            due_rounds = await repo.rounds_due(conn, BATCH)
            due_awards = await repo.awards_expired(conn, BATCH)
        for round_id in due_rounds:
            await service.close_round(self._db, round_id, self._metrics, self._sealer)
        for award_id in due_awards:
            await service.expire_award(self._db, award_id, self._metrics)
        if len(due_rounds) == BATCH or len(due_awards) == BATCH:
            return 0
        async with self._db.acquire() as conn:
            now, due = await repo.next_deadline(conn)
        if due is None:
            return self._max_sleep
        return max(0.0, min(self._max_sleep, (due - now).total_seconds()))
