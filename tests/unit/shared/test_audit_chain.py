"""The audit chain's encodings (trust.md section 6), against values computed by hand."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.audit_append import content_parts as _content_parts
from shared.audit_chain import (
    GENESIS,
    canonical_json,
    content_hash,
    first_break,
    format_at,
    link,
)


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


@settings(max_examples=80, deadline=None)
@given(st.text(), st.text(), st.text(), st.text(),
       st.dictionaries(st.text(), st.one_of(
           st.integers(), st.text(), st.none(), st.booleans(),
           st.floats(allow_nan=False, allow_infinity=False),
           st.lists(st.text(max_size=3), max_size=3))),
       st.integers(1, 10**12))
def test_an_entry_prepared_before_the_lock_hashes_as_its_content(
        actor: str, role: str, action: str, subject: str, details: dict[str, object],
        seq: int) -> None:
    """The append puts only the time and the seq number into the canonical JSON prepared
    before the chain's lock: the same bytes as content_hash's, whatever the fields hold
    (the database's part: tests/integration/bidding/test_audit_entries_sql.py)."""
    at = datetime(2026, 12, 1, 8, 0, 0, 1234, tzinfo=UTC)
    pre, mid, after = _content_parts(actor, role, action, subject, details)
    entry = {"seq": seq, "at": format_at(at), "actor": actor, "actor_role": role,
             "action": action, "subject": subject, "details": details}
    assert hashlib.sha256((pre + format_at(at) + mid + str(seq) + after).encode()
                          ).hexdigest() == content_hash(entry)
