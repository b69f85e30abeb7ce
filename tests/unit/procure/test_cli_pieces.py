"""Settings, log formatting, the demo's bidders and clear errors when nothing answers."""

from __future__ import annotations

import random
import socket
from decimal import Decimal

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from procure.cli import app
from procure.demo import (
    ABSTAIN,
    FIGHTER,
    MIN_DECREMENT,
    SNIPER,
    SUPPLIERS,
    SUSPENDED,
    Member,
    plan_bots,
)
from procure.settings import ProcureSettings, url_port, with_port
from procure.stack import compact_log
from procure.ui import Ui, money, percent
from procure.watch import RoundView

runner = CliRunner()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_settings_read_the_environment_and_check_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOL_URL", "http://pool.internal:9000/")
    monkeypatch.setenv("FINANCE_QUEUE", "erp.awards")
    settings = ProcureSettings()
    assert settings.pool_url == "http://pool.internal:9000"
    assert settings.finance_queue == "erp.awards"
    assert settings.bidding_url == "http://127.0.0.1:8082"
    with pytest.raises(ValidationError, match="http"):
        ProcureSettings(bidding_url="127.0.0.1:8082")
    assert url_port("http://h") == 80
    assert with_port("http://localhost:8081", 9001) == "http://localhost:9001"
    assert ProcureSettings(amqp_url="amqp://u:pw@h:5672/").masked_amqp_url == \
        "amqp://u:***@h:5672/"


def test_compact_log_lines() -> None:
    line = ('{"schema": "pool", "applied": [], "event": "migrations_done", '
            '"service": "pool_service", "level": "info", '
            '"timestamp": "2026-11-27T22:08:47.009237Z"}')
    text = compact_log(line)
    assert "info" in text and "migrations_done schema=pool applied=[]" in text
    assert "service=" not in text
    assert compact_log("Traceback (most recent call last):") == \
        "Traceback (most recent call last):"


def test_unreachable_service_says_where_and_what_to_start() -> None:
    port = _closed_port()
    result = runner.invoke(app, ["--pool-url", f"http://127.0.0.1:{port}", "pools", "list"])
    assert result.exit_code == 3
    assert f"http://127.0.0.1:{port}" in result.stderr
    assert "procure run" in result.stderr


def test_bad_url_in_the_environment_is_a_usage_error() -> None:
    result = runner.invoke(app, ["pools", "list"], env={"BIDDING_URL": "localhost:8082"})
    assert result.exit_code == 2
    assert "BIDDING_URL" in result.output


def test_bots_behave_like_a_crowd_of_suppliers() -> None:
    members = [Member(s, f"id-{i}", s.credit_code()) for i, s in enumerate(SUPPLIERS)]
    ceiling = Decimal("380000.00")
    bots = plan_bots(members, ceiling, 30, 4, random.Random(5))
    styles = [b.style for b in bots]
    assert len(bots) == len(members)
    assert styles.count(SUSPENDED) == 1 and styles.count(ABSTAIN) == 2
    assert styles.count(FIGHTER) >= 2
    # Most bid in the last seconds; the fighters inside the window, below all others.
    assert styles.count(SNIPER) + styles.count(FIGHTER) > len(bots) / 2
    fighters = [b for b in bots if b.style == FIGHTER]
    others = [b for b in bots if b.style not in (FIGHTER, ABSTAIN)]
    assert all(f.snipe_before < 4 for f in fighters)
    assert max(f.first for f in fighters) < min(o.floor for o in others)
    rng = random.Random(9)
    for bot in bots:
        if bot.style == ABSTAIN:
            continue
        assert bot.floor <= bot.first <= ceiling
        while (amount := bot.next_amount(rng, ceiling)) is not None:
            assert amount % 100 == 0 and amount >= bot.floor
            if bot.bids:
                assert amount <= bot.bids[-1] - MIN_DECREMENT
            bot.bids.append(amount)
        assert bot.bids


def test_plain_round_view_reports_changes_without_amounts(
        capsys: pytest.CaptureFixture[str]) -> None:
    view = RoundView(Ui(plain=True), plain_every=0)
    base = {"id": "r1", "title": "t", "pool": {"name": "出国考察学习", "code": "x"},
            "status": "open", "opens_at": "2026-11-27T08:00:00+00:00",
            "closes_at": "2099-11-27T08:00:30+00:00", "invited_count": 30,
            "bid_count": 0, "bidder_count": 0, "ceiling_price": "380000.00",
            "extension": {"window_seconds": 5, "extend_seconds": 5, "max_extensions": 3},
            "extensions_used": 0}
    view.update(base)
    view.update({**base, "bid_count": 4, "bidder_count": 3})
    view.update({**base, "bid_count": 9, "bidder_count": 7, "extensions_used": 1,
                 "closes_at": "2099-11-27T08:00:35+00:00"})
    view.update({**base, "status": "closed", "bid_count": 9, "bidder_count": 7,
                 "closed_at": "2099-11-27T08:00:35+00:00"})
    view.note("温州市国际商会 placed a sealed bid")
    out = capsys.readouterr().out
    assert "round open" in out
    assert "4 bids from 3 of 30 invited suppliers" in out
    assert "moved the close 5.0 s later" in out and "(1/3)" in out
    assert "round closed" in out and "9 bids from 7" in out
    assert "温州市国际商会 placed a sealed bid" in out


def test_display_formats() -> None:
    assert [percent(v) for v in ("0.1", "0.2000", "0", "0.055")] == ["10%", "20%", "0%", "5.5%"]
    assert money("1234567.5") == "1,234,567.50 CNY"
    assert money("not money") == "not money"
