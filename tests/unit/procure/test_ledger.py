"""The reference finance system's ledger: reserve or refuse with the shortfall, commit
and give the rest back, release, answer each request once, pay committed awards."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from procure.errors import ProcureError
from procure.ledger import SOURCE, Ledger, LedgerFile

LINE = "2026-CG-0101"


def request(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "data": data}


def reservation(rid: str, round_id: str, amount: str, line: str = LINE) -> dict[str, Any]:
    return request("budget.reservation.requested", reservation_id=rid, round_id=round_id,
                   budget_line=line, amount=amount, currency="CNY")


def test_reserve_commit_release_and_the_balance(tmp_path: Path) -> None:
    book = Ledger({})
    book.set_line(LINE, Decimal("150000.00"))
    r1, r2 = str(uuid.uuid4()), str(uuid.uuid4())
    answer = book.answer(reservation("res-1", r1, "100000.00"))
    assert answer is not None and answer.event["type"] == "budget.reserved"
    assert answer.event["data"]["reserved_amount"] == "100000.00"
    assert (answer.event["source"], answer.event["partitionkey"], answer.event["sequence"]) \
        == (SOURCE, r1, "1")
    assert book.balance(LINE) == Decimal("50000.00")

    refused = book.answer(reservation("res-2", r2, "100000.00"))
    assert refused is not None and refused.event["type"] == "budget.refused"
    assert "balance 50000.00, short by 50000.00" in refused.event["data"]["reason"]
    unknown = book.answer(reservation("res-3", r2, "1.00", line="NO-SUCH-LINE"))
    assert unknown is not None and "unknown budget line" in unknown.event["data"]["reason"]

    award = str(uuid.uuid4())
    commit = book.answer(request("budget.commit.requested", reservation_id="res-1",
                                 round_id=r1, award_id=award, amount="86500.00"))
    assert commit is not None
    assert (commit.event["data"]["committed_amount"], commit.event["data"]["released_amount"]) \
        == ("86500.00", "13500.00")
    assert commit.event["sequence"] == "2"
    assert book.balance(LINE) == Decimal("63500.00")

    paid = book.pay(award, Decimal("90000.00"))  # more than the award: still reported
    assert paid.event["type"] == "payment.recorded"
    assert paid.event["data"]["amount"] == "90000.00"

    release = book.answer(request("budget.release.requested", reservation_id="res-1",
                                  round_id=r1, amount="86500.00", reason="award cancelled"))
    assert release is not None and release.event["data"]["released_amount"] == "86500.00"
    assert book.balance(LINE) == Decimal("150000.00")
    again = book.answer(request("budget.release.requested", reservation_id="res-1",
                                round_id=r1, amount="0.00", reason="again"))
    assert again is None


def test_a_redelivered_request_gets_the_same_answer_and_changes_nothing() -> None:
    book = Ledger({})
    book.set_line(LINE, Decimal("100000.00"))
    req = reservation("res-1", str(uuid.uuid4()), "100000.00")
    first, second = book.answer(req), book.answer(req)
    assert first is not None and second is not None
    assert first.event == second.event  # same event id: the bidding service dedups it
    assert book.balance(LINE) == Decimal("0.00")


def test_only_committed_awards_are_paid() -> None:
    with pytest.raises(ProcureError, match="no commit"):
        Ledger({}).pay(str(uuid.uuid4()), Decimal("1.00"))


def test_the_file_is_replaced_whole_and_survives_a_reread(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    with LedgerFile(path).edit() as book:
        book.set_line(LINE, Decimal("10.00"))
    with pytest.raises(RuntimeError), LedgerFile(path).edit() as book:
        book.set_line(LINE, Decimal("99.00"))
        raise RuntimeError("crash before the write")
    assert LedgerFile(path).read().balance(LINE) == Decimal("10.00")
    assert not (tmp_path / ".ledger.json.tmp").exists()
    path.write_text("[1, 2]")
    with pytest.raises(ProcureError, match="not a ledger"):
        LedgerFile(path).read()
