"""The finance listener's JSON-lines file: durable appends, ids remembered, torn tails cut."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson

from procure.finance import AwardsFile, describe, in_order


def _event(type_: str = "award.published") -> dict[str, object]:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/bidding-service",
            "type": type_, "time": "2026-11-27T08:00:00+00:00", "subject": "x",
            "datacontenttype": "application/json", "data": {"id": str(uuid.uuid4())}}


def test_appended_events_are_remembered_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "awards.jsonl"
    first = AwardsFile(path)
    first.open()
    events = [_event(), _event("award.accepted")]
    for event in events:
        first.append(event)
    first.close()
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == events
    again = AwardsFile(path)
    again.open()
    assert again.ids == {e["id"] for e in events}
    assert not again.repaired
    again.close()


def test_a_torn_last_line_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "awards.jsonl"
    kept = _event()
    path.write_bytes(orjson.dumps(kept) + b"\n" + orjson.dumps(_event())[:40])
    file = AwardsFile(path)
    file.open()
    assert file.repaired
    assert file.ids == {kept["id"]}
    assert path.read_bytes() == orjson.dumps(kept) + b"\n"
    late = _event()
    file.append(late)
    file.close()
    assert [orjson.loads(line)["id"] for line in path.read_bytes().splitlines()] == \
        [kept["id"], late["id"]]


def test_a_whole_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "awards.jsonl"
    event = _event()
    path.write_bytes(orjson.dumps(event))
    file = AwardsFile(path)
    file.open()
    file.close()
    assert file.ids == {event["id"]}
    assert path.read_bytes() == orjson.dumps(event) + b"\n"


def test_describe_names_the_award_and_its_money() -> None:
    event = {"type": "award.published", "id": "e1", "data": {
        "id": "a1", "amount": "307600.00", "currency": "CNY", "budget_line": "B-1",
        "supplier": {"name": "温州市国际商会", "credit_code": "51330300XXXXXXXXXX"},
        "buyer": {"name": "温州市商务局", "org": "WZ-SWJ"}, "pool": {"name": "出国考察学习"}}}
    line = describe(event)
    assert "award a1" in line and "307,600.00 CNY" in line and "温州市国际商会" in line
    failed = describe({"type": "round.failed", "data": {"round_id": "r1",
                                                        "reason": "insufficient_bids"}})
    assert failed == "round.failed  round r1  reason: insufficient_bids"


def test_in_order_puts_each_round_back_in_sequence_order(tmp_path: Path) -> None:
    def ev(key: str, seq: int | None) -> dict[str, object]:
        event = _event()
        event["partitionkey"] = key
        if seq is not None:
            event["sequence"] = str(seq)
        return event

    arrived = [ev("r1", 1), ev("r2", 2), ev("r1", 3), ev("r1", 2), ev("r2", 1), ev("x", None)]
    ordered = in_order(arrived)
    assert [(e["partitionkey"], e.get("sequence")) for e in ordered] == [
        ("r1", "1"), ("r1", "2"), ("r1", "3"), ("r2", "1"), ("r2", "2"), ("x", None)]
    path = tmp_path / "awards.jsonl"
    file = AwardsFile(path)
    file.open()
    for event in arrived:
        file.append(event)
    file.close()
    again = AwardsFile(path)
    again.open()
    again.close()
    assert again.last_sequence == {("/bidding-service", "r1"): 3, ("/bidding-service", "r2"): 2}
    assert again.events() == arrived
