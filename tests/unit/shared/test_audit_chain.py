"""The audit chain's encodings (trust.md section 6), against values computed by hand."""

from __future__ import annotations

import hashlib
import json

import pytest

from shared.audit_chain import GENESIS, canonical_json, content_hash, first_break, link


def _entry(seq: int, previous: str, **over: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "seq": seq, "at": "2026-12-01T08:00:00.000000+00:00", "actor": "center-1",
        "actor_role": "procurement_center", "action": "round.launched",
        "subject": "/v1/rounds/x", "details": {"invited": 3, "名": "温州"}, **over}
    entry["content_hash"] = content_hash(entry)
    entry["hash"] = link(previous, str(entry["content_hash"]))
    return entry


def test_content_hash_and_link_match_hand_computed_values() -> None:
    entry = _entry(1, GENESIS)
    text = ('{"action":"round.launched","actor":"center-1","actor_role":"procurement_center",'
            '"at":"2026-12-01T08:00:00.000000+00:00","details":{"invited":3,"名":"温州"},'
            '"seq":1,"subject":"/v1/rounds/x"}')
    assert entry["content_hash"] == hashlib.sha256(text.encode()).hexdigest()
    assert entry["hash"] == hashlib.sha256(
        ("0" * 64 + str(entry["content_hash"])).encode()).hexdigest()


def test_first_break_names_the_first_edited_or_missing_entry() -> None:
    chain = [_entry(1, GENESIS)]
    for seq in range(2, 6):
        chain.append(_entry(seq, str(chain[-1]["hash"]), action=f"a{seq}"))
    assert first_break(chain) == (None, "", 5, chain[-1]["hash"])
    edited = [dict(e) for e in chain]
    edited[2]["details"] = {"invited": 4}
    assert first_break(edited)[0] == 3
    assert first_break(chain[:2] + chain[3:])[0] == 3
    relinked = [dict(e) for e in chain]
    relinked[3]["hash"] = link(GENESIS, str(relinked[3]["content_hash"]))
    assert first_break(relinked)[0] == 4


@pytest.mark.parametrize("value", [
    {"seq": 1, "details": {}, "actor": "supplier-1", "subject": "/v1/rounds/x/bids/y"},
    {"b": [1, True, None, "x"], "a": {"z": -9223372036854775808, "y": 18446744073709551615}},
    {"big": 2 ** 70, "neg": -(2 ** 65)},
    {"f": 1e16, "g": 0.1, "h": 1.0, "i": -0.0, "n": [1.5e-7]},
    {"中文": "采购单位", "ctl": "a\tb\nc\x00\x07\x7f", "q": 'say "hi" \\'},
    {"nested": [{"k": [{"deeper": "v"}]}], "empty": [], "e": ""},
])
def test_canonical_json_is_the_json_dumps_the_contract_names(value: object) -> None:
    assert canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
