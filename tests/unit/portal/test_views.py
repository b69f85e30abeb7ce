"""The portal's pure parts: live rounds from notices, times, money, the page events'
whitelist, and both languages complete for every word the templates use."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from portal.i18n import LANGUAGES, MESSAGES, choose, translate
from portal.live import BINDINGS, page_event
from portal.views import live_rounds, local_time, money, remaining
from tests.support import ROOT

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _iso(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).isoformat()


def _notice(kind: str, round_id: str, **fields: object) -> dict[str, object]:
    return {"kind": kind, "round_id": round_id, **fields}


def test_live_rounds_follow_extensions_and_drop_ended_ones() -> None:
    notices = [  # newest first, as /v1/notices answers
        _notice("extension", "a", closes_at=_iso(120)),
        _notice("result", "b"),
        _notice("extension", "a", closes_at=_iso(60)),
        _notice("invitation", "c", opens_at=_iso(30), closes_at=_iso(90)),
        _notice("invitation", "b", opens_at=_iso(-60), closes_at=_iso(-1)),
        _notice("invitation", "a", opens_at=_iso(-60), closes_at=_iso(10)),
        _notice("invitation", "d", opens_at=_iso(-60), closes_at=_iso(-5)),
    ]
    rounds = live_rounds(notices, NOW)  # type: ignore[arg-type]
    assert [(r["round_id"], r["status"], r["closes_at"]) for r in rounds] == [
        ("c", "scheduled", _iso(90)), ("a", "open", _iso(120))]


def test_times_and_money_as_the_jurisdiction_reads_them() -> None:
    assert remaining(_iso(3725), NOW) == "01:02:05"
    assert remaining(_iso(90_000), NOW) == "1d 01:00:00"
    assert remaining(_iso(-5), NOW) == "00:00:00"
    assert local_time("2026-12-01T12:00:00+00:00", ZoneInfo("Asia/Shanghai")) == \
        "2026-12-01 20:00:00"
    assert money("1234567.50") == "¥1,234,567.50" and money(None) == "—"


def test_a_live_page_is_told_a_close_time_or_an_end_and_nothing_else() -> None:
    closed = page_event("round.closed", {"round_id": "r", "bid_count": 7, "bidder_count": 5})
    assert closed == {"event": "ended", "outcome": "closed"}
    extended = page_event("round.extended", {"round_id": "r", "closes_at": "t",
                                             "extensions_used": 1, "bid_count": 3})
    assert extended == {"event": "extended", "closes_at": "t", "extensions_used": 1}
    published = page_event("award.published", {"round_id": "r", "amount": "1.00",
                                                "ranking": [{"amount": "1.00"}]})
    assert published == {"event": "ended", "outcome": "result"}
    assert page_event("round.launched", {"id": "r"}) is None
    assert set(BINDINGS) == {"round.extended", "round.closed", "round.failed",
                             "round.cancelled", "award.published"}


def test_both_languages_have_every_word_the_templates_use() -> None:
    assert all(set(entry) == set(LANGUAGES) and all(entry.values())
               for entry in MESSAGES.values())
    used: set[str] = set()
    for template in (ROOT / "portal" / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        used |= set(re.findall(r"t\('([a-z_]+)'\)", text))
        used |= {f"st_{s}" for s in ("scheduled", "open", "closed", "awarded", "accepted",
                                     "reawarded", "failed", "cancelled", "published",
                                     "declined", "expired", "active", "upcoming",
                                     "terminated")}
    missing = sorted(k for k in used if k not in MESSAGES)
    assert not missing, missing
    assert choose("en") == "en" and choose(None) == choose("fr") == "zh-CN"
    assert translate("home", "en") == "Home" and translate("home", "zh-CN") == "首页"
