"""The reference finance system's ledger: budget lines with balances in one JSON file.

What an integrator reads to answer the bidding service (finance.md):

- a reservation is granted when the line's balance covers the amount (the balance goes
  down by it), else refused with the shortfall in the reason;
- a commit sets what stays spent to the award's amount and gives the rest back to the
  line; a release gives back everything the reservation still holds;
- each request is answered once: its answer is stored with it, so a redelivered request
  gets the very same answer (same event id) again.

The file is replaced atomically (written to a temporary file, fsync'ed, renamed, the
directory fsync'ed) under an exclusive lock, before the request is acknowledged: a
crash at any point loses no answer and applies no request twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from procure.errors import ProcureError
from shared.events import new_event
from shared.types import format_money, parse_money, utcnow

SOURCE = "/finance-reference"
Json = dict[str, Any]


def _money(value: Decimal) -> str:
    return format_money(value)


def _dec(value: Any) -> Decimal:
    return parse_money(str(value))


@dataclass
class Answer:
    """The event answering one request, and a line saying what happened."""

    event: Json
    summary: str


class Ledger:
    """The ledger's state (as read from its file) and the rules applied to it."""

    def __init__(self, state: Json) -> None:
        self.state = state
        state.setdefault("lines", {})
        state.setdefault("reservations", {})
        state.setdefault("answered", {})
        state.setdefault("sequences", {})
        state.setdefault("payments", {})

    # ------------------------------------------------------------ budget lines

    def set_line(self, line: str, balance: Decimal) -> None:
        self.state["lines"][line] = {"balance": _money(balance)}

    def balance(self, line: str) -> Decimal | None:
        entry = self.state["lines"].get(line)
        return None if entry is None else _dec(entry["balance"])

    def _credit(self, line: str, amount: Decimal) -> None:
        entry = self.state["lines"].setdefault(line, {"balance": "0.00"})
        entry["balance"] = _money(_dec(entry["balance"]) + amount)

    # ------------------------------------------------------------ requests

    def answer(self, request: Json) -> Answer | None:
        """The answer to a request event (None: not a request this system answers).
        A request answered before gets its stored answer again."""
        stored = self.state["answered"].get(str(request["id"]))
        if stored is not None:
            return Answer(stored["event"], f"already answered: {stored['summary']}")
        data = request["data"]
        kind = request["type"]
        answer: Answer | None
        if kind == "budget.reservation.requested":
            answer = self._reserve(data)
        elif kind == "budget.commit.requested":
            answer = self._commit(data)
        elif kind == "budget.release.requested":
            answer = self._release(data)
        else:
            return None
        if answer is not None:
            self.state["answered"][str(request["id"])] = {"event": answer.event,
                                                          "summary": answer.summary}
        return answer

    def _event(self, type_: str, round_id: str, data: Json) -> Json:
        seq = int(self.state["sequences"].get(round_id, 0)) + 1
        self.state["sequences"][round_id] = seq
        return new_event(SOURCE, type_, round_id, data, partitionkey=round_id,
                         sequence=seq).to_json_dict()

    def _reserve(self, data: Json) -> Answer:
        rid, round_id, line = str(data["reservation_id"]), str(data["round_id"]), \
            str(data["budget_line"])
        amount = _dec(data["amount"])
        at = utcnow().isoformat()
        balance = self.balance(line)
        if balance is None or balance < amount:
            reason = (f"unknown budget line {line}" if balance is None else
                      f"budget line {line}: balance {_money(balance)}, short by "
                      f"{_money(amount - balance)}")
            self.state["reservations"][rid] = {"round_id": round_id, "line": line,
                                               "held": "0.00", "status": "refused"}
            event = self._event("budget.refused", round_id, {
                "reservation_id": rid, "round_id": round_id, "reason": reason, "at": at})
            return Answer(event, f"refused {_money(amount)} on {line}: {reason}")
        self._credit(line, -amount)
        self.state["reservations"][rid] = {"round_id": round_id, "line": line,
                                           "reserved": _money(amount), "held": _money(amount),
                                           "committed": None, "award_id": None,
                                           "status": "reserved"}
        event = self._event("budget.reserved", round_id, {
            "reservation_id": rid, "round_id": round_id, "reserved_amount": _money(amount),
            "at": at})
        return Answer(event, f"reserved {_money(amount)} on {line} (balance left "
                             f"{_money(balance - amount)})")

    def _commit(self, data: Json) -> Answer | None:
        rid = str(data["reservation_id"])
        res = self.state["reservations"].get(rid)
        if res is None or res["status"] not in ("reserved", "committed"):
            return None
        held, amount = _dec(res["held"]), _dec(data["amount"])
        committed = min(amount, _dec(res["reserved"]))
        self._credit(res["line"], held - committed)  # the rest goes back to the line
        res.update(held=_money(committed), committed=_money(committed),
                   award_id=str(data["award_id"]), status="committed")
        released = _dec(res["reserved"]) - committed
        event = self._event("budget.committed", res["round_id"], {
            "reservation_id": rid, "award_id": str(data["award_id"]),
            "committed_amount": _money(committed), "released_amount": _money(released),
            "at": utcnow().isoformat()})
        return Answer(event, f"committed {_money(committed)} to award {data['award_id']}, "
                             f"{_money(released)} back to {res['line']}")

    def _release(self, data: Json) -> Answer | None:
        rid = str(data["reservation_id"])
        res = self.state["reservations"].get(rid)
        if res is None or res["status"] == "released":
            return None
        held = _dec(res["held"])
        self._credit(res["line"], held)
        res.update(held="0.00", status="released")
        event = self._event("budget.released", res["round_id"], {
            "reservation_id": rid, "released_amount": _money(held),
            "at": utcnow().isoformat()})
        return Answer(event, f"released {_money(held)} back to {res['line']} "
                             f"({data.get('reason')})")

    # ------------------------------------------------------------ payments

    def pay(self, award_id: str, amount: Decimal) -> Answer:
        """`payment.recorded` for an award this ledger committed."""
        found = [r for r in self.state["reservations"].values()
                 if r.get("award_id") == award_id and r["status"] == "committed"]
        if not found:
            raise ProcureError(f"award {award_id} has no commit in this ledger: finance "
                               "pays an award once its budget is committed (after acceptance)")
        res = found[0]
        payment_id = f"PAY-{uuid.uuid4().hex[:12].upper()}"
        event = self._event("payment.recorded", res["round_id"], {
            "payment_id": payment_id, "award_id": award_id, "round_id": res["round_id"],
            "amount": _money(amount), "paid_at": utcnow().isoformat()})
        paid = _dec(self.state["payments"].get(award_id, "0.00")) + amount
        self.state["payments"][award_id] = _money(paid)
        return Answer(event, f"paid {_money(amount)} on award {award_id} ({payment_id}; "
                             f"{_money(paid)} paid so far of {res['committed']})")


class LedgerFile:
    """The ledger in `path`, read and replaced under an exclusive lock (`path.lock`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def edit(self) -> Iterator[Ledger]:
        """Lock, read, yield the ledger, and write it back durably (unless it raised)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ProcureError(f"cannot use {self.path} as the ledger: {exc}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            ledger = Ledger(self._read())
            yield ledger
            self._write(ledger.state)
        finally:
            os.close(lock)

    def read(self) -> Ledger:
        return Ledger(self._read())

    def _read(self) -> Json:
        if not self.path.exists():
            return {}
        try:
            state = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ProcureError(f"{self.path} is not a ledger file: {exc}") from None
        if not isinstance(state, dict):
            raise ProcureError(f"{self.path} is not a ledger file")
        return state

    def _write(self, state: Json) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        data = orjson.dumps(state, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
