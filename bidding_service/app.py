"""build_app(settings): the one place the bidding service is wired together."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from bidding_service import SOURCE, ocds
from bidding_service.api import BID_MEMORY, RATE_LIMITER, RECEIPTS, SEALER, api
from bidding_service.bids import service as bid_service
from bidding_service.bids.memory import BidMemory
from bidding_service.bids.receipts import ReceiptSigner
from bidding_service.bids.sealed import Sealer
from bidding_service.budget.consumers import budget_consumer
from bidding_service.eligibility.consumers import on_pool_event
from bidding_service.notices.service import project_notices
from bidding_service.rounds import repository as rounds_repo
from bidding_service.rounds import timer_repository
from bidding_service.rounds.timer import RoundTimer
from bidding_service.settings import BiddingSettings
from shared.app import ServiceSpec, build_service_app
from shared.broker import BUDGET_ANSWER_KEYS, BUDGET_REQUEST_KEYS, QueueSpec
from shared.http import DB, METRICS
from shared.ratelimit import RateLimiter
from shared.settings import ServiceSettings
from shared.uow import register_projection

MIGRATIONS = Path(__file__).parent / "migrations"
# How often the bid path's memory forgets the rounds that take no more bids.
MEMORY_SWEEP_SECONDS = 60.0


def build_app(settings: ServiceSettings, *, run_background: bool = True) -> web.Application:
    assert isinstance(settings, BiddingSettings)
    # Refuses to build without BID_ENCRYPTION_KEY unless DEV_MODE (trust.md 3).
    sealer = Sealer(settings.bid_key())
    # Public notices are a projection of this service's events, in their transaction.
    register_projection(SOURCE, project_notices)
    register_projection(SOURCE, ocds.release_writer(settings))

    async def round_timer(app: web.Application) -> None:
        timer = RoundTimer(app[DB], settings.database_url, settings.db_schema, app[METRICS],
                           settings.timer_max_sleep_seconds, sealer,
                           settings.timer_retry_base_seconds, settings.timer_retry_max_seconds)
        await timer.run()

    async def memory_sweep(app: web.Application) -> None:
        while True:
            await asyncio.sleep(MEMORY_SWEEP_SECONDS)
            await bid_service.forget_closed_rounds(app[DB], app[BID_MEMORY])

    async def rounds_gauge(app: web.Application) -> None:
        async with app[DB].acquire() as conn:
            counts = await rounds_repo.count_rounds_by_status(conn)
            failing = await timer_repository.count_failing_rounds(conn)
        app[METRICS].rounds_close_failing.set(failing)
        for status, n in counts.items():
            app[METRICS].rounds_by_status.labels(status=status).set(n)

    spec = ServiceSpec(
        name="bidding-service",
        api=api,
        # finance.md, "Queues": finance's requests queue, and this service's own queue of
        # finance's answers (declared whatever BUDGET_RESERVATION says: rounds launched
        # with `required` keep their loop when it is turned off).
        queues=[QueueSpec(settings.finance_budget_queue, BUDGET_REQUEST_KEYS),
                QueueSpec(settings.budget_answers_queue, BUDGET_ANSWER_KEYS)],
        consumers=[(settings.pool_events_queue, on_pool_event),
                   (settings.budget_answers_queue,
                    budget_consumer(settings.round_min_duration_seconds, sealer))],
        ordered_sources=["/pool-service"],
        workers=[round_timer, memory_sweep],
        extra_metrics=rounds_gauge,
    )
    app = build_service_app(settings, spec, run_background=run_background)
    app[RATE_LIMITER] = RateLimiter(settings.bid_rate_per_second, settings.bid_rate_burst)
    app[SEALER] = sealer
    app[BID_MEMORY] = BidMemory()
    app[RECEIPTS] = ReceiptSigner.from_seed(settings.receipt_seed(),
                                            settings.retired_receipt_keys())
    return app
