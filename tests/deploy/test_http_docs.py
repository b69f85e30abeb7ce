"""docs/http-api.md against the OpenAPI documents the services generate: the same
endpoints, the success and error codes each one declares, who may call it, and the
money rule as the code applies it.

A new endpoint is documented by one row in its service's table of docs/http-api.md:
`| `METHOD /path` | who | success, errors | what |`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from bidding_service.api import api as bidding_api
from pool_service.api import api as pool_api
from shared.http import loads_json
from shared.problems import Problem
from shared.types import Money
from tests.support import DOCS, documented_endpoints, markdown_section

SERVICES = {"Pool service": pool_api.openapi(), "Bidding service": bidding_api.openapi()}
# Codes the conventions cover for every endpoint with a body, a query or a token; a row
# names them only where they mean something particular to that endpoint.
GENERAL = {"400", "401", "403", "413", "415", "422"}
# How docs/http-api.md names the roles in its "who" column.
ROLE_WORDS = {"center": "procurement_center", "buyer": "buyer", "supplier": "supplier",
              "finance": "finance"}


def operations(service: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, item in SERVICES[service]["paths"].items()
            for method, op in item.items()}


ROWS = [(service, key, cells) for service in SERVICES
        for key, cells in documented_endpoints(service).items()]


def test_the_tables_parse() -> None:
    for service in SERVICES:
        rows = documented_endpoints(service)
        assert len(rows) >= 10, service
        assert all(len(cells) == 4 for cells in rows.values()), service


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_endpoint_is_documented_and_every_documented_one_exists(service: str) -> None:
    generated, documented = set(operations(service)), set(documented_endpoints(service))
    assert not generated - documented, f"not in docs/http-api.md: {generated - documented}"
    assert not documented - generated, f"documented but not served: {documented - generated}"


@pytest.mark.parametrize("service,key,cells", ROWS, ids=[f"{k[0]} {k[1]}" for _, k, _ in ROWS])
def test_documented_codes_are_the_declared_ones(service: str, key: tuple[str, str],
                                                cells: list[str]) -> None:
    op = operations(service).get(key)
    assert op is not None, f"{key} is not served"
    codes = re.findall(r"\b[1-5]\d\d\b", cells[2])
    declared = set(op["responses"])
    success = {c for c in declared if c.startswith("2")}
    assert codes and {codes[0]} == success, (key, codes, success)
    assert set(codes) <= declared, f"{key}: documents {set(codes) - declared}, never declared"
    missing = declared - GENERAL - set(codes)
    assert not missing, f"{key}: declares {missing}, not documented"


@pytest.mark.parametrize("service,key,cells", ROWS, ids=[f"{k[0]} {k[1]}" for _, k, _ in ROWS])
def test_documented_callers_are_the_required_roles(service: str, key: tuple[str, str],
                                                   cells: list[str]) -> None:
    op = operations(service)[key]
    who = cells[1].lower()
    required = set(re.findall(r"\b(procurement_center|buyer|supplier|finance)\b",
                              op.get("description", "")))
    if not required:  # no token needed (a round becomes public once awarded)
        assert op["security"] == [] and "public" in who, (key, who)
        return
    named = {role for word, role in ROLE_WORDS.items() if re.search(rf"\b{word}\b", who)}
    assert named == required, (key, who, required)
    assert "public" not in who and op["security"] == [{"bearerAuth": []}]


class _M(BaseModel):
    amount: Money


def _money_section() -> str:
    return markdown_section(DOCS / "http-api.md", "Conventions").split("### Money", 1)[1] \
        .split("\n### ", 1)[0]


MONEY_FIELDS = {"CreatePool": ("price_ceiling", "max_round_budget"),
                "UpdatePool": ("price_ceiling", "max_round_budget"),
                "LaunchRound": ("ceiling_price", "min_decrement"), "SubmitBid": ("amount",)}


def test_the_documented_money_pattern_is_the_one_served() -> None:
    (documented,) = re.findall(r"^ {4}(\^.+\$)$", _money_section(), re.M)
    seen = 0
    for doc in SERVICES.values():
        for model, fields in MONEY_FIELDS.items():
            schema = doc["components"]["schemas"].get(model)
            for field in fields if schema else ():
                prop = schema["properties"][field]
                (pattern,) = [s["pattern"] for s in [prop, *prop.get("anyOf", [])]
                              if "pattern" in s]
                # The same rule; the served one also bounds the length (14 digits).
                assert pattern.replace("{0,13}", "*") == documented, (model, field)
                seen += 1
    assert seen == 7


def test_every_documented_refusal_is_refused_and_every_example_accepted() -> None:
    section = _money_section()
    accepted_part, refused_part = section.split("So all of these are refused", 1)
    refused = re.findall(r"`([^`]+)`", refused_part.split("The largest amount", 1)[0])
    accepted = [t for t in re.findall(r"`([^`]+)`", accepted_part) if t[:1] == '"']
    assert len(refused) >= 15 and len(accepted) >= 3

    def money(token: str) -> Any:
        body = loads_json(('{"amount": ' + token + "}").encode())
        return _M.model_validate(body).model_dump(mode="json")["amount"]

    for token in accepted:
        assert money(token) == f"{float(json.loads(token)):.2f}"
    for token in refused:
        with pytest.raises((ValidationError, Problem)):
            money(token)
