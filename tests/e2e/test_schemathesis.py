"""Schemathesis against both services' own OpenAPI documents, as every kind of caller:
zero 5xx answers (the `not_a_server_error` check), bounded examples for CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.auth import mint_token
from tests.support import ServiceProcess

pytestmark = pytest.mark.e2e
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10")
RESULTS = Path(__file__).resolve().parents[2] / ".test-results"


@pytest.fixture(scope="module")
async def services(service_env: dict[str, str]) -> AsyncIterator[dict[str, ServiceProcess]]:
    tag = uuid.uuid4().hex[:6]
    env = {**service_env, "LOG_LEVEL": "warning",
           "BID_RATE_PER_SECOND": "10000", "BID_RATE_BURST": "10000",
           **{k: f"{service_env[k]}.st{tag}"
              for k in ("AWARDS_QUEUE", "POOL_EVENTS_QUEUE", "FINANCE_QUEUE")}}
    procs = {
        "pool": ServiceProcess("pool_service", {**env, "DB_SCHEMA": f"pool_st{tag}"}),
        "bidding": ServiceProcess("bidding_service", {**env, "DB_SCHEMA": f"bidding_st{tag}"}),
    }
    for p in procs.values():
        await p.start()
    yield procs
    for p in procs.values():
        assert p.terminate() == 0


CALLERS = {
    "anonymous": {},
    "center": {"role": "procurement_center"},
    "buyer": {"role": "buyer", "org": "WZ-COMMERCE"},
    "supplier": {"role": "supplier", "supplier_id": str(uuid.UUID(int=7))},
    "finance": {"role": "finance"},
}


@pytest.mark.parametrize("service", ["pool", "bidding"])
@pytest.mark.parametrize("caller", list(CALLERS))
def test_no_server_errors(services: dict[str, ServiceProcess], service_env: dict[str, str],
                          service: str, caller: str, tmp_path: Path) -> None:
    proc = services[service]
    args = [sys.executable, "-m", "schemathesis.cli", "run", f"{proc.url}/openapi.json",
            "--checks", "not_a_server_error", "-n", MAX_EXAMPLES, "--seed", "20261127",
            "--phases", "examples,coverage,fuzzing", "--report", "json",
            "--report-json-path", str(tmp_path / "report.json"), "--warnings", "off"]
    claims = dict(CALLERS[caller])
    if claims:
        role = claims.pop("role")
        token = mint_token(service_env["JWT_SECRET"], role, **claims)
        args += ["-H", f"Authorization: Bearer {token}"]
    run = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    report = json.loads((tmp_path / "report.json").read_text())
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "schemathesis.jsonl").open("a") as out:
        out.write(json.dumps({"service": service, "caller": caller,
                              **report["test_cases"]}) + "\n")
    assert run.returncode == 0, run.stdout[-4000:]
    assert report["test_cases"]["generated"] > 0
    assert report["test_cases"]["with_failures"] == 0
