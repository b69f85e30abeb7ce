"""Services as real processes against the session's throwaway database and broker names."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bidding_service.app import MIGRATIONS
from shared.migrations import migrate


@pytest.fixture(scope="session")
async def e2e_env(service_env: dict[str, str]) -> dict[str, str]:
    # A schema and queues of their own: in-process apps of other tests in this session
    # must not compete with the processes (they would close rounds or take events).
    env = {**service_env, "LOG_LEVEL": "info", "TIMER_MAX_SLEEP_SECONDS": "0.2",
           "BID_RATE_PER_SECOND": "1000", "BID_RATE_BURST": "1000",
           "DB_SCHEMA": "bidding_e2e",
           "AWARDS_QUEUE": service_env["AWARDS_QUEUE"] + ".e2e",
           "POOL_EVENTS_QUEUE": service_env["POOL_EVENTS_QUEUE"] + ".e2e",
           "FINANCE_QUEUE": service_env["FINANCE_QUEUE"] + ".e2e",
           "FINANCE_BUDGET_QUEUE": service_env["FINANCE_BUDGET_QUEUE"] + ".e2e",
           "BUDGET_ANSWERS_QUEUE": service_env["BUDGET_ANSWERS_QUEUE"] + ".e2e"}
    # Migrate once up front so racing processes start from a ready schema.
    await migrate(env["DATABASE_URL"], env["DB_SCHEMA"], MIGRATIONS, "bidding")
    return env


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
