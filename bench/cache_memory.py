"""What one case in the worker's workflow cache costs in memory: the figure that decides how
large `worker.max_cached_workflows` can be under the worker's 1 GiB budget.

    .venv/bin/python -m bench.cache_memory --n 2000 [--runner shared|strict|none] [--python-heap]

Starts N cases in the registered state on an own dev server, all kept in one worker's cache,
then tells each a positive screening outcome. Prints the worker's RSS growth per cached case
after each step and, with --python-heap, how much of it is Python objects (tracemalloc);
the rest is the SDK's Rust core. Tracing adds its own bookkeeping to the RSS, so read RSS
from a run without --python-heap. No registry is needed: neither step runs an activity.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import tracemalloc
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psutil
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from bench.seed import bounded, wait_idle
from bench.servers import start_dev_server
from models.application import TrainingApplication, VolumeUnit
from models.case import CaseInput, ScreeningOutcome
from starter.cli.demo_data import registered_case
from worker import shared_module_sandbox
from workflows.application import ApplicationWorkflow

KiB = 1024
SUBMITTED = datetime(2025, 10, 1, tzinfo=UTC)


def registered(dossier: str) -> CaseInput:
    application = TrainingApplication(
        provider="0123456749",
        provider_name="Opleidingscentrum Vooruit vzw",
        contact_email="dossiers@vooruit.example.be",
        title=f"Lassen voor gevorderden {dossier}",
        start_date=date(2026, 1, 5),
        volume=Decimal(40),
        volume_unit=VolumeUnit.CONTACT_HOURS,
    )
    return registered_case(
        dossier, application, submitted_at=SUBMITTED, registered_from=application.start_date
    )


def runner(name: str) -> WorkflowRunner:
    if name == "shared":
        return shared_module_sandbox()
    if name == "strict":
        return SandboxedWorkflowRunner()
    return UnsandboxedWorkflowRunner()


class Meter:
    def __init__(self, n: int, python_heap: bool) -> None:
        self.n = n
        self.python_heap = python_heap
        self._proc = psutil.Process()
        self._rss0 = self._heap0 = 0

    def _now(self) -> tuple[int, int]:
        gc.collect()
        heap = tracemalloc.get_traced_memory()[0] if self.python_heap else 0
        return self._proc.memory_info().rss, heap

    def start(self) -> None:
        if self.python_heap:
            tracemalloc.start(1)
        self._rss0, self._heap0 = self._now()

    def report(self, what: str) -> None:
        rss, heap = self._now()
        line = f"{what}: {(rss - self._rss0) / self.n / KiB:.1f} KiB RSS per cached case"
        if self.python_heap:
            line += f", of which Python objects {(heap - self._heap0) / self.n / KiB:.1f} KiB"
        print(line, flush=True)


async def start_cases(client: Client, task_queue: str, dossiers: list[str]) -> None:
    async def start(dossier: str) -> None:
        await client.start_workflow(
            ApplicationWorkflow.run, registered(dossier), id=dossier, task_queue=task_queue
        )

    await bounded(dossiers, 64, start)
    await wait_idle(client, dossiers, 64)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="odb-bench-cache-") as tmp:
        env = await start_dev_server(Path(tmp))
        client = env.client
        task_queue = f"bench-cache-{uuid.uuid4()}"
        meter = Meter(args.n, args.python_heap)
        try:
            async with Worker(
                client,
                task_queue=task_queue,
                workflows=[ApplicationWorkflow],
                workflow_runner=runner(args.runner),
                max_cached_workflows=args.n + 100,
            ):
                # A few cases first, so one-time costs (imports, first sandbox) are not counted.
                await start_cases(client, task_queue, [f"WARM-{i}" for i in range(20)])
                meter.start()
                dossiers = [f"CACHED-{uuid.uuid4().hex[:10]}" for _ in range(args.n)]
                await start_cases(client, task_queue, dossiers)
                meter.report(f"{args.n} cases started, registered ({args.runner} runner)")
                outcome = ScreeningOutcome(
                    year=2027,
                    passed=True,
                    score=80,
                    rubric_version="bench",
                    notified_on=date(2027, 1, 15),
                    continue_as_new_within_days=7,
                )

                async def tell(dossier: str) -> None:
                    await client.get_workflow_handle(dossier).signal("screening_outcome", outcome)

                await bounded(dossiers, 64, tell)
                await wait_idle(client, dossiers, 64)
                meter.report("after one positive screening outcome each")
        finally:
            await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="cases kept in the cache")
    parser.add_argument("--runner", choices=["shared", "strict", "none"], default="shared")
    parser.add_argument("--python-heap", action="store_true", help="also trace Python objects")
    asyncio.run(main(parser.parse_args()))
