"""Schemathesis against both services' own OpenAPI documents, as every kind of caller:
zero 5xx answers (the `not_a_server_error` check), bounded examples for CI; then the
hostile money texts and duplicate-key bodies as explicit cases on every operation that
takes them, validated by schemathesis against the same documents."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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
              for k in ("AWARDS_QUEUE", "POOL_EVENTS_QUEUE", "FINANCE_QUEUE",
                        "FINANCE_BUDGET_QUEUE", "BUDGET_ANSWERS_QUEUE")}}
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


# Explicit cases: JSON tokens sent raw as a money field's value (numbers too: they are
# judged by their text), and bodies naming a key twice.
HOSTILE_MONEY = [b'"1E+2"', '"１００.００"'.encode(), b'"1_000.00"', b'" 100.00 "',
                 b'"+100.00"', b'"-100.00"', b'"0100.00"', b'"100.001"', b'"100."', b"1E+2",
                 b"1.5e1", b"-5", b"-0", b"100.001"]
DUPLICATES = [b'{"%(f)s": "1.00", "%(f)s": "2.00"}',
              b'{"%(f)s": {"a": 1, "a": 1}}',
              b'{"x": [{"y": {"z": 1, "z": 2}}], "%(f)s": "1.00"}']
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance,
          content_type_conformance, response_headers_conformance,
          response_schema_conformance]
ROLE_CLAIMS = {"procurement_center": CALLERS["center"], "buyer": CALLERS["buyer"],
               "supplier": CALLERS["supplier"], "finance": CALLERS["finance"]}


def _body_fields(doc: dict[str, Any], op: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(every field, the money fields) of an operation's JSON body."""
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    fields, money = list(schema.get("properties", {})), []
    for name, prop in schema.get("properties", {}).items():
        patterns = [s.get("pattern", "") for s in [prop, *prop.get("anyOf", [])]]
        if any(p.startswith("^(0|[1-9]") for p in patterns):
            money.append(name)
    return fields, money


@pytest.mark.parametrize("service", ["pool", "bidding"])
def test_hostile_money_and_duplicate_keys_as_explicit_cases(
        services: dict[str, ServiceProcess], service_env: dict[str, str],
        service: str) -> None:
    url = services[service].url
    doc = requests.get(f"{url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    sent = {"money": 0, "duplicates": 0}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if "requestBody" not in op:
                continue
            roles = re.findall(r"\b(procurement_center|buyer|supplier|finance)\b",
                               op.get("description", ""))
            headers = {"Content-Type": "application/json"}
            if roles:
                claims = dict(ROLE_CLAIMS[roles[0]])
                role = claims.pop("role")
                headers["Authorization"] = "Bearer " + mint_token(
                    service_env["JWT_SECRET"], role, **claims)
            operation = schema[path][method.upper()]
            params = {n: str(uuid.UUID(int=1)) for n in re.findall(r"{(\w+)}", path)}
            fields, money = _body_fields(doc, op)

            def send(raw: bytes, operation: Any = operation,
                     params: dict[str, str] = params,
                     headers: dict[str, str] = headers) -> int:
                case = operation.Case(path_parameters=params, body={},
                                      media_type="application/json")
                resp = case.call_and_validate(headers=headers, data=raw, checks=CHECKS)
                assert resp.headers["content-type"][0].startswith("application/problem+json")
                return int(resp.status_code)

            for field in money:
                for token in HOSTILE_MONEY:
                    raw = b'{"' + field.encode() + b'": ' + token + b"}"
                    assert send(raw) == 422, (path, field, token)
                    sent["money"] += 1
            for template in DUPLICATES:
                raw = template % {b"f": (fields[0] if fields else "x").encode()}
                assert send(raw) == 400, (path, raw)
                sent["duplicates"] += 1
    assert sent["duplicates"] >= 15 and sent["money"] >= 14 * (3 if service == "bidding" else 4)
