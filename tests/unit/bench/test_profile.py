"""Reading py-spy's collapsed stacks: parts, self time, and executor threads that only
wait for work."""

from __future__ import annotations

from pathlib import Path

from bench import profile

_LOOP = ("run_app (aiohttp/web.py:502);RequestHandler._handle_request "
         "(aiohttp/web_protocol.py:577);observe (shared/http.py:218)")
_IDLE_WORKER = ("Thread._bootstrap (threading.py:1002);Thread.run (threading.py:982);"
                "_worker (concurrent/futures/thread.py:81)")
_BUSY_WORKER = _IDLE_WORKER + ";_WorkItem.run (concurrent/futures/thread.py:58);" \
    "fold (bidding_service/awards/tally.py:71)"


def _collapsed(tmp_path: Path, lines: list[tuple[str, int]]) -> Path:
    path = tmp_path / "raw.txt"
    path.write_text("".join(f"{stack} {n}\n" for stack, n in lines))
    return path


def test_an_executor_thread_waiting_for_work_is_not_counted(tmp_path: Path) -> None:
    raw = _collapsed(tmp_path, [
        (_LOOP + ";submit_bid (bidding_service/bids/api.py:53)", 60),
        (_LOOP + ";render (shared/http.py:70)", 20),
        ("run_app (aiohttp/web.py:502)", 20),
        (_IDLE_WORKER, 25),
    ])
    summary = profile.analyse(raw)
    assert summary["samples"] == 100
    assert summary["waiting_workers"] == 25
    parts = {g["part"].strip(): g["pct"] for g in summary["groups"]}
    assert parts["HTTP request handling in total (observe middleware)"] == 80.0
    assert parts["render (orjson + Response)"] == 20.0
    assert all("_worker" not in r["frame"] for r in summary["self"])
    assert "25 samples of executor threads waiting for work" in profile.render_text(summary)


def test_a_worker_running_a_task_is_counted(tmp_path: Path) -> None:
    raw = _collapsed(tmp_path, [(_BUSY_WORKER, 30), (_LOOP, 10)])
    summary = profile.analyse(raw, profile.CLOSE_GROUPS)
    assert summary["samples"] == 40
    assert summary["waiting_workers"] == 0
    assert summary["self"][0] == {"frame": "fold (bidding_service/awards/tally.py)",
                                  "samples": 30, "pct": 75.0}
