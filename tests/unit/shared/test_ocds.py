"""OCDS releases built from events, without a database: builders, mappers, packages, and
conformance to the OCDS 1.1.5 release schema with the techniques extension."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from ocdsmerge.rules import get_merge_rules

from bidding_service import SOURCE
from bidding_service import ocds as bidding_ocds
from pool_service import ocds as pool_ocds
from shared.events import new_event
from shared.ocds import releases as r
from shared.ocds.packages import compile_release, merge_rules, record_package, release_package
from shared.ocds.projection import Context
from shared.ocds.store import Position, parse_cursor
from shared.problems import Problem
from tests.ocds_schema import problems

CTX = Context("ocds-wz0000", ZoneInfo("Asia/Shanghai"))
POOL_ID, ROUND_ID, AWARD_ID = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
SUPPLIER = {"id": str(uuid.uuid4()), "name": "温州测试服务有限公司",
            "credit_code": "91330300MA2AAAAA0X", "kind": "enterprise", "size": "small"}
POOL = {"id": str(POOL_ID), "code": "wz-meet", "name": "会议服务", "category": "public_service",
        "jurisdiction": "温州市", "description": "Conference services",
        "valid_from": "2026-01-01", "valid_to": "2027-12-31", "price_ceiling": "300000.00",
        "max_round_budget": "1000000.00", "status": "active", "version": 1}
ROUND = {"id": str(ROUND_ID), "pool": {"id": str(POOL_ID), "code": "wz-meet",
                                       "name": "会议服务"},
         "title": "Study trip", "description": "10 people", "status": "open",
         "buyer": {"org": "WZ-COMMERCE", "name": "温州市商务局"}, "budget_line": "B-1",
         "ceiling_price": "100000.00", "opens_at": "2026-12-01T08:00:00+00:00",
         "closes_at": "2026-12-01T09:00:00+00:00", "invited_supplier_ids": []}


async def bidding_releases(type_: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    event = new_event(SOURCE, type_, data.get("round_id") or data.get("id"), data)
    return await bidding_ocds.releases_of(None, event, CTX)  # type: ignore[arg-type]


async def pool_releases(type_: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    event = new_event("/pool-service", type_, data.get("id") or data.get("pool_id"), data)
    return await pool_ocds.releases_of(None, event, CTX)  # type: ignore[arg-type]


def valid(release: dict[str, Any]) -> dict[str, Any]:
    """`release` as a reader parses the JSON we write, after checking it validates."""
    parsed: dict[str, Any] = r.loads(r.dumps(release))
    assert problems("release", parsed) == [], parsed
    return parsed


def test_amounts_are_exact_json_numbers() -> None:
    assert r.dumps({"v": r.value("300000.00")}) == b'{"v":{"amount":300000.00,"currency":"CNY"}}'
    big = r.value("99999999999999.99")
    assert big is not None and r.loads(r.dumps(big))["amount"] == Decimal("99999999999999.99")
    assert r.dumps(r.value("0.1")) == b'{"amount":0.10,"currency":"CNY"}'
    assert r.value(None) is None


def test_ocids_and_local_validity_days() -> None:
    assert r.ocid("ocds-wz0000", "pool", POOL_ID) == f"ocds-wz0000-pool-{POOL_ID}"
    assert r.day_start("2026-01-01", CTX.zone) == "2026-01-01T00:00:00+08:00"
    assert r.day_end("2027-12-31", CTX.zone) == "2027-12-31T23:59:59+08:00"


async def test_pool_tender_is_a_framework_agreement() -> None:
    [release] = await pool_releases("pool.created", POOL)
    got = valid(release)
    assert got["ocid"] == f"ocds-wz0000-pool-{POOL_ID}" and got["tag"] == ["tender"]
    tender = got["tender"]
    assert tender["techniques"]["hasFrameworkAgreement"] is True
    assert tender["techniques"]["frameworkAgreement"]["method"] == \
        "withAndWithoutReopeningCompetition"
    assert tender["procurementMethod"] == "selective"
    assert tender["value"] == {"amount": Decimal("300000.00"), "currency": "CNY"}
    assert tender["contractPeriod"] == {"startDate": "2026-01-01T00:00:00+08:00",
                                        "endDate": "2027-12-31T23:59:59+08:00"}
    [update] = await pool_releases("pool.terminated", {**POOL, "status": "terminated"})
    assert valid(update)["tag"] == ["tenderUpdate"]
    assert update["tender"]["status"] == "complete"
    assert update["tender"]["statusDetails"] == "terminated"


async def test_admission_is_an_award_to_a_supplier_party() -> None:
    member = {"pool_id": str(POOL_ID), "pool_code": "wz-meet", "supplier": SUPPLIER,
              "status": "admitted", "reason": None, "ground": None, "until": None,
              "at": "2026-12-01T08:00:00+00:00", "version": 2}
    [release] = await pool_releases("pool.member.admitted", member)
    got = valid(release)
    assert got["tag"] == ["award"]
    assert got["awards"][0]["suppliers"] == [{"id": SUPPLIER["id"], "name": SUPPLIER["name"]}]
    assert got["parties"][0]["roles"] == ["supplier"]
    assert got["parties"][0]["identifier"]["id"] == SUPPLIER["credit_code"]
    assert await pool_releases("pool.member.suspended", member) == []


async def test_round_tender_is_a_call_off_of_its_pool() -> None:
    [release] = await bidding_releases("round.launched", ROUND)
    got = valid(release)
    assert got["ocid"] == f"ocds-wz0000-round-{ROUND_ID}" and got["tag"] == ["tender"]
    assert got["relatedProcesses"] == [{
        "id": "framework", "relationship": ["framework"], "title": "会议服务",
        "scheme": "ocid", "identifier": f"ocds-wz0000-pool-{POOL_ID}"}]
    assert got["tender"]["competitive"] is True
    assert got["tender"]["value"]["amount"] == Decimal("100000.00")
    assert got["tender"]["tenderPeriod"] == {"startDate": ROUND["opens_at"],
                                             "endDate": ROUND["closes_at"]}
    assert got["buyer"] == {"id": "WZ-COMMERCE", "name": "温州市商务局"}


async def test_direct_selection_and_rotation_are_not_competitive() -> None:
    for method in ("direct_selection", "rotation"):
        body = {k: v for k, v in ROUND.items() if k not in ("ceiling_price", "opens_at",
                                                              "closes_at")}
        [release] = await bidding_releases("round.launched",
                                           {**body, "method": method, "amount": "5000.00"})
        got = valid(release)
        assert got["tender"]["competitive"] is False
        assert got["tender"]["value"]["amount"] == Decimal("5000.00")
        assert "tenderPeriod" not in got["tender"]


async def test_pending_budget_round_waits_for_its_tender_release() -> None:
    assert await bidding_releases("round.launched", {**ROUND, "status": "pending_budget"}) == []


async def test_every_round_and_award_event_makes_a_valid_release() -> None:
    rid = str(ROUND_ID)
    outcome = {"award_id": str(AWARD_ID), "round_id": rid, "supplier_id": SUPPLIER["id"],
               "at": "2026-12-01T10:00:00+00:00", "reason": "x"}
    award = {"id": str(AWARD_ID), "round_id": rid, "pool_id": str(POOL_ID),
             "status": "published", "supplier": SUPPLIER, "amount": "87654.32",
             "evaluated_amount": "87654.32", "awarded_at": "2026-12-01T09:00:01+00:00",
             # The full ranking rides on the event; no amount of it goes into a release.
             "ranking": orjson.Fragment(b'[{"rank":2,"amount":"91234.56"}]')}
    expected = {
        ("round.extended", "tenderUpdate"): {"round_id": rid, "extensions_used": 1,
                                             "closes_at": "2026-12-01T09:05:00+00:00"},
        ("round.cancelled", "tenderUpdate"): {"round_id": rid, "reason": "no demand"},
        ("round.failed", "tenderUpdate"): {"round_id": rid, "reason": "insufficient_bids"},
        ("award.published", "award"): award,
        **{(f"award.{o}", "awardUpdate"): outcome
           for o in ("accepted", "declined", "expired", "rejected", "cancelled", "confirmed")},
    }
    statuses = []
    for (type_, tag), data in expected.items():
        [release] = await bidding_releases(type_, data)
        got = valid(release)
        assert got["tag"] == [tag], type_
        assert b"91234.56" not in r.dumps(release)
        statuses.append(got.get("tender", {}).get("status")
                        or got.get("awards", [{}])[0].get("status"))
    assert statuses == [None, "cancelled", "unsuccessful", "pending", "active",
                        "unsuccessful", "unsuccessful", "unsuccessful", "cancelled", "pending"]
    assert await bidding_releases("round.closed", {"round_id": rid}) == []


def test_shipped_merge_rules_are_the_schemas() -> None:
    from tests.ocds_schema import release_schema

    assert merge_rules() == get_merge_rules(release_schema())


async def test_compiled_release_merges_awards_by_id_and_packages_validate() -> None:
    releases = [*await bidding_releases("round.launched", ROUND)]
    award = {"id": str(AWARD_ID), "round_id": str(ROUND_ID), "supplier": SUPPLIER,
             "amount": "87654.32", "awarded_at": "2026-12-01T09:00:01+00:00"}
    releases += await bidding_releases("award.published", award)
    releases += await bidding_releases("award.accepted", {
        "award_id": str(AWARD_ID), "round_id": str(ROUND_ID), "supplier_id": SUPPLIER["id"],
        "at": "2026-12-01T09:30:00+00:00"})
    texts = [r.dumps(x).decode() for x in releases]
    compiled = compile_release([r.loads(t) for t in texts])
    assert compiled["tag"] == ["compiled"]
    assert [(a["id"], a["status"]) for a in compiled["awards"]] == [(str(AWARD_ID), "active")]
    assert compiled["awards"][0]["value"]["amount"] == Decimal("87654.32")
    record = r.loads(record_package(releases[0]["ocid"], texts, uri="http://x/ocds/records/1",
                                    publisher="test", published_date="2026-12-01T10:00:00Z"))
    assert problems("record-package", record) == []
    assert b"87654.32," in record_package(releases[0]["ocid"], texts, uri="http://x",
                                          publisher="t", published_date="2026-12-01T10:00:00Z")
    package = r.loads(release_package(texts, uri="http://x/ocds/release-packages",
                                      publisher="test", published_date="2026-12-01T10:00:00Z",
                                      next_url="http://x/ocds/release-packages?cursor=a"))
    assert problems("release-package", package) == []
    assert package["links"] == {"next": "http://x/ocds/release-packages?cursor=a"}


def test_feed_cursor_round_trips_and_refuses_garbage() -> None:
    position = Position(2**40, 17)
    assert parse_cursor(position.cursor()) == position
    assert parse_cursor(None) is None
    for bad in ("", "!!", Position(1, 1).cursor()[:-3], "WzEsMl0"):  # WzEsMl0 = [1,2]
        with pytest.raises(Problem):
            parse_cursor(bad)
