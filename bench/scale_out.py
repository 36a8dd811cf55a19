"""Scale out on one machine, as on many (figures, not pass/fail; not part of CI):

    .venv/bin/python -m bench.scale_out                    # 500 + 500 + 1,000 cases, 1,000 screened
    .venv/bin/python -m bench.scale_out --n 100 --screened 200   # a quick try

A private dev stack (tests/stack/harness.py: the Temporal dev server, PostgreSQL, the SMTP
sink, worker A and API A, supervised) plus, beside it, worker B and API B started as a
second host would (same settings, own ports, not supervised). The portal's calls go to
API A and API B in turn. Phases:

  1. one worker    n/2 cases (submit, approve) with worker A alone: cases/s;
  2. two workers   n/2 cases with A and B: cases/s;
  3. kill          n cases with A and B; worker B SIGKILLed (its process group, as a host
                   that dies) once half of them are answered; A carries on alone. Recovery:
                   from the kill until every request in flight then was answered and the
                   outbox was empty again;
  4. screening     worker B started again (`--screening-workers 1`: not), `screened`
                   registered trainings seeded (bench/seed.py), the yearly screening run to
                   its report and until every told case has handled its outcome.

Per phase, each worker's task counts from its own /metrics (workflow tasks and activities
the SDK completed: `temporal_workflow_task_execution_latency_count`,
`temporal_activity_execution_latency_count`) and each API's answers. After phase 3, the
checks of bench/drills.py over every case of phases 1-3: cases lost, decisions lost,
notices lost, duplicate Message-IDs among the sent e-mails, duplicate steps.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.drills import (
    PORTAL_LIMITS,
    Drill,
    MailIndex,
    Portal,
    Stack,
    check,
    state_folder,
    unsent_count,
)
from bench.screening import run_screening
from bench.seed import seed_registered_cases
from devstack.ports import free_port
from models.screening import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_PARALLEL_PAGES,
    DEFAULT_SIGNAL_CONCURRENCY,
    ScreeningReport,
)
from registry.db import create_pool
from runtime.settings import Settings
from runtime.temporal import connect
from tests.stack.harness import ExtraProcess

COUNTED = {
    "workflow tasks": "temporal_workflow_task_execution_latency_count",
    "activities": "temporal_activity_execution_latency_count",
}
SCREENING_YEAR = 2027


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def scrape(port: int) -> dict[str, float]:
    """The worker's totals of the COUNTED metrics (every label set summed); {} when down."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as answer:
            text = answer.read().decode()
    except OSError:
        return {}
    totals = dict.fromkeys(COUNTED, 0.0)
    for what, metric in COUNTED.items():
        for m in re.finditer(rf"^{metric}(?:\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE):
            totals[what] += float(m.group(1))
    return totals


@dataclass
class Worker:
    name: str
    port: int
    last: dict[str, float] = field(default_factory=dict)
    process: ExtraProcess | None = None  # None: the stack's own (supervised) worker

    def delta(self) -> dict[str, float]:
        """Counts since the last call; a restarted worker's counters start again from 0."""
        now = scrape(self.port)
        out = {k: now.get(k, 0.0) - self.last.get(k, 0.0) for k in COUNTED}
        if any(v < 0 for v in out.values()):
            out = {k: now.get(k, 0.0) for k in COUNTED}
        self.last = now or self.last
        return out


@dataclass
class Phase:
    name: str
    cases: int = 0
    seconds: float = 0.0
    per_worker: dict[str, dict[str, float]] = field(default_factory=dict)
    per_api: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Context:
    stack: Stack
    portals: list[tuple[str, Portal]]
    workers: list[Worker]
    drill: Drill
    concurrency: int
    folder: Path
    answered: dict[str, int] = field(default_factory=dict)  # API -> requests answered

    def take(self, phase: Phase) -> Phase:
        phase.per_worker = {w.name: w.delta() for w in self.workers}
        phase.per_api, self.answered = dict(self.answered), {}
        return phase


async def start_worker_b(ctx: Context) -> None:
    b = ctx.workers[1]
    b.process = ExtraProcess.worker(ctx.stack.config, ctx.folder / "worker-b.log", b.port)
    await b.process.wait_ready()
    b.delta()  # counts from here


async def cases(ctx: Context, n: int, offset: int, on_answer: Any = None) -> float:
    """n cases, each submitted and approved through API A and API B in turn (closed loop,
    `concurrency` at once); returns the seconds taken."""
    gate = asyncio.Semaphore(ctx.concurrency)

    async def one(i: int) -> None:
        name, portal = ctx.portals[i % len(ctx.portals)]
        async with gate:
            dossier = await portal.submit(ctx.drill, offset + i)
            if dossier is not None:
                await portal.decide(ctx.drill, dossier, True)
        ctx.answered[name] = ctx.answered.get(name, 0) + 2
        if on_answer is not None:
            on_answer()

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.monotonic() - t0


async def throughput(ctx: Context, name: str, n: int, offset: int) -> Phase:
    phase = Phase(name, cases=n)
    ctx.take(Phase("before"))
    phase.seconds = await cases(ctx, n, offset)
    return ctx.take(phase)


async def kill_midway(ctx: Context, n: int, offset: int) -> Phase:
    phase = Phase("kill worker B midway", cases=n)
    ctx.take(Phase("before"))
    b = ctx.workers[1]
    assert b.process is not None
    done = 0
    killed_at: list[float] = []
    b_until_kill: dict[str, float] = {}
    decisions_before = len(ctx.drill.decisions)

    def on_answer() -> None:
        nonlocal done
        done += 1
        if done == n // 2 and not killed_at:
            assert b.process is not None
            b_until_kill.update(b.delta())  # its counters die with it
            b.process.kill()
            killed_at.append(time.monotonic())
            log(f"worker B (pid {b.process.pid}) SIGKILLed after {done} of {n} cases")

    phase.seconds = await cases(ctx, n, offset, on_answer)
    kill = killed_at[0]
    # Requests in flight at the kill: answered when?
    late = [
        d.answered_at - kill
        for d in ctx.drill.decisions[decisions_before:]
        if d.answered_at > kill and d.answered_at - d.seconds < kill
    ]
    load_end = time.monotonic()
    while time.monotonic() - load_end < 300:
        if await unsent_count(ctx.stack.dsn) == 0:
            break
        await asyncio.sleep(0.25)
    drained = time.monotonic() - load_end
    phase.notes.append(
        f"recovery after the kill: the {len(late)} approvals in flight then answered within "
        f"{max(late, default=0.0):.1f} s of it (the cases worker B held move to worker A); "
        f"the load ended {load_end - kill:.1f} s after the kill, the outbox was empty "
        f"{drained:.1f} s after that"
    )
    b.process = None
    ctx.take(phase)
    phase.per_worker["B"] = b_until_kill
    return phase


async def seed(settings: Settings, n: int, year: int = SCREENING_YEAR) -> None:
    """n registered trainings due for the screening of `year`, each with its live case."""
    client = await connect(settings)
    pool = await create_pool(settings)
    try:
        await seed_registered_cases(client, pool, settings.temporal.task_queue, n, year=year)
    finally:
        await pool.close()


async def screen(
    settings: Settings, n: int, year: int = SCREENING_YEAR
) -> tuple[ScreeningReport, float, float]:
    """The year's screening to its report: (report, s to the report, s until every told
    case has handled its outcome)."""
    args = argparse.Namespace(
        year=year,
        page_size=DEFAULT_PAGE_SIZE,
        parallel_pages=DEFAULT_PARALLEL_PAGES,
        signal_concurrency=DEFAULT_SIGNAL_CONCURRENCY,
    )
    client = await connect(settings)
    return await run_screening(client, settings.temporal.task_queue, args, n)


async def screening(ctx: Context, screened: int, workers: int) -> Phase:
    phase = Phase(f"yearly screening, {workers} worker{'s' if workers > 1 else ''}", screened)
    if workers > 1:
        await start_worker_b(ctx)
    log(f"seeding {screened} registered trainings")
    await seed(ctx.stack.settings, screened)
    ctx.take(Phase("before"))
    report, t_result, t_settled = await screen(ctx.stack.settings, screened)
    phase.seconds = t_settled
    phase.notes.append(
        f"screening {SCREENING_YEAR} of {report.total}: report after {t_result:.1f} s, every "
        f"told case settled after {t_settled:.1f} s ({report.total / t_settled:.1f} trainings/s)"
    )
    return ctx.take(phase)


def table(phases: list[Phase], drill: Drill) -> None:
    console = Console(width=160)
    t = Table(title="scale-out: 2 workers, 2 API processes, one Temporal server and PostgreSQL")
    for col in ("phase", "cases", "s", "cases/s", "worker A wf/act", "worker B wf/act",
                "API A / B answers"):  # fmt: skip
        t.add_column(col)
    for p in phases:
        a, b = p.per_worker.get("A", {}), p.per_worker.get("B", {})

        def counts(c: dict[str, float]) -> str:
            return f"{c.get('workflow tasks', 0):.0f} / {c.get('activities', 0):.0f}"

        t.add_row(
            p.name, str(p.cases), f"{p.seconds:.1f}",
            f"{p.cases / p.seconds:.1f}" if p.seconds else "-",
            counts(a), counts(b),
            f"{p.per_api.get('A', 0)} / {p.per_api.get('B', 0)}",
        )  # fmt: skip
    console.print(t)
    for p in phases:
        for note in p.notes:
            console.print(f"{p.name}: {note}")
    console.print(
        f"checks over phases 1-3: cases lost {drill.cases_lost}, decisions lost "
        f"{drill.decisions_lost}, notices lost {drill.notices_lost}, duplicate Message-IDs "
        f"{drill.dup_message_ids}, duplicate steps {drill.dup_audit}; HTTP {dict(drill.statuses)}"
    )
    for note in drill.notes:
        console.print(f"  {note}")


async def run(args: argparse.Namespace) -> int:
    with state_folder(args.keep) as state:
        stack = Stack(state)
        extra: list[ExtraProcess] = []
        try:
            await stack.ready()
            api_b = ExtraProcess.api(stack.config, state.parent / "api-b.log", free_port())
            extra.append(api_b)
            await api_b.wait_ready()
            b_url = f"http://127.0.0.1:{api_b.port}"
            async with (
                httpx.AsyncClient(base_url=stack.api, limits=PORTAL_LIMITS, timeout=60) as http_a,
                httpx.AsyncClient(base_url=b_url, limits=PORTAL_LIMITS, timeout=60) as http_b,
            ):
                ctx = Context(
                    stack=stack,
                    portals=[("A", Portal(http_a, stack.settings)),
                             ("B", Portal(http_b, stack.settings))],
                    workers=[Worker("A", stack.config.ports["worker_metrics"]),
                             Worker("B", free_port())],
                    drill=Drill("scale-out", "2 workers, 2 APIs"),
                    concurrency=args.concurrency,
                    folder=state.parent,
                )  # fmt: skip
                phases: list[Phase] = []
                half = args.n // 2
                log(f"phase 1: {half} cases, worker A alone")
                phases.append(await throughput(ctx, "1 worker", half, 0))
                await start_worker_b(ctx)
                assert ctx.workers[1].process is not None
                extra.append(ctx.workers[1].process)
                log(f"phase 2: {half} cases, workers A and B")
                phases.append(await throughput(ctx, "2 workers", half, half))
                log(f"phase 3: {args.n} cases, worker B killed midway")
                phases.append(await kill_midway(ctx, args.n, 2 * half))
                await check(stack.settings, ctx.drill, MailIndex(state / "mail"))
                if args.screened:
                    log(f"phase 4: screening {args.screened} trainings, "
                        f"{args.screening_workers} worker(s)")  # fmt: skip
                    phases.append(await screening(ctx, args.screened, args.screening_workers))
                    if ctx.workers[1].process is not None:
                        extra.append(ctx.workers[1].process)
            table(phases, ctx.drill)
        finally:
            for process in extra:
                process.stop()
            await asyncio.to_thread(stack.stop)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="cases in phase 3 (n/2 in 1 and 2)")
    parser.add_argument("--screened", type=int, default=1000, help="trainings screened; 0: skip")
    parser.add_argument("--screening-workers", type=int, choices=(1, 2), default=2,
                        help="workers in phase 4 (1: worker A alone, for comparison)")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--keep", type=Path, default=None, help="a new folder, kept")
    # A SIGTERM (timeout, a CI runner) unwinds like Ctrl-C: the stack and B are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
