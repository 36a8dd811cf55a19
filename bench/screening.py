"""Benchmark (figures, not pass/fail): one yearly screening end to end, and the engine's
ceiling for signalling sleeping workflows, in the same run on the same servers.

Starts its own real servers in a temporary folder (Temporal dev server file-backed with WAL,
embedded PostgreSQL, the SMTP sink as its own process) and the real worker as its own
process (`worker.main`, plus the minimal workflow of the ceiling), then:
  1. seeds N registered trainings: registry rows from the demo generator and a live case
     workflow per training, asleep in the registered state (bench/seed.py);
  2. runs ONE ScreeningWorkflow for --year and waits for its result, then for every told
     case to have handled its outcome (each case continues as new once it has);
  3. the ceiling: N minimal workflows asleep on a signal; signals all of them (same
     concurrency as the screening's signalling) and waits until all have completed
     (signal -> one activity -> done);
and prints wall times, rates, the worker's peak RSS per phase, the CPU seconds each process
spent in each phase (where the time goes) and the largest history of any execution involved.

    .venv/bin/python -m bench.screening --n 1000
    .venv/bin/python -m bench.screening --n 10000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psutil
from temporalio.client import Client

from bench.minimal_workflow import BenchMinimal, touch
from bench.seed import bounded, seed_registered_cases, wait_idle
from bench.servers import start_dev_server
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from models import search
from models.screening import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_PARALLEL_PAGES,
    DEFAULT_SIGNAL_CONCURRENCY,
    ScreeningInput,
    ScreeningProgress,
    ScreeningReport,
    screening_workflow_id,
)
from registry import db, migrate
from runtime.settings import load_settings

MiB = 2**20


class Sampler:
    """Samples the worker's resident memory (peak per phase) every 100 ms."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.peak = 0
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            try:
                self.peak = max(self.peak, self._proc.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            await asyncio.sleep(0.1)

    def take(self) -> int:
        """Peak since the last take."""
        peak, self.peak = self.peak, 0
        return peak

    def stop(self) -> None:
        self._task.cancel()


@dataclass
class CpuMeter:
    """CPU seconds per process group (PostgreSQL includes its backends) per phase. A process
    that exits keeps the CPU last seen for it, so a closed backend does not count negative."""

    groups: dict[str, tuple[psutil.Process, bool]]
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    _seen: dict[str, dict[int, float]] = field(default_factory=dict)

    def _totals(self) -> dict[str, float]:
        totals = {}
        for name, (root, recurse) in self.groups.items():
            seen = self._seen.setdefault(name, {})
            try:
                procs = [root, *(root.children(recursive=True) if recurse else [])]
            except psutil.NoSuchProcess:
                procs = []
            for p in procs:
                try:
                    t = p.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                seen[p.pid] = t.user + t.system
            totals[name] = sum(seen.values())
        return totals

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        before = self._totals()
        t0 = time.perf_counter()
        yield
        wall = time.perf_counter() - t0
        after = self._totals()
        self.phases[name] = {"wall": wall} | {k: after[k] - before[k] for k in self.groups}

    def table(self) -> str:
        names = list(self.groups)
        lines = [f"{'phase':<22}{'wall s':>8}" + "".join(f"{n:>10}" for n in names)]
        for phase, row in self.phases.items():
            lines.append(
                f"{phase:<22}{row['wall']:>8.1f}" + "".join(f"{row[n]:>10.1f}" for n in names)
            )
        return "\n".join(lines)


async def count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def wait_count(client: Client, query: str, target: int, timeout_s: float) -> float:
    """Seconds until `query` counts `target` executions (visibility is polled every 0.2 s)."""
    t0 = time.perf_counter()
    while await count(client, query) < target:
        if time.perf_counter() - t0 > timeout_s:
            raise TimeoutError(f"{query!r} did not reach {target} in {timeout_s:.0f} s")
        await asyncio.sleep(0.2)
    return time.perf_counter() - t0


async def runs_of(client: Client, workflow_id: str) -> list[tuple[str, str, int]]:
    """(type, run id, history events) of every run of a workflow id (continue-as-new chain)."""
    found = []
    async for ex in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        desc = await client.get_workflow_handle(workflow_id, run_id=ex.run_id).describe()
        events = desc.raw_description.workflow_execution_info.history_length
        found.append((ex.workflow_type, ex.run_id, events))
    return found


async def run_screening(
    client: Client, task_queue: str, args: argparse.Namespace, total: int
) -> tuple[ScreeningReport, float, float]:
    """Starts the year's screening, follows its progress, returns (report, result s, settled s)."""
    wid = screening_workflow_id(args.year)
    t0 = time.perf_counter()
    handle = await client.start_workflow(
        "ScreeningWorkflow",
        ScreeningInput(
            year=args.year,
            screening_date=date(args.year, 1, 15),
            page_size=args.page_size,
            parallel_pages=args.parallel_pages,
            signal_concurrency=args.signal_concurrency,
        ),
        id=wid,
        task_queue=task_queue,
        result_type=ScreeningReport,
    )
    result = asyncio.create_task(handle.result())
    while not result.done():
        await asyncio.wait({result}, timeout=5)
        if not result.done():
            try:
                p = await handle.query("progress", result_type=ScreeningProgress)
            except Exception as exc:  # progress is informative only: a slow query is no fault
                print(f"  [{time.perf_counter() - t0:6.1f} s] progress unavailable: {exc}")
                continue
            if p is not None:
                print(
                    f"  [{time.perf_counter() - t0:6.1f} s] run {p.runs} {p.phase.value}: "
                    f"scored {p.scored}/{p.total}, told {p.delivered}/{p.total}",
                    flush=True,
                )
    report = result.result()
    t_result = time.perf_counter() - t0
    # A case that has handled its outcome publishes the year it was screened.
    await wait_count(
        client,
        f"WorkflowType = 'ApplicationWorkflow' AND {search.SCREENED_YEAR.name} = {args.year}",
        report.signalled,
        timeout_s=max(300.0, total / 10),
    )
    return report, t_result, time.perf_counter() - t0


async def ceiling(
    client: Client, task_queue: str, n: int, concurrency: int
) -> tuple[float, float, float]:
    """(start+settle s, signals accepted s, all completed s) for n minimal sleeping workflows."""
    ids = [f"min-{i:06d}" for i in range(n)]

    async def start(wid: str) -> None:
        await client.start_workflow(BenchMinimal.run, id=wid, task_queue=task_queue)

    t0 = time.perf_counter()
    await bounded(ids, concurrency, start)
    await wait_idle(client, ids, concurrency)
    t1 = time.perf_counter()

    async def signal(wid: str) -> None:
        await client.get_workflow_handle(wid).signal(BenchMinimal.go)

    await bounded(ids, concurrency, signal)
    t2 = time.perf_counter()
    await wait_count(
        client,
        "WorkflowType = 'BenchMinimal' AND ExecutionStatus = 'Completed'",
        n,
        timeout_s=max(300.0, n / 10),
    )
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t1


async def histories(
    client: Client, year: int, dossiers: list[str], sample: int
) -> dict[str, tuple[int, str]]:
    """Largest history (events, which) of the screening's runs and a sample of cases."""
    largest: dict[str, tuple[int, str]] = {}
    screening = await runs_of(client, screening_workflow_id(year))
    largest["screening"] = max((h, f"{rid} ({len(screening)} runs)") for _, rid, h in screening)
    picked = random.Random(7).sample(dossiers, min(sample, len(dossiers)))
    case_runs: list[tuple[int, str]] = []

    async def one(d: str) -> None:
        case_runs.extend((h, f"{d} run {rid[:8]}") for _, rid, h in await runs_of(client, d))

    await bounded(picked, 16, one)
    largest[f"case (sample of {len(picked)})"] = max(case_runs)
    return largest


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="odb-bench-screening-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        pg = EmbeddedPostgres(folder / "pg", free_port())
        pg.start()
        smtp_port = free_port()
        env = await start_dev_server(folder)
        task_queue = f"bench-screening-{os.getpid()}"
        settings = load_settings(
            postgres={"url": pg.dsn, "pool_max": 20},
            smtp={"port": smtp_port},
            temporal={"task_queue": task_queue},
        )
        child_env = {
            **os.environ,
            "DATABASE_URL": pg.dsn,
            "ODB_POSTGRES__POOL_MAX": "20",
            "ODB_TEMPORAL__ADDRESS": env.client.service_client.config.target_host,
            "ODB_TEMPORAL__NAMESPACE": "default",
            "ODB_TEMPORAL__TASK_QUEUE": task_queue,
            "ODB_SMTP__PORT": str(smtp_port),
            "ODB_WORKER__METRICS_PORT": "0",
            "ODB_STATE_DIR": str(folder / "state"),
        }
        procs: list[subprocess.Popen[bytes]] = []
        try:
            conn = await db.connect(settings)
            await migrate.migrate(conn)
            await conn.close()
            sink_cmd = ["-m", "devstack.smtp_sink", "--dir", str(folder / "mail"),
                        "--port", str(smtp_port)]  # fmt: skip
            procs.append(_spawn(sink_cmd, child_env, folder / "sink.log"))
            procs.append(_spawn(["-m", "bench.screening", "--serve-worker"], child_env,
                                folder / "worker.log"))  # fmt: skip
            sink, worker = procs
            me = psutil.Process()
            server = next(p for p in me.children() if p.name() == "temporal")
            assert pg.pid is not None
            cpu = CpuMeter(
                {
                    "worker": (psutil.Process(worker.pid), False),
                    "temporal": (server, True),
                    "postgres": (psutil.Process(pg.pid), True),
                    "smtp": (psutil.Process(sink.pid), False),
                    "bench": (me, False),
                }
            )
            memory = Sampler(worker.pid)
            pool = await db.create_pool(settings)
            client = env.client
            peaks: dict[str, int] = {}
            print(f"N = {args.n} trainings, year {args.year}, folder {folder}", flush=True)

            with cpu.phase("seed"):
                seeded = await seed_registered_cases(
                    client, pool, task_queue, args.n, year=args.year,
                    concurrency=args.seed_concurrency,
                )  # fmt: skip
            peaks["seed"] = memory.take()
            print(
                f"seeded: registry rows {seeded.rows_s:.1f} s, {args.n} case workflows "
                f"started {seeded.start_s:.1f} s, all asleep after {seeded.settle_s:.1f} s more",
                flush=True,
            )

            with cpu.phase("screening"):
                report, t_result, t_settled = await run_screening(client, task_queue, args, args.n)
            peaks["screening"] = memory.take()
            rate = report.total / t_settled
            print(
                f"screening {args.year}: {report.total} trainings; result after {t_result:.1f} s, "
                f"every told case had handled its outcome after {t_settled:.1f} s "
                f"-> {rate:.1f} trainings/s end to end",
                flush=True,
            )
            print(
                f"  outcomes {report.counts}, signalled {report.signalled}, "
                f"case ended {len(report.case_ended)}, e-mails sent {report.emails_sent}"
            )

            m = args.ceiling_n or args.n
            with cpu.phase("ceiling"):
                settle_s, signal_s, done_s = await ceiling(
                    client, task_queue, m, args.parallel_pages * args.signal_concurrency
                )
            peaks["ceiling"] = memory.take()
            print(
                f"ceiling: {m} minimal workflows started and asleep in {settle_s:.1f} s; "
                f"all signalled in {signal_s:.1f} s ({m / signal_s:.0f} signals/s), all "
                f"handled (signal -> activity -> done) in {done_s:.1f} s ({m / done_s:.1f}/s)"
            )
            print(
                f"screening end to end / ceiling: {rate / (m / done_s):.2f} "
                f"(trainings/s vs sleeping workflows signalled and completed/s)"
            )

            largest = await histories(client, args.year, seeded.dossiers, args.sample)
            for what, (events, which) in largest.items():
                print(f"largest history, {what}: {events} events ({which})")
            print(
                "worker peak RSS: "
                + ", ".join(f"{k} {v / MiB:.0f} MiB" for k, v in peaks.items())
                + f"; overall {max(peaks.values()) / MiB:.0f} MiB"
            )
            print("CPU seconds per process and phase (2 cores: at most 2 x wall):")
            print(cpu.table())
            memory.stop()
            await pool.close()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
            await env.shutdown()
            pg.stop()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, *args], env=env, stdout=out, stderr=out)


def serve_worker() -> None:
    """The real worker (`worker.main`) plus the ceiling's minimal workflow: one process, as
    in production, so its memory can be measured."""
    import worker

    asyncio.run(worker.main(extra_workflows=[BenchMinimal], extra_activities=[touch]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="registered trainings to seed")
    parser.add_argument("--year", type=int, default=2027, help="screening year")
    parser.add_argument("--seed-concurrency", type=int, default=64)
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    parser.add_argument("--parallel-pages", type=int, default=DEFAULT_PARALLEL_PAGES)
    parser.add_argument("--signal-concurrency", type=int, default=DEFAULT_SIGNAL_CONCURRENCY)
    parser.add_argument("--ceiling-n", type=int, default=0, help="minimal workflows (default: --n)")
    parser.add_argument("--sample", type=int, default=100, help="cases whose histories are read")
    parser.add_argument("--keep", type=Path, help="keep servers' data and logs in this folder")
    parser.add_argument("--serve-worker", action="store_true", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve_worker:
        serve_worker()
    else:
        asyncio.run(main(parsed))
