"""Reading py-spy's collapsed stacks: inclusive and self time per function, time per
part of the bid path, and a speedscope file to browse the same samples."""

from __future__ import annotations

import collections
import re
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

OUTSIDE = " outside the handler (parse, write)"

# Parts of the bid path, by a frame somewhere on the stack (function, file fragment).
# A sample counts for every part whose frame is on its stack (parts nest).
GROUPS: list[tuple[str, str, str]] = [
    ("HTTP request handling in total (observe middleware)", "observe", "shared/http.py"),
    ("  authenticate: JWT decode + claims", "authenticate", "shared/http.py"),
    ("  rate limiter", "check", "shared/ratelimit.py"),
    ("  parse_body: read + json + pydantic", "parse_body", "shared/http.py"),
    ("  service.submit_bid (memory, sealing, SQL)", "submit_bid",
     "bidding_service/bids/service.py"),
    ("    pool acquire + release", "", "asyncpg/pool.py"),
    ("    seal the amount (AES-GCM)", "seal_amount", "bidding_service/bids/sealed.py"),
    ("    repo.take_bid (the bid's one statement)", "take_bid",
     "bidding_service/bids/repository.py"),
    ("    refusals (refused bids only)", "_refusal_now", "bidding_service/bids/service.py"),
    ("    anti-sniping rounds' transaction", "_submit_extending",
     "bidding_service/bids/service.py"),
    ("  receipt (canonical JSON + SHA-256 + Ed25519)", "bid_receipt",
     "bidding_service/bids/receipts.py"),
    ("  render (orjson + Response)", "render", "shared/http.py"),
    ("  structlog (request log line)", "", "structlog/"),
    ("  prometheus metrics", "", "prometheus_client/"),
    ("asyncpg (anywhere)", "", "asyncpg/"),
    ("aiohttp server" + " outside the handler (parse, write)", "observe", "shared/http.py"),
    ("outbox relay", "", "shared/outbox.py"),
    ("round timer", "", "bidding_service/rounds/timer.py"),
]

# Parts of the close (timer tick -> close_round -> award) and of the relay.
CLOSE_GROUPS: list[tuple[str, str, str]] = [
    ("close_round in total", "close_round", "bidding_service/awards/service.py"),
    ("  tally: one pass over the bids (decrypt, leaves, root, candidates)", "tally",
     "bidding_service/awards/tally.py"),
    ("  amounts.rank (domain.evaluate)", "rank", "bidding_service/bids/amounts.py"),
    ("  audit chain append (one statement: the service only waits)", "append",
     "shared/audit_append.py"),
    ("  amounts.store_ranking (INSERTs from arrays)", "store_ranking",
     "bidding_service/bids/amounts.py"),
    ("  publish_award in total", "publish_award", "bidding_service/awards/pipeline.py"),
    ("    repo.insert_award (with the event's ranking)", "insert_award",
     "bidding_service/awards/repository.py"),
    ("    UnitOfWork.emit -> CloudEvent (pydantic)", "emit", "shared/uow.py"),
    ("  UnitOfWork exit: outbox write (to_json_dict, jsonb) + COMMIT", "__aexit__",
     "shared/uow.py"),
    ("    write_outbox", "write_outbox", "shared/uow.py"),
    ("pydantic (anywhere)", "", "pydantic"),
    ("asyncpg (anywhere)", "", "asyncpg/"),
    ("outbox relay in total", "", "shared/outbox.py"),
    ("  relay publish (aio-pika/aiormq/pamqp)", "_publish", "shared/outbox.py"),
    ("round timer closers (include close_round)", "_closer", "bidding_service/rounds/timer.py"),
]


def _match(f: str, file: str, func: str, frag: str) -> bool:
    """`func` matches a bare function or a method (`Class.func`, `outer.<locals>.func`);
    "count" matches bid_counts and count_candidates (any name containing it)."""
    if func == "count":
        return "count" in f and frag in file
    return (not func or f == func or f.endswith("." + func)) and frag in file


def _on_stack(frames: list[tuple[str, str]], func: str, frag: str) -> bool:
    """Is the frame on the stack? `parent>child` asks for child called right by parent."""
    if ">" not in func:
        return any(_match(f, file, func, frag) for f, file in frames)
    parent, child = func.split(">", 1)
    return any(_match(f, file, parent, frag) and _match(frames[i + 1][0], "", child, "")
               for i, (f, file) in enumerate(frames[:-1]))


def parse_frame(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    return m["func"], m["file"]


def read(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        line = line.rstrip()
        if not line:
            continue
        body, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        frames = [parse_frame(f) for f in body.split(";")]
        # py-spy prefixes process/thread pseudo-frames; keep real frames only.
        frames = [f for f in frames if not f[0].startswith(("process ", "thread "))]
        stacks.append((frames, n))
    return stacks


def _short(file: str) -> str:
    for marker in ("site-packages/", "lib/python3", f"{ROOT}/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return file


def waiting_for_work(frames: list[tuple[str, str]]) -> bool:
    """An executor thread blocked in `work_queue.get()` with nothing to run (its leaf is
    `_worker` itself): py-spy counts it as active, as it waits on a lock rather than in
    epoll, but it uses no CPU."""
    return bool(frames) and frames[-1][0] == "_worker" \
        and frames[-1][1].endswith("concurrent/futures/thread.py")


def analyse(path: Path, parts: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    parts = GROUPS if parts is None else parts
    every = read(path)
    stacks = [(frames, n) for frames, n in every if not waiting_for_work(frames)]
    waiting = sum(n for _, n in every) - sum(n for _, n in stacks)
    total = sum(n for _, n in stacks) or 1
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    groups: collections.Counter[str] = collections.Counter()
    for frames, n in stacks:
        names = {f"{func} ({_short(file)})" for func, file in frames}
        for name in names:
            inclusive[name] += n
        if frames:
            func, file = frames[-1]
            own[f"{func} ({_short(file)})"] += n
        for label, func, frag in parts:
            if label.endswith(OUTSIDE):
                if not _on_stack(frames, func, frag) and any(
                        "aiohttp/" in file for _, file in frames):
                    groups[label] += n
            elif _on_stack(frames, func, frag):
                groups[label] += n

    def table(counter: collections.Counter[str]) -> list[dict[str, Any]]:
        return [{"frame": k, "samples": v, "pct": round(100 * v / total, 1)}
                for k, v in counter.most_common(60)]

    return {"samples": total, "waiting_workers": waiting,
            "inclusive": table(inclusive), "self": table(own),
            "groups": [{"part": label, "pct": round(100 * groups[label] / total, 1)}
                       for label, _, _ in parts]}


def render_text(summary: dict[str, Any]) -> str:
    lines = [f"py-spy samples (non-idle: running or runnable; idle in epoll excluded): "
             f"{summary['samples']}",
             f"(also excluded: {summary.get('waiting_workers', 0)} samples of executor "
             "threads waiting for work in work_queue.get)", "",
             "Parts (% of samples whose stack contains it; indented parts nest):"]
    lines += [f"  {g['pct']:5.1f}%  {g['part']}" for g in summary["groups"]]
    lines += ["", "Top inclusive (function on the stack):"]
    lines += [f"  {r['pct']:5.1f}%  {r['frame']}" for r in summary["inclusive"][:40]]
    lines += ["", "Top self (leaf Python frame; C extension time lands on its caller):"]
    lines += [f"  {r['pct']:5.1f}%  {r['frame']}" for r in summary["self"][:40]]
    return "\n".join(lines) + "\n"


def write_speedscope(path: Path, out: Path) -> None:
    """The same samples as a speedscope 'sampled' profile (open at speedscope.app)."""
    stacks = read(path)
    frames: dict[tuple[str, str], int] = {}
    samples, weights = [], []
    for fs, n in stacks:
        samples.append([frames.setdefault((func, _short(file)), len(frames))
                        for func, file in fs])
        weights.append(n)
    doc = {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": [{"name": func, "file": file}
                              for (func, file), _ in sorted(frames.items(),
                                                            key=lambda kv: kv[1])]},
        "profiles": [{"type": "sampled", "name": "bidding-service during bid storm",
                      "unit": "none", "startValue": 0, "endValue": sum(weights),
                      "samples": samples, "weights": weights}],
        "name": "bid storm", "exporter": "bench/profile.py",
    }
    out.write_bytes(orjson.dumps(doc))
