"""Each fault test gets the whole system, fresh: its own schemas, queues and processes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.faults.system import System


@pytest.fixture
async def system(service_env: dict[str, str]) -> AsyncIterator[System]:
    s = await System(service_env, f"f{uuid.uuid4().hex[:8]}").start()
    yield s
    codes = await s.stop()
    assert all(code == 0 for code in codes), codes
