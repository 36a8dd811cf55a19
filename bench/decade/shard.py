"""One shard: a slice of the register played day by day for the whole decade, on its own
time-skipping server and database, through the system's own parts: the HTTP API app (in
process), the real worker (`worker.build_worker`), PostgreSQL and the SMTP sink.

The shard keeps an agenda of what people do and when (submissions, reviews, appeals through
the portal and by e-mail, hearings, BEC decisions in time and late, stops, revocations,
resubmissions, the yearly screening as the Schedule would start it) and of faults (SMTP
outages, worker restarts, deploys with a new patch). Each simulated day it runs that day's
agenda in order, jumping the server's clock to each moment, then jumps to just past
midnight (the deadlines of the day have passed) and checks every invariant for the day
(bench/decade/invariants.py). Every random choice comes from one generator seeded with
`--seed` and the shard's number, drawn in agenda order: the same seed plays the same decade.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import heapq
import itertools
import logging
import math
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import asyncpg
import psutil
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.decade import deploy_state, figures, oracle, population
from bench.decade.actors import Answer, Portal
from bench.decade.clock import SimClock
from bench.decade.deploy import DeployedApplicationWorkflow
from bench.decade.invariants import Checks
from bench.decade.params import ParamError, Params
from bench.decade.results import ShardResult, Violation, YearStats
from bench.decade.smtp import SwitchableSink
from bench.decade.world import (
    ENDED,
    IN_APPEAL,
    LIVE_REGISTERED,
    REFUSED,
    REGISTERED,
    REMOVAL_SCHEDULED,
    UNDER_REVIEW,
    Appeal,
    Dossier,
    Notice,
    Pending,
    Window,
    World,
)
from models.screening import ScreeningTrigger
from runtime.settings import Settings
from starter.api.app import create_app
from workflows.application import ApplicationWorkflow

log = logging.getLogger("bench.decade")

MOTIVATION = "De opleiding sluit aan bij de arbeidsmarkt: zie het gemotiveerd beroepschrift."
REASON = "Onvoldoende arbeidsmarktgericht volgens de criteria."
BEC_REASON = "Na het horen van beide partijen beslist de BEC zo."
# How long after a step of its own the system may take to show it (a signal, its step).
PROMPT = timedelta(hours=2)
# How far the moment a step of an action is recorded may lie from the simulation's reading
# of the clock once the answer is in (the call takes seconds; the clock is read, not asked).
ACTION_SLACK = timedelta(minutes=1)


def working_day(day: date) -> bool:
    return oracle.working_day(day)


def next_working_day(day: date) -> date:
    while not working_day(day):
        day += timedelta(days=1)
    return day


@dataclass
class ShardConfig:
    index: int
    params: Params
    trainings: int
    folder: Path
    shards: int = 1

    @property
    def submissions_per_year(self) -> float:
        return self.params.rates.submissions_per_1000 * self.trainings / 1000


@dataclass(order=True)
class _Item:
    when: datetime
    seq: int
    label: str = field(compare=False)
    run: Callable[[], Awaitable[None]] = field(compare=False)


class WorkflowFailures(logging.Handler):
    """Workflow tasks that failed in the worker (non-determinism, an exception in the
    workflow's code): the SDK logs them; the checks report each with its dossier."""

    PATTERN = re.compile(r"Failed (?:handling )?activation|[Nn]ondetermin")
    WORKFLOW_ID = re.compile(r"with ID (\S+)|workflow_id[\"'=: ]+([A-Za-z0-9-]+)")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not self.PATTERN.search(message):
            return
        found = self.WORKFLOW_ID.search(message)
        wid = next((g for g in found.groups() if g), "") if found else ""
        wid = wid or str(getattr(record, "workflow_id", "") or "")
        self.seen.append((wid, message.splitlines()[0][:300]))


class WorkerHost:
    """The real worker in this process; restarted (gracefully or not) and redeployed.

    A worker's grace is fixed when it is built (the SDK hands it to its core then), so the
    kind of each coming stop is known in advance (`stops`, in time order): an abrupt stop
    cancels the running activities at once, as a killed worker's are lost, and the server
    retries them after their timeouts."""

    GRACE_SECONDS = 5.0

    def __init__(self, env: WorkflowEnvironment, pool: asyncpg.Pool[Any], settings: Settings):
        self.env, self.pool, self.settings = env, pool, settings
        self.worker: Worker | None = None
        self.task: asyncio.Task[None] | None = None
        self.stops: deque[bool] = deque()  # graceful or not, for each coming restart

    async def start(self) -> None:
        graceful = self.stops[0] if self.stops else True
        grace = self.GRACE_SECONDS if graceful else 0.0
        settings = self.settings.model_copy(
            update={
                "worker": self.settings.worker.model_copy(
                    update={"graceful_shutdown_seconds": grace}
                )
            }
        )
        case = DeployedApplicationWorkflow if deploy_state.deployed else ApplicationWorkflow
        self.worker = worker = build(self.env, settings, self.pool, case)
        self.task = asyncio.create_task(worker.run())

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.shutdown()
        if self.task is not None:
            with suppress(asyncio.CancelledError):
                await self.task
        self.worker = self.task = None

    async def restart(self, deploy: bool = False) -> None:
        await self.stop()
        if self.stops:
            self.stops.popleft()
        if deploy:
            deploy_state.deployed += 1
        await self.start()


def build(
    env: WorkflowEnvironment, settings: Settings, pool: asyncpg.Pool[Any], case: type
) -> Worker:
    from worker import build_worker

    return build_worker(env.client, settings, pool, case_workflow=case)


class Shard:
    def __init__(
        self,
        cfg: ShardConfig,
        env: WorkflowEnvironment,
        pool: asyncpg.Pool[Any],
        settings: Settings,
        sink: SwitchableSink,
    ) -> None:
        self.cfg = cfg
        self.p = cfg.params
        self.env = env
        self.pool = pool
        self.settings = settings
        self.sink = sink
        self.rng = random.Random(f"odb-decade/{self.p.seed}/{cfg.index}")
        self.world = World()
        self.clock = SimClock(env)
        self.agenda: list[_Item] = []
        self._seq = itertools.count()
        self._keys = itertools.count()
        self.violations: list[Violation] = []
        self.violations_total = 0
        self.years: list[YearStats] = []
        self.stats = YearStats(year=0)
        self.touched: set[str] = set()
        self.events = hashlib.sha256()
        self.event_count = 0
        self.event_log: TextIO | None = None  # events.tsv, opened when the shard runs
        self.failures = WorkflowFailures()
        self.worker = WorkerHost(env, pool, settings)
        self.portal: Portal | None = None
        # (dossier, kind, count) of notices the checks have still to find sent.
        self.expected_notices: list[tuple[str, str, int]] = []
        self.awaiting_refusal_notice: set[str] = set()
        self.outages = self.world.outages  # every outage planned, [down, up)
        self.smtp_down_at_check = False
        self.peak_python = 0
        self.peak_server = 0
        self.server_process: psutil.Process | None = None
        self.day: date = date(self.p.start_year, 1, 1)
        self.first_day = self.day
        self.largest: tuple[int, str] = (0, "")
        self.intents: dict[str, dict[str, Any]] = {}
        # The checks draw their samples from a generator of their own: what they look at
        # never changes what happens.
        self.rng_checks = random.Random(f"odb-decade/{self.p.seed}/{cfg.index}/checks")
        self.negative_notices: list[tuple[str, date]] = []
        self.year_touched: set[str] = set()
        self.shards = max(1, cfg.shards)
        self.providers: list[population.Provider] = []
        self.seed_seconds = 0.0
        self.checks = Checks(self)
        deploy_state.deployed = 0

    # ------------------------------------------------------------------ running

    async def run(self) -> ShardResult:
        t_start = time.monotonic()
        self.event_log = (self.cfg.folder / "events.tsv").open("w", buffering=1)
        logging.getLogger().addHandler(self.failures)
        self.server_process = _server_process()
        await self.clock.sync()
        first = oracle.at(self.first_day, 0, 0)
        if self.clock.now() >= first - timedelta(hours=1):
            raise ParamError(
                f"--start-year: the time-skipping server's clock is at "
                f"{self.clock.now().isoformat()}, past 1 January {self.p.start_year}; time only "
                f"moves forward: choose a later start year"
            )
        await self.worker.start()
        app = create_app(self.settings, self.env.client, self.pool, clock=self.clock.now)
        self.portal = Portal(app, self.settings)
        try:
            t0 = time.monotonic()
            providers = population.providers_of(
                self.cfg.index,
                max(1, math.ceil(self.cfg.trainings * self.p.providers_per_100 / 100)),
            )
            self.providers = providers
            await population.seed(
                self.pool, self.env.client, self.settings.temporal.task_queue, self.world,
                self.rng, shard=self.cfg.index, trainings=self.cfg.trainings,
                providers=providers, first_year=self.p.start_year,
            )  # fmt: skip
            self.seed_seconds = time.monotonic() - t0
            self.plan_faults()
            await self.clock.advance_to(first - timedelta(minutes=30))
            for year in range(self.p.start_year, self.p.start_year + self.p.years):
                await self.run_year(year)
            # The last year's figures, at the moment the others were compared.
            last = self.p.start_year + self.p.years - 1
            await self.clock.advance_to(oracle.at(self.figures_day(last + 1), 0, 1))
            await self.compare_figures(last)
            await self.checks.final()
        finally:
            await self.portal.close()
            await self.worker.stop()
            logging.getLogger().removeHandler(self.failures)
            self.event_log.close()
            self.event_log = None
        return ShardResult(
            shard=self.cfg.index,
            trainings=self.cfg.trainings,
            years=self.years,
            violations=self.violations,
            violations_total=self.violations_total,
            wall_seconds=time.monotonic() - t_start,
            seed_seconds=self.seed_seconds,
            peak_rss_python=self.peak_python,
            peak_rss_server=self.peak_server,
            largest_history=self.largest[0],
            largest_history_of=self.largest[1],
            digest=self.events.hexdigest(),
            events=self.event_count,
            api_calls=self.portal.calls,
            jumps=self.clock.jumps,
        )

    async def run_year(self, year: int) -> None:
        t0 = time.monotonic()
        self.stats = YearStats(year=year)
        self.plan_year(year)
        day = date(year, 1, 1)
        while day.year == year:
            self.day = day
            t_day = time.monotonic()
            await self.run_day(day)
            t_check = time.monotonic()
            self.stats.wall["days"] = self.stats.wall.get("days", 0) + t_check - t_day
            await self.checks.day(day)
            if day == self.figures_day(year) and year > self.p.start_year:
                await self.compare_figures(year - 1)
            self.stats.wall["checks"] = (
                self.stats.wall.get("checks", 0) + time.monotonic() - t_check
            )
            day += timedelta(days=1)
            self.sample_memory()
        t_end = time.monotonic()
        await self.checks.year_end(year)
        self.stats.wall["year_end"] = time.monotonic() - t_end
        self.stats.wall_seconds = time.monotonic() - t0
        self.stats.largest_history, self.stats.largest_history_of = self.checks.year_largest
        self.years.append(self.stats)
        log.warning(
            "shard %s: year %s done in %.1f s (%s violations so far)",
            self.cfg.index, year, self.stats.wall_seconds, self.violations_total,
        )  # fmt: skip

    @staticmethod
    def figures_day(year: int) -> date:
        """The day whose check compares the previous year's figures: by then the system has
        made every transition of its own that a day of that year owes (a refusal final some
        days after its window, a removal just after 31 December), and the screening of
        15 January has not yet begun."""
        return date(year, 1, 10)

    async def compare_figures(self, year: int) -> None:
        """The system's report of `year` against the figures the simulation counted itself
        (bench/decade/figures.py): each difference is a violation."""
        with self.timed("check_figures"):
            answer = await self.api.report(year)
            last_day = date(year, 12, 31)
            if not self.check_answer(f"the report of {year}", "", answer, 200):
                return
            stats = next(y for y in self.years if y.year == year)
            stats.figures = {b["body"]: b for b in answer.body["bodies"]}
            if not answer.body.get("complete") or answer.body.get("last_day") != str(last_day):
                self.violation("figures", "", f"the report of {year} is not of the whole "
                               f"year: {answer.body.get('period')}", day=last_day)  # fmt: skip
            want = figures.expected(self.world, year, last_day)
            differing = list(figures.differences(want, answer.body))
            for body, figure, got, expected in differing:
                self.violation("figures", "", f"{year} {body} {figure}: the report says {got}, "
                               f"the simulation counted {expected}", day=last_day)  # fmt: skip
            bounds = figures.notice_bounds(self.world, year)
            stats.bounds = {b: {f: list(v) for f, v in fs.items()} for b, fs in bounds.items()}
            outside = list(figures.out_of_bounds(bounds, answer.body))
            for body, figure, got, (low, high) in outside:
                self.violation("figures", "", f"{year} {body} {figure}: the report says "
                               f"{got}, the simulation bounds it to {low}..{high}",
                               day=last_day)  # fmt: skip
            stats.counts["figures_compared"] += 1
            stats.counts["figures_differing"] += len(differing) + len(outside)

    async def run_day(self, day: date) -> None:
        end = oracle.at(day + timedelta(days=1), 0, 1)
        while self.agenda and self.agenda[0].when < end:
            item = heapq.heappop(self.agenda)
            with self.timed(self.jump_kind(day)):
                await self.clock.advance_to(item.when, fine=not self.sink.up)
            self.event(item.label)
            try:
                with self.timed("actions"):
                    await item.run()
            except Exception as exc:  # a failed action is reported, the decade goes on
                log.exception("action %s failed", item.label)
                self.violation("action", "", f"{item.label}: {type(exc).__name__}: {exc}")
        with self.timed(self.jump_kind(day)):
            await self.clock.advance_to(end, fine=not self.sink.up)

    def jump_kind(self, day: date) -> str:
        """Where the time of a jump goes: the work the server's timers release."""
        if not self.sink.up:
            return "jumps: mail server away (notices retried every 10 s)"
        if day.month == 1 and 15 <= day.day <= 23:
            return "jumps: screening week (fresh runs)"
        if (day.month, day.day) in ((12, 31), (1, 1)):
            return "jumps: 31 December (removals)"
        return "jumps: other days"

    def sample_memory(self) -> None:
        with suppress(psutil.Error):
            self.peak_python = max(self.peak_python, psutil.Process().memory_info().rss)
            if self.server_process is not None:
                self.peak_server = max(self.peak_server, self.server_process.memory_info().rss)

    # ------------------------------------------------------------------ bookkeeping

    def at(self, when: datetime, label: str, run: Callable[[], Awaitable[None]]) -> None:
        heapq.heappush(self.agenda, _Item(when, next(self._seq), label, run))

    def event(self, label: str) -> None:
        line = f"{self.clock.now().isoformat(timespec='minutes')}\t{label}"
        self.events.update(line.encode() + b"\n")
        self.event_count += 1
        if self.event_log is not None:
            self.event_log.write(line + "\n")

    def violation(self, invariant: str, dossier: str, detail: str, day: date | None = None) -> None:
        self.violations_total += 1
        self.stats.counts["violations"] += 1
        v = Violation(
            day=(day or self.day).isoformat(),
            invariant=invariant,
            dossier=dossier,
            detail=detail,
            shard=self.cfg.index,
        )
        if len(self.violations) < 2000:
            self.violations.append(v)
        log.warning("VIOLATION %s", v.line())

    @contextlib.contextmanager
    def timed(self, what: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.stats.wall[what] = self.stats.wall.get(what, 0.0) + time.monotonic() - t0

    def count(self, what: str, n: int = 1) -> None:
        self.stats.counts[what] += n

    def expect_notice(
        self,
        dossier: str,
        kind: str,
        n: int = 1,
        queued: tuple[datetime, datetime] | None = None,
    ) -> None:
        """A notice the checks must find sent, and the figures count (`queued`: when its
        step was recorded; by default the action just answered)."""
        self.expected_notices.append((dossier, kind, n))
        if queued is None:
            now = self.clock.now()
            queued = (now - ACTION_SLACK, now + ACTION_SLACK)
        self.world.notices.append(
            Notice(dossier, self.world.dossiers[dossier].body, kind, *queued, copies=n)
        )

    def today(self) -> date:
        return oracle.brussels_day(self.clock.now())

    def key(self) -> str:
        return f"sim-s{self.cfg.index}-{next(self._keys):08d}"

    def office_time(self, day: date, first: int = 8, last: int = 17) -> datetime:
        return oracle.at(day, self.rng.randint(first, last - 1), self.rng.randrange(0, 60, 5))

    def working_day_after(self, day: date, days: int) -> date:
        return next_working_day(day + timedelta(days=days))

    def n_of(self, rate: float) -> int:
        return _n_of(self.rng, rate)

    def check_answer(
        self, what: str, dossier: str, answer: Answer, status: int, state: str | None = None
    ) -> bool:
        if answer.status != status:
            self.violation(
                "api-answer", dossier, f"{what}: expected {status}, got {answer.brief()}"
            )
            return False
        if state is not None and answer.body.get("state") != state:
            self.violation(
                "api-answer", dossier,
                f"{what}: expected state {state}, the case says {answer.body.get('state')}",
            )  # fmt: skip
            return False
        return True

    @property
    def api(self) -> Portal:
        assert self.portal is not None
        return self.portal

    # ------------------------------------------------------------------ planning a year

    def plan_year(self, year: int) -> None:
        r = self.p.rates
        days = [date(year, 1, 1) + timedelta(days=i) for i in range(366)]
        days = [d for d in days if d.year == year]
        workdays = [d for d in days if working_day(d)]
        # The yearly screening, when the Schedule would start it (15 January, 06:00).
        self.at(
            oracle.at(date(year, 1, 15), 6, 0),
            f"screening {year}",
            functools.partial(self.screening, year),
        )
        for _ in range(self.n_of(self.cfg.submissions_per_year)):
            day = self.rng.choice(workdays)
            when = self.office_time(day)
            provider = self.rng.choice(self.providers)
            self.at(when, f"submit {provider.number}", functools.partial(self.submit, provider))
        # Stops and revocations, among what is registered now (checked again on the day).
        for d in sorted(self.world.registered(), key=lambda d: d.number):
            roll = self.rng.random()
            if roll < r.stopped:
                when = self.office_time(self.rng.choice(workdays))
                stop = functools.partial(self.end_registration, d, "stop")
                self.at(when, f"stop {d.number}", stop)
            elif roll < r.stopped + r.revoked:
                when = self.office_time(self.rng.choice(workdays))
                revoke = functools.partial(self.end_registration, d, "revoke")
                self.at(when, f"revoke {d.number}", revoke)

    def plan_faults(self) -> None:
        """Every fault of the decade, the same in every shard (an outage of the mail server
        or a deploy hits the whole register at once), from a generator of their own, so the
        worker knows the kind of each coming stop.

        While the mail server is away every notice waiting to go out is retried every 10 s
        (the system's promise: out within seconds of its return), each retry a real activity:
        an outage costs about 5 s of wall time per hour per waiting notice (measured). So
        the notice that matters most, a refusal decided during an outage over midnight (its
        window runs from the next day), is played in one shard per outage, in turn."""
        f = self.p.faults
        rng = random.Random(f"odb-decade/{self.p.seed}/faults")
        stops: list[tuple[datetime, bool]] = []
        outages = 0
        for year in range(self.p.start_year, self.p.start_year + self.p.years):
            days = [date(year, 1, 1) + timedelta(days=i) for i in range(366)]
            days = [d for d in days if d.year == year]
            workdays = [d for d in days if working_day(d)]
            for _ in range(_n_of(rng, f.smtp_outages_per_year)):
                day = rng.choice(days)
                over_midnight = rng.random() < f.smtp_outage_over_midnight
                hours = rng.uniform(*f.smtp_outage_hours)
                if over_midnight:
                    # Down in the evening, back after midnight: hours long, ending at most
                    # an hour and a half into the next day.
                    end = oracle.at(day + timedelta(days=1), 0, 0) + timedelta(
                        minutes=rng.randrange(5, 90, 5)
                    )
                    start = min(
                        max(end - timedelta(hours=hours), oracle.at(day, 18, 0)),
                        oracle.at(day, 23, 30),
                    )
                else:
                    start = oracle.at(day, rng.randint(8, 15), rng.randrange(0, 60, 5))
                    end = start + timedelta(hours=hours)
                provider_index = rng.randrange(10_000)
                if any(s <= end and start <= e for s, e in self.outages):
                    continue
                self.outages.append((start, end))
                self.at(start, "smtp down", self.smtp_down)
                self.at(end, "smtp up", self.smtp_up)
                outages += 1
                if over_midnight and outages % self.shards == self.cfg.index % self.shards:
                    provider = self.providers[provider_index % len(self.providers)]
                    # Submitted before the outage (its acknowledgment goes out), refused late
                    # in the evening while the mail server is away: the notice goes out the
                    # next day, and the window runs from then.
                    refuse_at = max(start + timedelta(minutes=5), oracle.at(day, 23, 45))
                    self.at(
                        start - timedelta(minutes=15),
                        f"submit {provider.number} (refused during the outage)",
                        functools.partial(self.submit, provider, decide_at=refuse_at),
                    )
            for _ in range(_n_of(rng, f.worker_restarts_per_year)):
                when = oracle.at(rng.choice(days), rng.randint(0, 23), rng.randrange(60))
                graceful = rng.random() < 0.5
                stops.append((when, graceful))
                kind = "graceful" if graceful else "abrupt"
                self.at(when, f"worker restart ({kind})", self.restart_worker)
            for _ in range(_n_of(rng, f.deploys_per_year)):
                when = oracle.at(rng.choice(workdays), 7, rng.randrange(60))
                stops.append((when, True))
                self.at(when, "deploy (new patch)", self.deploy)
        self.worker.stops.extend(graceful for _, graceful in sorted(stops))
        self.world.worker_stops.extend(sorted(when for when, _ in stops))

    # ------------------------------------------------------------------ faults

    async def smtp_down(self) -> None:
        self.sink.stop()
        self.smtp_down_at_check = True
        self.count("smtp_outages")

    async def smtp_up(self) -> None:
        self.sink.start()

    async def restart_worker(self) -> None:
        await self.worker.restart()
        self.count("worker_restarts")

    async def deploy(self) -> None:
        await self.worker.restart(deploy=True)
        self.count("deploys")

    # ------------------------------------------------------------------ applications

    async def submit(
        self,
        provider: population.Provider,
        predecessor: Dossier | None = None,
        decide_at: datetime | None = None,
    ) -> None:
        r = self.p.rates
        today = self.today()
        start_date = today + timedelta(days=self.rng.randint(40, 200))
        training = predecessor.training if predecessor else self.world.new_training()
        title = population.title(self.rng, self.cfg.index, 100_000 + training)
        app = population.application(
            self.rng, provider, title, start_date, predecessor.number if predecessor else None
        )
        body = app.model_dump(mode="json", exclude_none=True)
        key = self.key()
        answer = await self.api.submit(provider.number, body, key)
        if not self.check_answer("submission", predecessor.number if predecessor else "",
                                 answer, 201):  # fmt: skip
            return
        dossier = str(answer.body["dossier"])
        d = self.world.add(
            Dossier(
                number=dossier,
                training=training,
                provider=provider.number,
                body=app.competent_body,
                submitted_at=self.clock.now(),
                predecessor=predecessor.number if predecessor else None,
            )
        )
        await self.first_step_done(dossier)
        self.event(f"submitted {dossier}")
        self.touched.add(dossier)
        self.count("submitted" if predecessor is None else "resubmitted")
        self.expect_notice(dossier, "acknowledgment")
        if self.rng.random() < 0.03:
            # The portal retries the same request (same Idempotency-Key): one dossier.
            again = await self.api.submit(provider.number, body, key)
            if again.status != 200 or again.body.get("dossier") != dossier:
                self.violation("idempotency", dossier, f"a retried submission: {again.brief()}")
        roll = self.rng.random()
        if decide_at is not None:
            action, when = "refuse", decide_at
        else:
            if predecessor is not None:
                action = "approve" if roll < 0.9 else "refuse"
            elif roll < r.approve:
                action = "approve"
            elif roll < r.approve + r.withdraw:
                action = "withdraw"
            else:
                action = "refuse"
            when = self.office_time(self.working_day_after(today, self.rng.randint(5, 45)))
        if action == "withdraw":
            self.at(when, f"withdraw {dossier}", functools.partial(self.withdraw, d))
        else:
            approve = action == "approve"
            self.at(when, f"{action} {dossier}", functools.partial(self.review, d, approve))

    async def first_step_done(self, dossier: str) -> None:
        """Waits (up to 5 s) until the new case has recorded its submission and started
        sending its acknowledgment. With no workflow cache (servers.py), a case whose local
        activity is in flight when another case's task arrives is evicted and its next task
        times out (10 s): measured, 14 of 30 submissions followed at once by a decision; none
        with the production cache, none when the next action waits for this."""
        for _ in range(1000):
            started = await self.pool.fetchval(
                """SELECT count(*) FROM notifications WHERE dossier = $1
                   AND kind = 'acknowledgment' AND (attempts > 0 OR status <> 'pending')""",
                dossier,
            )
            if started:
                return
            await asyncio.sleep(0.005)

    async def withdraw(self, d: Dossier) -> None:
        if d.state != UNDER_REVIEW:
            return
        answer = await self.api.act(
            d.number, "withdraw", Portal.provider(d.provider), {"reason": "niet meer nodig"}
        )
        if self.check_answer("withdrawal", d.number, answer, 200, ENDED):
            d.state, d.end_reason = ENDED, "withdrawn"
            d.withdrawn_on = self.today()
            self.touched.add(d.number)
            self.count("withdrawn")
            self.expect_notice(d.number, "withdrawal")

    async def review(self, d: Dossier, approve: bool) -> None:
        if d.state != UNDER_REVIEW:
            return
        body: dict[str, Any] = {"approve": approve}
        if not approve:
            body["reason"] = REASON
        answer = await self.api.act(
            d.number, "review-decision", Portal.reviewer(d.body), body, key=self.key()
        )
        if not self.check_answer(
            "review decision", d.number, answer, 200, REGISTERED if approve else REFUSED
        ):
            return
        self.touched.add(d.number)
        d.reviewed_on, d.review = self.today(), "approved" if approve else "refused"
        if approve:
            self.count("approved")
            self.expect_notice(d.number, "approval")
            self.registered(d, self.today())
        else:
            self.count("refused")
            self.expect_notice(d.number, "refusal")
            d.state = REFUSED
            d.window = Window("refusal", None, None)
            self.awaiting_refusal_notice.add(d.number)
            self.draw_appeal(d, "refusal")

    def registered(self, d: Dossier, today: date) -> None:
        """Approved, or its refusal reversed by the BEC: registered from today; a
        resubmission takes over from its predecessor the day before."""
        d.state = REGISTERED
        d.start = today
        d.chain_start = today
        pred = self.world.dossiers.get(d.predecessor or "")
        if pred is not None and pred.start is not None:
            d.chain_start = min(today, pred.chain_start or pred.start)
            if pred.state in LIVE_REGISTERED and pred.end is None:
                pred.end = max(pred.start, today - timedelta(days=1))
                pred.successor = d.number
                pred.pending = [
                    Pending(ENDED, "replaced", self.clock.now(), self.clock.now() + PROMPT,
                            "replaced by its resubmission")
                ]  # fmt: skip
                self.touched.add(pred.number)

    # ------------------------------------------------------------------ appeals

    def draw_appeal(self, d: Dossier, subject: str) -> None:
        """What the provider will do with the decision (drawn now, acted on once the
        notice is out and its window known)."""
        r = self.p.rates
        appeal_rate = r.refusal_appealed if subject == "refusal" else r.screening_appealed
        granted_rate = (
            r.refusal_appeal_granted if subject == "refusal" else r.screening_appeal_granted
        )
        intent: dict[str, Any] = {
            "appeal": self.rng.random() < appeal_rate,
            "email": self.rng.random() < r.appeal_by_email,
            "edge": self.rng.random() < r.appeal_on_last_day,
            "k": self.rng.random(),
            "hour": self.rng.randint(7, 21),
            "late_attempt": self.rng.random() < r.late_appeal_attempt,
            "granted": self.rng.random() < granted_rate,
            "bec_late": self.rng.random() < r.bec_late,
            "waive": [self.rng.random() < r.hearing_waived for _ in range(2)],
            "hearing_after": [self.rng.randint(3, 20), self.rng.randint(3, 25)],
            "decide_k": self.rng.random(),
            "late_days": self.rng.randint(1, 20),
            "premature": self.rng.random() < 0.1,
            "resubmit": subject == "screening" and self.rng.random() < r.resubmitted,
            "resubmit_after": self.rng.randint(20, 200),
        }
        self.intents[d.number] = intent

    def window_known(self, d: Dossier, notice_on: date) -> None:
        """The notice went out on `notice_on`: the oracle's window; the provider acts."""
        assert d.window is not None
        last = oracle.appeal_last_day(notice_on)
        d.window.notice_on, d.window.last_day = notice_on, last
        if d.window.subject == "refusal":
            d.refusal_last_day = last
        intent = self.intents.get(d.number, {})
        if d.window.subject == "refusal":
            # The system makes the refusal final some days after the window (room for an
            # appeal e-mailed in time): not before its end, within five days after.
            d.pending.append(
                Pending(ENDED, "finally_refused", oracle.end_of(last),
                        oracle.end_of(last) + timedelta(days=5), "refusal final")
            )  # fmt: skip
        if intent.get("appeal"):
            if intent["edge"]:
                day, hour, minute = last, 23, 40
            else:
                span = (last - notice_on).days
                day = notice_on + timedelta(days=1 + int(intent["k"] * max(span - 1, 0)))
                hour, minute = intent["hour"], 10
            self.plan_appeal(d, day, hour, minute, intent["email"])
        elif intent.get("late_attempt"):
            day = last + timedelta(days=1)
            self.plan_appeal(d, day, 0, 20, intent["email"])

    def plan_appeal(self, d: Dossier, day: date, hour: int, minute: int, email: bool) -> None:
        moment = oracle.at(day, hour, minute)
        if not email:
            self.at(moment, f"appeal {d.number}", functools.partial(self.appeal, d, None))
            return
        # The BEC secretariat registers the e-mail the next working morning (the same
        # day when it arrived in office hours).
        assert d.window is not None and d.window.last_day is not None
        register_on = (
            day if working_day(day) and hour < 15 else next_working_day(day + timedelta(days=1))
        )
        register_at = oracle.at(register_on, 9 if register_on != day else hour + 1, 30)
        # The system makes a refusal final a few days after the window closed; the
        # secretariat registers an appeal received in time before that.
        latest = oracle.end_of(d.window.last_day) + timedelta(days=3)
        if register_at > latest:
            register_at = max(moment + timedelta(minutes=30), latest)
        self.at(
            register_at, f"appeal by e-mail {d.number}", functools.partial(self.appeal, d, moment)
        )

    async def appeal(self, d: Dossier, received_at: datetime | None) -> None:
        window = d.window
        if window is None or window.last_day is None or d.state not in (REFUSED, REMOVAL_SCHEDULED):
            return
        moment = received_at or self.clock.now()
        in_time = oracle.in_time(moment, window.last_day)
        if received_at is None:
            answer = await self.api.act(
                d.number, "appeal", Portal.provider(d.provider), {"motivation": MOTIVATION},
                key=self.key(),
            )  # fmt: skip
        else:
            answer = await self.api.act(
                d.number, "appeal-by-email", Portal.BEC,
                {"received_at": received_at.isoformat(), "motivation": MOTIVATION},
                key=self.key(),
            )  # fmt: skip
        route = "portal" if received_at is None else "e-mail"
        when = moment.astimezone(oracle.BRUSSELS).isoformat(timespec="minutes")
        if in_time and not answer.ok:
            self.violation(
                "appeal-deadline", d.number,
                f"{route} appeal at {when} refused ({answer.brief()}) though the oracle's last "
                f"day is {window.last_day} (notice {window.notice_on})",
            )  # fmt: skip
            return
        if not in_time:
            if answer.ok:
                self.violation(
                    "appeal-deadline", d.number,
                    f"{route} appeal at {when} accepted after the oracle's last day "
                    f"{window.last_day} (notice {window.notice_on})",
                )  # fmt: skip
            elif answer.status == 409 and answer.problem == "window-closed":
                self.count("late_appeals_refused")
                return
            else:
                self.violation(
                    "appeal-deadline", d.number,
                    f"late {route} appeal at {when}: expected 409 window-closed, got "
                    f"{answer.brief()}",
                )  # fmt: skip
                return
        self.count("appeals_" + ("portal" if received_at is None else "email"))
        if oracle.brussels_day(moment) == window.last_day:
            self.count("appeals_on_last_day")
        received_on = oracle.brussels_day(moment)
        number = len(answer.body.get("appeals", []))
        appeal = Appeal(
            number=number,
            subject=window.subject,
            received_on=received_on,
            bec_last_day=oracle.bec_last_day(received_on),
            route=route,
        )
        shown = answer.body["appeals"][-1]["deadline"]["last_day"]
        if shown != appeal.bec_last_day.isoformat():
            self.violation(
                "bec-deadline", d.number,
                f"the case gives the BEC until {shown}; the oracle: {appeal.bec_last_day} "
                f"(60 days from {received_on})",
            )  # fmt: skip
        d.appeals.append(appeal)
        d.window = None
        d.pending = [p for p in d.pending if p.end_reason != "finally_refused"]
        if window.subject == "refusal":
            d.state = IN_APPEAL
        self.touched.add(d.number)
        self.expect_notice(d.number, "appeal_received")
        self.plan_bec(d, appeal)

    def plan_bec(self, d: Dossier, appeal: Appeal) -> None:
        intent = self.intents.get(d.number, {})
        start = appeal.received_on
        heard = []
        for i, side in enumerate(("provider", "department")):
            day = self.working_day_after(start, intent.get("hearing_after", [5, 8])[i])
            heard.append(day)
            waived = intent.get("waive", [False, False])[i]
            self.at(self.office_time(day, 9, 16), f"hearing {side} {d.number}",
                    functools.partial(self.hearing, d, appeal, side, waived))  # fmt: skip
        if intent.get("premature"):
            # Deciding before both sides were heard is refused.
            day = self.working_day_after(start, 1)
            early = functools.partial(self.bec_decide, d, appeal, True, premature=True)
            self.at(oracle.at(day, 8, 5), f"premature BEC decision {d.number}", early)
        if intent.get("bec_late"):
            decide_on = next_working_day(appeal.bec_last_day + timedelta(days=intent["late_days"]))
            appeal.overdue_from = appeal.bec_last_day + timedelta(days=1)
        else:
            first = max(heard) + timedelta(days=1)
            options = [
                first + timedelta(days=i)
                for i in range((appeal.bec_last_day - first).days + 1)
                if working_day(first + timedelta(days=i))
            ] or [appeal.bec_last_day]
            decide_on = options[int(intent.get("decide_k", 0.5) * len(options))]
        granted = bool(intent.get("granted"))
        self.at(self.office_time(decide_on, 10, 16), f"BEC decision {d.number}",
                functools.partial(self.bec_decide, d, appeal, granted))  # fmt: skip

    async def hearing(self, d: Dossier, appeal: Appeal, side: str, waived: bool) -> None:
        if appeal.decided_on is not None:
            return
        answer = await self.api.act(
            d.number, "hearing", Portal.BEC, {"side": side, "waived": waived}, key=self.key()
        )
        if self.check_answer(f"hearing ({side})", d.number, answer, 200):
            self.count("hearings")

    async def bec_decide(
        self, d: Dossier, appeal: Appeal, granted: bool, premature: bool = False
    ) -> None:
        if appeal.decided_on is not None:
            return
        answer = await self.api.act(
            d.number, "bec-decision", Portal.BEC,
            {"granted": granted, "reason": BEC_REASON}, key=self.key(),
        )  # fmt: skip
        if premature:
            if answer.status == 409 and answer.problem == "invalid-state":
                self.count("premature_decisions_refused")
            else:
                self.violation(
                    "hearing-first", d.number,
                    f"a BEC decision before both hearings: expected 409, got {answer.brief()}",
                )  # fmt: skip
            return
        if appeal.subject == "refusal":
            state = REGISTERED if granted else ENDED
        else:
            state = REGISTERED if granted else REMOVAL_SCHEDULED
        if not self.check_answer("BEC decision", d.number, answer, 200, state):
            return
        today = self.today()
        appeal.decided_on, appeal.granted = today, granted
        self.count("bec_granted" if granted else "bec_rejected")
        self.count("bec_late" if today > appeal.bec_last_day else "bec_in_time")
        self.expect_notice(d.number, "bec_decision")
        self.touched.add(d.number)
        if appeal.subject == "refusal":
            if granted:
                self.registered(d, today)
            else:
                d.state, d.end_reason = ENDED, "appeal_rejected"
        elif granted:
            d.state = REGISTERED
            d.removal_on = None
            d.pending = [p for p in d.pending if p.end_reason != "removed"]

    # ------------------------------------------------------------------ registrations

    async def end_registration(self, d: Dossier, how: str) -> None:
        now = self.clock.now()
        if (
            d.state not in LIVE_REGISTERED
            or d.open_appeal is not None
            or any(p.not_before <= now + PROMPT for p in d.pending)
        ):
            return
        if how == "stop":
            answer = await self.api.act(d.number, "stop", Portal.provider(d.provider), {},
                                        key=self.key())  # fmt: skip
        else:
            answer = await self.api.act(d.number, "revoke", Portal.DEPARTMENT,
                                        {"reason": "Voldoet niet langer aan de criteria."},
                                        key=self.key())  # fmt: skip
        if not self.check_answer(how, d.number, answer, 200, ENDED):
            return
        d.state = ENDED
        d.end_reason = "stopped" if how == "stop" else "revoked"
        d.end = self.today()
        d.pending = []
        d.window = None
        self.touched.add(d.number)
        self.count("stopped" if how == "stop" else "revoked")
        self.expect_notice(d.number, "stop_confirmation" if how == "stop" else "revocation")

    # ------------------------------------------------------------------ screening

    async def screening(self, year: int) -> None:
        r = self.p.rates
        day = date(year, 1, 15)
        t0 = time.monotonic()
        verdicts: dict[str, str] = {}
        for d in sorted(self.world.dossiers.values(), key=lambda d: d.number):
            if d.state not in LIVE_REGISTERED:
                continue
            if self.rng.random() < r.negative:
                verdicts[d.number] = (
                    "incomplete" if self.rng.random() < r.incomplete_share else "failed"
                )
            else:
                verdicts[d.number] = "passed"
        await population.write_activity(self.pool, year, verdicts)
        # Due (domain.md, step 7): registered on the screening date, its case not ended,
        # its registration (a resubmission: its predecessor's) started on or before
        # 1 January of the year before; not a training whose removal is already scheduled
        # (it leaves whatever a new screening says: no second notice).
        due = {
            d.number
            for d in self.world.dossiers.values()
            if d.registered_on(day)
            and d.state not in (ENDED, REMOVAL_SCHEDULED)
            and oracle.first_screening_year(d.chain_start or d.start or day) <= year
        }
        for number in due:  # what the year's figures expect
            self.world.dossiers[number].screenings[year] = verdicts.get(number, "passed")
        started = self.clock.now()
        trigger = await self.env.client.start_workflow(
            "ScreeningScheduleWorkflow",
            ScreeningTrigger(),
            id=f"{self.settings.screening.schedule_id}-{oracle.at(day, 6, 0).isoformat()}",
            task_queue=self.settings.temporal.task_queue,
        )
        while True:
            info = (await self.checks.raw_describe(trigger.id)).workflow_execution_info
            status = WorkflowExecutionStatus(info.status)
            if status != WorkflowExecutionStatus.RUNNING:
                break
            await asyncio.sleep(0.2)  # the run's own progress, on the wall clock
        if status != WorkflowExecutionStatus.COMPLETED:
            self.violation("screening", "", f"the screening run of {year} ended {status}")
            return
        rows = await self.pool.fetch(
            """SELECT dossier, outcome, notified_on FROM screening_results WHERE step = $1""",
            f"screening-{year}",
        )
        screened = {row["dossier"]: row for row in rows}
        for number in sorted(due - set(screened)):
            self.violation("screening", number, f"due in {year} (oracle) but not screened")
        for number in sorted(set(screened) - due):
            self.violation("screening", number, f"screened in {year} but not due (oracle)")
        self.count("screened", len(screened))
        self.count("not_yet_due", sum(1 for d in self.world.registered() if d.number not in due))
        for number in sorted(screened):
            row = screened[number]
            found = self.world.dossiers.get(number)
            if found is None:
                continue
            d = found
            want = verdicts.get(number)
            if want is not None and row["outcome"] != want:
                self.violation("screening", number, f"outcome {row['outcome']}, data say {want}")
            self.expect_notice(
                number, "screening_result", queued=(started, self.clock.now() + ACTION_SLACK)
            )
            if row["outcome"] == "passed":
                continue
            self.count("negative")
            self.touched.add(number)
            notice_on: date = row["notified_on"]
            d.negative_years.append(year)
            removal = oracle.removal_day(notice_on)
            if d.state == REGISTERED:
                # The case records it once the run's signal reaches it.
                d.pending.append(
                    Pending(REMOVAL_SCHEDULED, None, self.clock.now() - timedelta(hours=1),
                            self.clock.now() + PROMPT, "negative screening handled")
                )  # fmt: skip
            d.removal_on = removal
            d.pending.append(
                Pending(ENDED, "removed", oracle.end_of(removal),
                        oracle.end_of(removal) + timedelta(hours=1), "removal", end=removal)
            )  # fmt: skip
            d.window = Window("screening", None, None)
            self.draw_appeal(d, "screening")
            self.window_known(d, notice_on)
            self.checks.negative_notice(d, removal)
            intent = self.intents[d.number]
            if intent["resubmit"] and not intent["appeal"]:
                when = self.office_time(self.working_day_after(notice_on, intent["resubmit_after"]))
                provider = next(p for p in self.providers if p.number == d.provider)
                self.at(when, f"resubmit {d.number}",
                        functools.partial(self.resubmit, d, provider))  # fmt: skip
        self.stats.wall["screening"] = time.monotonic() - t0

    async def resubmit(self, d: Dossier, provider: population.Provider) -> None:
        if d.state not in LIVE_REGISTERED or d.open_appeal is not None:
            return
        await self.submit(provider, predecessor=d)


def plan_of(params: Params, index: int) -> list[tuple[str, str]]:
    """What shard `index` plans before its first day (its faults and its first year's
    spontaneous events), without any server: the same seed, the same plan."""
    cfg = ShardConfig(index, params, params.shard_trainings()[index], Path("."), params.shards)
    shard = Shard(cfg, None, None, None, None)  # type: ignore[arg-type]
    shard.providers = population.providers_of(
        index, max(1, math.ceil(cfg.trainings * params.providers_per_100 / 100))
    )
    drafts = population.draw(
        shard.rng, shard=index, trainings=cfg.trainings, providers=shard.providers,
        first_year=params.start_year,
    )  # fmt: skip
    for k, (app, submitted, starts_on) in enumerate(drafts):
        shard.world.add(
            Dossier(
                number=f"seeded-{k:06d}", training=shard.world.new_training(),
                provider=app.provider, body=app.competent_body, submitted_at=submitted,
                state=REGISTERED, start=starts_on, chain_start=starts_on,
            )
        )  # fmt: skip
    shard.plan_faults()
    shard.plan_year(params.start_year)
    return [(item.when.isoformat(), item.label) for item in sorted(shard.agenda)]


def _n_of(rng: random.Random, rate: float) -> int:
    """How many of a yearly rate happen in a year: its whole part, plus one more with the
    probability of its fraction."""
    whole = int(rate)
    return whole + (1 if rng.random() < rate - whole else 0)


def _server_process() -> psutil.Process | None:
    with suppress(psutil.Error):
        for child in psutil.Process().children(recursive=True):
            if "temporal-test-server" in child.name():
                return child
    return None
