"""`procure demo`: a whole secondary price competition, end to end, against the real services.

Suppliers are registered and admitted, a round is launched in the overseas study trip
pool, supplier bots bid the way suppliers do (a few early, most in the last seconds,
some fight over the anti-sniping extension), one supplier is suspended mid-round, the
winner accepts, and the finance listener records the award from the broker. With the
budget loop (the services the demo starts run BUDGET_RESERVATION=required), the reference
finance system reserves the round's budget before it opens, commits it on acceptance and
reports a payment.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from procure.client import Json, Services, services
from procure.credit_codes import DIVISIONS, make_credit_code
from procure.demo_budget import DemoFinance
from procure.errors import ApiError, ProcureError
from procure.finance import FinanceListener, describe
from procure.rounds import Extension, LaunchSpec, launch
from procure.settings import ProcureSettings
from procure.stack import BIDDING, POOL, FileLogs, ServiceStack
from procure.ui import Ui, clock, money, percent
from procure.watch import RoundView, follow, seconds_left, show_award

STUDY_TRIPS = "overseas-study-trips"
CONFERENCES = "conference-services"
MIN_DECREMENT = Decimal("500.00")
_HUNDRED = Decimal("100")


# ---------------------------------------------------------------- the suppliers


@dataclass(frozen=True)
class DemoSupplier:
    name: str
    kind: str
    size: str
    place: str
    conferences: bool = False  # also admitted to the conference services pool
    prefix: str | None = None  # registration department + type, when the kind has several

    def credit_code(self) -> str:
        """The same valid code on every run, so a second demo reuses the first's suppliers."""
        rng = random.Random(f"procure-demo:{self.name}")
        return make_credit_code(self.kind, rng, DIVISIONS[self.place], self.prefix)

    def contact(self) -> dict[str, str]:
        rng = random.Random(f"procure-demo-contact:{self.name}")
        person = rng.choice("陈王李张林黄周吴郑徐胡金叶潘") + rng.choice(("经理", "主任", "总监"))
        area = _AREA_CODES.get(self.place, "0577")
        number = str(rng.randint(5_000_0000, 8_999_9999))
        return {"person": person, "phone": f"{area}-{number}"}


_AREA_CODES = {"杭州市": "0571", "宁波市": "0574", "上海市": "021", "北京市": "010",
               "浙江省": "0571"}
E, S, P = "enterprise", "social_organization", "public_institution"

SUPPLIERS: tuple[DemoSupplier, ...] = (
    DemoSupplier("温州环球国际旅行社有限公司", E, "medium", "鹿城区"),
    DemoSupplier("浙江瓯越国际会展服务有限公司", E, "small", "温州市", conferences=True),
    DemoSupplier("温州海外交流服务有限公司", E, "small", "瓯海区"),
    DemoSupplier("浙江中外友好国际旅行社有限公司", E, "large", "杭州市"),
    DemoSupplier("温州远航出境旅游有限公司", E, "micro", "龙湾区"),
    DemoSupplier("杭州欧亚国际培训交流有限公司", E, "medium", "杭州市"),
    DemoSupplier("上海锦程国际商务考察有限公司", E, "large", "上海市"),
    DemoSupplier("温州鹿城青年旅行社有限公司", E, "small", "鹿城区"),
    DemoSupplier("瑞安市丝路国际旅行社有限公司", E, "micro", "瑞安市"),
    DemoSupplier("乐清市环宇商务会务服务有限公司", E, "small", "乐清市", conferences=True),
    DemoSupplier("浙江新干线国际旅游有限公司", E, "medium", "浙江省"),
    DemoSupplier("温州启航国际教育咨询有限公司", E, "small", "瓯海区"),
    DemoSupplier("北京华夏国际交流培训有限公司", E, "medium", "北京市"),
    DemoSupplier("温州瓯江国际会议服务有限公司", E, "small", "鹿城区", conferences=True),
    DemoSupplier("浙江天元商务考察服务有限公司", E, "medium", "温州市"),
    DemoSupplier("温州世纪之旅旅行社有限公司", E, "micro", "鹿城区"),
    DemoSupplier("宁波甬港国际旅行社有限公司", E, "medium", "宁波市"),
    DemoSupplier("温州汇智国际人才交流有限公司", E, "small", "龙湾区"),
    DemoSupplier("浙江博览国际会展有限公司", E, "large", "杭州市", conferences=True),
    DemoSupplier("温州东瓯航空票务服务有限公司", E, "micro", "龙湾区"),
    DemoSupplier("苍南县宏达旅行社有限公司", E, "micro", "苍南县"),
    DemoSupplier("浙江之江国际合作交流有限公司", E, "medium", "浙江省", conferences=True),
    DemoSupplier("温州市对外友好交流促进会", S, "small", "温州市", prefix="51"),
    DemoSupplier("温州市国际商会", S, "small", "温州市", conferences=True, prefix="51"),
    DemoSupplier("温州市侨商联合会", S, "micro", "温州市", prefix="51"),
    DemoSupplier("温州市鹿城区企业管理培训中心", S, "small", "鹿城区", conferences=True,
                 prefix="52"),
    DemoSupplier("温州市国际交流服务中心", P, "medium", "温州市", conferences=True),
    DemoSupplier("温州市人才交流培训中心", P, "medium", "温州市"),
    DemoSupplier("浙江省对外科技交流中心", P, "medium", "浙江省"),
    DemoSupplier("温州市会展业服务中心", P, "small", "温州市", conferences=True),
)

# If a seed pool is missing (the services were started without `seed`), the demo
# creates it with the catalogue's terms.
_POOL_TERMS: dict[str, dict[str, str]] = {
    STUDY_TRIPS: {"name": "出国考察学习", "price_ceiling": "400000.00",
                  "max_round_budget": "1000000.00",
                  "description": "Overseas study trips: organising official delegations' "
                                 "study visits abroad"},
    CONFERENCES: {"name": "会议服务", "price_ceiling": "300000.00",
                  "max_round_budget": "1000000.00",
                  "description": "Conference services: venues, logistics and catering for "
                                 "official meetings"},
}


@dataclass
class Member:
    """A demo supplier as registered in the pool service."""

    spec: DemoSupplier
    id: str
    credit_code: str

    @property
    def name(self) -> str:
        return self.spec.name


# ---------------------------------------------------------------- the bots

EARLY, STEADY, SNIPER, FIGHTER, ABSTAIN, SUSPENDED = (
    "early", "steady", "sniper", "fighter", "abstain", "suspended")


@dataclass
class Bot:
    """One supplier's plan: when it bids and how low it is prepared to go."""

    member: Member
    style: str
    first: Decimal                      # opening bid
    floor: Decimal                      # it never goes below this
    start_at: float = 0.0               # seconds after opening (early / steady)
    snipe_before: float = 2.0           # seconds before the close (snipers, fighters)
    rebid_late: bool = False            # an early bidder that comes back at the end
    bids: list[Decimal] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def next_amount(self, rng: random.Random, ceiling: Decimal) -> Decimal | None:
        """A lower bid than its last (by at least the round's decrement), or None."""
        if not self.bids:
            return self.first
        last = self.bids[-1]
        step = ceiling * Decimal(rng.randint(60, 220)) / Decimal(10_000)
        amount = max(self.floor, _hundreds(last - max(step, MIN_DECREMENT)))
        return amount if amount <= last - MIN_DECREMENT else None


def _hundreds(amount: Decimal) -> Decimal:
    return (amount / _HUNDRED).to_integral_value(rounding=ROUND_DOWN) * _HUNDRED


def _share(ceiling: Decimal, rng: random.Random, low_bp: int, high_bp: int) -> Decimal:
    """A share of the ceiling between two basis-point bounds, in whole hundreds of yuan."""
    return _hundreds(ceiling * Decimal(rng.randint(low_bp, high_bp)) / Decimal(10_000))


def extension_window(seconds: float) -> int:
    """The anti-sniping window (and extension) for a demo round of `seconds`."""
    return max(2, min(4, round(seconds / 8)))


def plan_bots(members: list[Member], ceiling: Decimal, seconds: float, window: int,
              rng: random.Random) -> list[Bot]:
    """Who does what: a few early, a few mid-round, most in the last seconds, two who
    stay out, one who gets suspended, and three who fight over the extension: they bid
    inside the anti-sniping window below everyone else, and come back when it moves."""
    order = list(members)
    rng.shuffle(order)
    n = len(order)
    counts = {ABSTAIN: 2 if n >= 10 else 0, SUSPENDED: 1 if n >= 6 else 0,
              EARLY: max(1, n // 6), STEADY: max(1, n // 7), FIGHTER: 3 if n >= 12 else 1}
    styles: list[str] = []
    for style, k in counts.items():
        styles += [style] * k
    styles += [SNIPER] * max(0, n - len(styles))
    late_max = max(1.0, min(6.0, seconds * 0.3))
    bots: list[Bot] = []
    for member, style in zip(order, styles, strict=False):
        if style in (EARLY, SUSPENDED):
            bot = Bot(member, style, _share(ceiling, rng, 9000, 9700),
                      _share(ceiling, rng, 8300, 8900),
                      start_at=rng.uniform(0.3, max(0.6, seconds * 0.15)),
                      rebid_late=style == EARLY and rng.random() < 0.5,
                      snipe_before=rng.uniform(0.8, late_max))
        elif style == STEADY:
            bot = Bot(member, style, _share(ceiling, rng, 8600, 9300),
                      _share(ceiling, rng, 8400, 8600),
                      start_at=rng.uniform(seconds * 0.25, seconds * 0.6))
        elif style == FIGHTER:
            bot = Bot(member, style, _share(ceiling, rng, 7850, 8150),
                      _share(ceiling, rng, 7400, 7700),
                      snipe_before=rng.uniform(0.6, max(0.8, window - 0.4)))
        elif style == SNIPER:
            bot = Bot(member, style, _share(ceiling, rng, 8300, 9000),
                      _share(ceiling, rng, 8200, 8300),
                      snipe_before=rng.uniform(0.7, late_max))
        else:
            bot = Bot(member, ABSTAIN, ceiling, ceiling)
        bots.append(bot)
    return bots


# ---------------------------------------------------------------- the demo


class Demo:
    def __init__(self, settings: ProcureSettings, ui: Ui, *, round_seconds: float,
                 finance_out: Path | None, interactive: bool, seed: int | None,
                 ledger: Path | None = None) -> None:
        self.settings = settings
        self.ui = ui
        self.budget = DemoFinance(settings, ui, ledger or Path(tempfile.gettempdir()) /
                                  "procure-demo" / "ledger.json")
        self.seconds = round_seconds
        self.finance_out = finance_out or Path(tempfile.gettempdir()) / "procure-demo" / \
            "awards.jsonl"
        self.interactive = interactive
        self.seed = seed if seed is not None else random.randrange(1_000_000)
        self.rng = random.Random(self.seed)
        self.view = RoundView(ui, feed_size=12)
        self.round_id = ""
        self.ceiling = Decimal(0)
        self.stack: ServiceStack | None = None
        self.finance_seen: dict[str, dict[str, Any]] = {}  # award id + type -> event
        self._listening: asyncio.Task[int] | None = None
        self._finance_arrived = asyncio.Event()

    # ------------------------------------------------------------ entry

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        assert main is not None
        loop.add_signal_handler(signal.SIGTERM, main.cancel)
        listener: FinanceListener | None = None
        listening: asyncio.Task[int] | None = None
        award_line: str | None = None
        try:
            async with services(self.settings) as api:
                await self._ensure_services(api)
                listener = FinanceListener(self.settings, self.finance_out,
                                           self._on_finance_event, self.ui.warn)
                await listener.connect()
                listening = asyncio.create_task(listener.run(), name="finance-listener")
                self.ui.say(f"finance listener: consuming queue {listener.queue_name} "
                            f"(bound to {', '.join(listener.routing_keys)}) into "
                            f"{self.finance_out}")
                self._listening = listening
                await self.budget.start(self._round_spec(Decimal(0)).budget_line)
                award_line = await self._story(api)
        finally:
            await self.budget.stop()
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening
            if listener is not None:
                await listener.close()
            if self.stack is not None:
                self.ui.say("stopping the services the demo started")
                if not await self.stack.stop():
                    self.ui.warn("a service did not stop cleanly")
            loop.remove_signal_handler(signal.SIGTERM)
        if award_line is None:
            return 1
        # Last, after any cleanup output: the line scripts and tests read.
        self.ui.say(award_line)
        return 0

    async def _ensure_services(self, api: Services) -> None:
        ready = {POOL: await api.pool.ready(), BIDDING: await api.bidding.ready()}
        if all(ready.values()):
            self.ui.say(f"using the running services: {api.pool.base_url} and "
                        f"{api.bidding.base_url}")
            return
        missing = [key for key, ok in ready.items() if not ok]
        log_path = Path(tempfile.gettempdir()) / "procure-demo" / \
            f"services-{datetime.now():%Y%m%d-%H%M%S}.log"
        names = " and ".join(f"the {key} service" for key in missing)
        self.ui.say(f"starting {names} (as `procure run` does); their logs go to {log_path}")
        self.stack = ServiceStack(self.settings, self.ui, FileLogs(log_path), which=missing,
                                  round_min_seconds=min(10, int(self.seconds)),
                                  extra_env={"BUDGET_RESERVATION": "required"})
        await self.stack.start()
        for child in self.stack.children:
            self.ui.say(f"{child.service.title} listening on {child.service.url}")

    # ------------------------------------------------------------ the story

    async def _story(self, api: Services) -> str | None:
        """The demo itself; returns the final `AWARD ...` line, or None if no award."""
        ui = self.ui
        ui.heading("1. suppliers and pools")
        trips = await self._pool(api, STUDY_TRIPS)
        conferences = await self._pool(api, CONFERENCES)
        members = await self._register(api)
        await self._admit(api, trips, members)
        await self._admit(api, conferences, [m for m in members if m.spec.conferences])
        await self._wait_eligible(api, trips, members)

        ui.heading("2. the round")
        ceiling = _hundreds(min(Decimal("380000.00"), Decimal(trips["price_ceiling"])))
        spec = self._round_spec(ceiling)
        bots = plan_bots(members, ceiling, self.seconds, extension_window(self.seconds),
                         self.rng)
        if self.interactive:
            ui.say("press Enter to launch the round (Ctrl-C to quit)", style="bold")
            await _wait_for_enter()
        try:
            rnd = await launch(api, trips, spec)
        except ApiError as exc:
            if exc.status == 422 and "no such pool" in exc.detail:
                raise ProcureError(
                    f"{exc}\nthe bidding service never received pool.created for "
                    f"{trips['code']}: it was published before the bidding service's queue "
                    "existed. Start the bidding service before the pool service (`procure "
                    "run` does) on a fresh database") from None
            if exc.status == 422 and "at least" in exc.detail:
                raise ProcureError(
                    f"{exc}\nthe bidding service wants longer rounds than "
                    f"--round-seconds {self.seconds:g}: run the demo with a longer round, or "
                    "restart the services with ROUND_MIN_DURATION_SECONDS=10 (as `procure "
                    "run` does)") from None
            raise
        ext = rnd.get("extension") or {}
        ui.say(f"launched round {rnd['id']}: {rnd['title']}")
        ui.say(f"  buyer {rnd['buyer']['name']}, ceiling {money(rnd['ceiling_price'])}, "
               f"{rnd['invited_count']} suppliers invited, closes at {clock(rnd['closes_at'])}, "
               f"SME deduction {percent(rnd['sme_price_deduction'])}, {rnd['disclosure']} bids")
        ui.say(f"  anti-sniping: a best bid in the last {ext.get('window_seconds')} s extends "
               f"the round by {ext.get('extend_seconds')} s, at most "
               f"{ext.get('max_extensions')} times")
        rnd = await self.budget.reserved(api, rnd)
        self.view.update(rnd)

        with self.view.live():
            final = await self._bidding(api, rnd, trips, bots)

        ui.heading("3. the result")
        show_award(ui, final)
        award = final.get("award")
        if final["status"] == "failed" or award is None:
            ui.fail(f"the round {final['status']}: {final.get('status_reason') or 'no award'}")
            return None
        winner = award["supplier"]
        accepted = await api.bidding.post(f"/v1/awards/{award['id']}/accept",
                                          token=api.tokens.supplier(winner["id"]), json={})
        ui.say(f"{winner['name']} accepted the award ({accepted['status']}, "
               f"{clock(accepted.get('decided_at'))})", style="green")
        await self.budget.committed_and_paid(api, award)

        ui.heading("4. finance")
        published = await self._finance_event(award["id"], "award.published", 30)
        ui.say(f"finance listener received award.published (event {published['id']}) "
               f"for award {award['id']}: "
               f"{money(published['data']['amount'])} to {published['data']['supplier']['name']}"
               f", budget line {published['data']['budget_line']}")
        ui.say(f"  appended to {self.finance_out} (fsync'ed) before it was acknowledged")
        try:
            await self._finance_event(award["id"], "award.accepted", 15)
            ui.say("finance listener received award.accepted: the budget can be committed")
        except ProcureError as exc:
            ui.warn(str(exc))
        notice = await api.bidding.get(f"/v1/awards/{award['id']}")
        ui.say(f"public notice GET /v1/awards/{award['id']}: {notice['status']}, "
               f"{money(notice['amount'])}, {notice['supplier']['name']}")
        return f"AWARD {notice['id']} {notice['supplier']['id']} {notice['amount']}"

    def _round_spec(self, ceiling: Decimal) -> LaunchSpec:
        year = datetime.now().year + 1
        window = extension_window(self.seconds)
        return LaunchSpec(
            title=f"{year}年温州市商务局赴德国、荷兰经贸考察团组织服务",
            description=("组织12人代表团赴德国汉诺威、荷兰鹿特丹开展为期9天的经贸考察学习，"
                         "含国际往返机票、境外住宿与交通、翻译、保险及日程安排。"),
            ceiling=str(ceiling), seconds=self.seconds, buyer_org="WZ-SWJ",
            buyer_name="温州市商务局", budget_line=f"{year}-2011308-0318",
            min_bids=3, sme_deduction="0.10", disclosure="sealed",
            min_decrement=str(MIN_DECREMENT),
            extension=Extension(window, window, 3))

    # ------------------------------------------------------------ setup steps

    async def _pool(self, api: Services, code: str) -> Json:
        try:
            pool = await api.find_pool(code)
        except ApiError as exc:
            if exc.status != 404:
                raise
            pool = await self._create_pool(api, code)
        self.ui.say(f"pool {pool['code']}: {pool['name']} ({pool['status']}, ceiling "
                    f"{money(pool['price_ceiling'])}, {pool['admitted_count']} admitted)")
        return pool

    async def _create_pool(self, api: Services, code: str) -> Json:
        terms = _POOL_TERMS[code]
        today = date.today()
        body = {"code": code, "name": terms["name"], "category": "government_support",
                "jurisdiction": "温州市", "description": terms["description"],
                "valid_from": date(today.year, 1, 1).isoformat(),
                "valid_to": date(today.year + 1, 12, 31).isoformat(),
                "price_ceiling": terms["price_ceiling"],
                "max_round_budget": terms["max_round_budget"]}
        self.ui.warn(f"pool {code} is missing (seed not run?): creating it")
        return await api.pool.post("/v1/pools", token=api.tokens.center(), json=body)

    async def _register(self, api: Services) -> list[Member]:
        token = api.tokens.center()
        limit = asyncio.Semaphore(8)

        async def one(spec: DemoSupplier) -> tuple[Member, bool]:
            code = spec.credit_code()
            async with limit:
                try:
                    body = await api.pool.post("/v1/suppliers", token=token, json={
                        "name": spec.name, "credit_code": code, "kind": spec.kind,
                        "size": spec.size, "contact": spec.contact()})
                    return Member(spec, body["id"], body["credit_code"]), True
                except ApiError as exc:
                    if exc.status != 409:
                        raise
                found = await api.pool.get("/v1/suppliers", token=token,
                                           params={"credit_code": code})
                items = found.get("items") or []
                if not items:
                    raise ProcureError(f"{spec.name}: credit code {code} is taken, "
                                       "yet no supplier has it") from None
                return Member(spec, items[0]["id"], items[0]["credit_code"]), False

        results = await asyncio.gather(*(one(spec) for spec in SUPPLIERS))
        members = [m for m, _ in results]
        fresh = sum(1 for _, new in results if new)
        kinds = {k: sum(1 for m in members if m.spec.kind == k) for k in (E, S, P)}
        self.ui.say(f"registered {fresh} suppliers ({len(members) - fresh} already known): "
                    f"{kinds[E]} enterprises, {kinds[S]} social organizations, "
                    f"{kinds[P]} public institutions")
        self.ui.table(["supplier", "credit code", "kind", "size"],
                      [[m.name, m.credit_code, m.spec.kind, m.spec.size] for m in members])
        return members

    async def _admit(self, api: Services, pool: Json, members: list[Member]) -> None:
        token = api.tokens.center()
        limit = asyncio.Semaphore(8)
        base = f"/v1/pools/{pool['id']}/members"

        async def one(member: Member) -> str:
            async with limit:
                try:
                    await api.pool.post(base, token=token, json={
                        "supplier_id": member.id, "reason": "资格审查合格，直接入围"})
                    return "admitted"
                except ApiError as exc:
                    if exc.status != 409:
                        raise
                current = await api.pool.get(f"{base}/{member.id}", token=token)
                if current["status"] in ("suspended", "applied"):
                    # A supplier suspended by an earlier demo run comes back for this one.
                    await api.pool.post(f"{base}/{member.id}/transitions", token=token,
                                        json={"to": "admitted",
                                              "reason": "核查完毕，恢复入围资格"})
                    return "readmitted"
                return str(current["status"])

        outcomes = await asyncio.gather(*(one(m) for m in members))
        summary = ", ".join(f"{outcomes.count(s)} {s}" for s in sorted(set(outcomes)))
        self.ui.say(f"{pool['name']} ({pool['code']}): {summary}")

    async def _wait_eligible(self, api: Services, pool: Json, members: list[Member],
                             patience: float = 30.0) -> None:
        """The bidding service learns admissions from events: wait until its copy has them."""
        wanted = {m.id for m in members}
        deadline = time.monotonic() + patience
        token = api.tokens.center()
        while True:
            answer = await api.bidding.get(f"/v1/pools/{pool['id']}/eligible", token=token)
            have = set(answer.get("supplier_ids") or [])
            if wanted <= have:
                self.ui.say(f"the bidding service lists {len(have)} eligible suppliers in "
                            f"{pool['code']} (its event-fed copy, as of "
                            f"{clock(answer['as_of'])})")
                return
            if time.monotonic() > deadline:
                raise ProcureError(
                    f"after {patience:.0f} s the bidding service still lists only "
                    f"{len(wanted & have)} of {len(wanted)} admitted suppliers in "
                    f"{pool['code']}: are its consumer and the pool service's outbox relay "
                    "running (same EVENTS_EXCHANGE)?")
            await asyncio.sleep(0.3)

    # ------------------------------------------------------------ the bidding

    async def _bidding(self, api: Services, rnd: Json, pool: Json, bots: list[Bot]) -> Json:
        self.round_id = rnd["id"]
        self.ceiling = Decimal(rnd["ceiling_price"])
        watcher = asyncio.create_task(follow(api, self.round_id, self.view, poll=0.25))
        tasks = [asyncio.create_task(self._bot(api, bot))
                 for bot in bots if bot.style != ABSTAIN]
        victim = next((b for b in bots if b.style == SUSPENDED), None)
        if victim is not None:
            tasks.append(asyncio.create_task(self._suspend(api, pool, victim)))
        try:
            final = await watcher
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, ProcureError):
                self.ui.warn(f"a bot stopped: {result}")
        return final

    def _open(self) -> bool:
        rnd = self.view.latest
        return rnd is not None and rnd["status"] in ("scheduled", "open")

    async def _sleep_until(self, moment: Callable[[], float]) -> bool:
        """Sleep until `moment()` (seconds from now, re-read as the round moves) is due;
        False if the round stopped taking bids meanwhile."""
        while self._open():
            due = moment()
            if due <= 0:
                return True
            await asyncio.sleep(min(due, 0.1))
        return False

    def _since_open(self, offset: float) -> Callable[[], float]:
        assert self.view.latest is not None
        opens = datetime.fromisoformat(self.view.latest["opens_at"])
        return lambda: (opens + timedelta(seconds=offset) - datetime.now(UTC)).total_seconds()

    def _before_close(self, offset: float) -> Callable[[], float]:
        return lambda: seconds_left(self.view.latest or {}) - offset

    async def _bot(self, api: Services, bot: Bot) -> None:
        if bot.style in (EARLY, STEADY, SUSPENDED):
            if not await self._sleep_until(self._since_open(bot.start_at)):
                return
            await self._place(api, bot)
            if bot.style == SUSPENDED:
                return  # what it does next is up to `_suspend`
            if not bot.rebid_late:
                return
        if not await self._sleep_until(self._before_close(bot.snipe_before)):
            return
        await self._place(api, bot)
        if bot.style != FIGHTER:
            return
        # A fighter watches the clock: whenever the close moves past the deadline it
        # aimed at (someone improved the best price late), it comes back and bids lower.
        aimed = self._closes_at()
        while self._open():
            if self._closes_at() > aimed + timedelta(seconds=0.3):
                aimed = self._closes_at()
                gap = self.rng.uniform(0.6, 1.8)
                if not await self._sleep_until(self._before_close(gap)):
                    return
                aimed = self._closes_at()
                if not await self._place(api, bot):
                    return
            await asyncio.sleep(0.1)

    def _closes_at(self) -> datetime:
        assert self.view.latest is not None
        return datetime.fromisoformat(self.view.latest["closes_at"])

    async def _place(self, api: Services, bot: Bot) -> bool:
        amount = bot.next_amount(self.rng, self.ceiling)
        if amount is None:
            self.view.note(f"{bot.member.name} holds its bid (at its floor)", "dim")
            return False
        try:
            await api.bidding.post(f"/v1/rounds/{self.round_id}/bids",
                                   token=api.tokens.supplier(bot.member.id),
                                   json={"amount": str(amount)},
                                   headers={"Idempotency-Key": str(uuid.uuid4())})
        except ApiError as exc:
            # Never the amount: only the supplier itself may know it before the close.
            bot.refused.append(exc.detail)
            reason = exc.detail if exc.status in (403, 409) else exc.title
            self.view.note(f"{bot.member.name}: bid refused ({exc.status}): {reason}",
                           "red" if exc.status == 403 else "yellow")
            return False
        again = " again (lower)" if bot.bids else ""
        bot.bids.append(amount)
        left = seconds_left(self.view.latest or {})
        self.view.note(f"{bot.member.name} placed a sealed bid{again} "
                       f"(t-{max(0.0, left):.1f}s)",
                       "bold" if left <= 5 else None)
        return True

    async def _suspend(self, api: Services, pool: Json, bot: Bot) -> None:
        """Mid-round, the center suspends one bidder; its next bid must be refused."""
        if not await self._sleep_until(self._since_open(max(bot.start_at + 0.5,
                                                            self.seconds * 0.35))):
            return
        reason = "资格复核：营业执照经营范围不含出境旅游业务，暂停入围资格待核查"
        await api.pool.post(f"/v1/pools/{pool['id']}/members/{bot.member.id}/transitions",
                            token=api.tokens.center(), json={"to": "suspended", "reason": reason})
        self.view.note(f"center suspended {bot.member.name} in {pool['name']}: {reason}", "red")
        token = api.tokens.center()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._open():
            answer = await api.bidding.get(f"/v1/pools/{pool['id']}/eligible", token=token)
            if bot.member.id not in (answer.get("supplier_ids") or []):
                self.view.note(f"bidding service applied pool.member.suspended: "
                               f"{bot.member.name}'s bids no longer count", "red")
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(self.rng.uniform(0.5, 1.2))
        if self._open():
            await self._place(api, bot)

    # ------------------------------------------------------------ finance

    def _on_finance_event(self, event: dict[str, Any], fresh: bool) -> None:
        data = event.get("data") or {}
        award_id = str(data.get("id") if event.get("type") == "award.published"
                       else data.get("award_id"))
        self.finance_seen[f"{event.get('type')}:{award_id}"] = event
        self._finance_arrived.set()
        prefix = "finance: " if fresh else "finance (already recorded, skipped): "
        self.view.note(prefix + describe(event), "cyan")

    async def _finance_event(self, award_id: str, type_: str,
                             patience: float) -> dict[str, Any]:
        key = f"{type_}:{award_id}"
        deadline = time.monotonic() + patience
        while key not in self.finance_seen:
            if self._listening is not None and self._listening.done():
                failure = None if self._listening.cancelled() else self._listening.exception()
                raise ProcureError(f"the finance listener stopped: {failure!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProcureError(f"the finance listener got no {type_} for award {award_id} "
                                   f"within {patience:.0f} s (queue {self.settings.finance_queue}"
                                   f", exchange {self.settings.events_exchange})")
            self._finance_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finance_arrived.wait(), left)
        return self.finance_seen[key]


async def _wait_for_enter() -> None:
    """Read a line from the terminal without a thread (Ctrl-C stays responsive)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        sys.stdin.readline()
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)


async def run_demo(settings: ProcureSettings, ui: Ui, *, round_seconds: float,
                   finance_out: Path | None, interactive: bool, seed: int | None,
                   ledger: Path | None = None) -> int:
    """`procure demo`."""
    return await Demo(settings, ui, round_seconds=round_seconds, finance_out=finance_out,
                      interactive=interactive, seed=seed, ledger=ledger).run()
