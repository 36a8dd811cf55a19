"""Benchmark (figures, not pass/fail): happy-path cases against the engine's ceiling.

Starts its own real servers (Temporal dev server file-backed with WAL, embedded PostgreSQL,
SMTP sink) in a temporary folder, runs an in-process worker, then in the same run:
  1. N happy-path cases: submit -> acknowledgment -> approve -> registered;
  2. N minimal workflows: start -> one signal -> one activity -> done (the ceiling);
and prints both rates, their ratio, history events per path and the worker's peak memory.

    .venv/bin/python -m bench.case_throughput --n 300 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import RegistryActivities
from bench.minimal_workflow import BenchMinimal, touch
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from devstack.smtp_sink import SmtpSink
from models import search
from models.case import ReviewDecisionInput
from models.identity import Actor, Role, RoleKind
from registry import db, migrate, providers
from runtime.settings import load_settings
from starter.client import CaseService
from tests.workflows.harness import ORG, application
from workflows.application import ApplicationWorkflow

REVIEWER = Actor(subject="bench.voc", roles=(Role(kind=RoleKind.REVIEWER, body="VOC"),))


async def _bounded(n: int, concurrency: int, one: Any) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with sem:
            await one(i)

    start = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(n)))
    return time.perf_counter() - start


async def main(n: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="odb-bench-") as tmp:
        folder = Path(tmp)
        pg = EmbeddedPostgres(folder / "pg", free_port())
        pg.start()
        sink = SmtpSink(folder / "mail", free_port()).start()
        env = await WorkflowEnvironment.start_local(
            namespace="default",
            data_converter=pydantic_data_converter,
            dev_server_existing_path=str(Path(".venv/bin/temporal").resolve()),
            dev_server_database_filename=str(folder / "temporal.db"),
            search_attributes=list(search.ALL),
            dev_server_extra_args=[
                "--sqlite-pragma",
                "journal_mode=wal",
                "--sqlite-pragma",
                "synchronous=normal",
            ],
        )
        task_queue = f"bench-{uuid.uuid4()}"
        settings = load_settings(
            postgres={"url": pg.dsn, "pool_max": 20},
            smtp={"host": "127.0.0.1", "port": sink.port},
            temporal={"task_queue": task_queue},
        )
        try:
            conn = await db.connect(settings)
            await migrate.migrate(conn)
            await conn.close()
            pool = await db.create_pool(settings)
            await providers.upsert(pool, ORG, "Bench vzw")
            client: Client = env.client
            registry = RegistryActivities(pool, settings)
            service = CaseService(settings, client=client, pool=pool)
            async with Worker(
                client,
                task_queue=task_queue,
                workflows=[ApplicationWorkflow, BenchMinimal],
                activities=[registry.record_step, touch],
                max_concurrent_activities=50,
            ):
                case_ids: list[str] = []

                async def happy(i: int) -> None:
                    from datetime import UTC, datetime

                    start = datetime.now(UTC).date() + timedelta(days=200)
                    sub = await service.submit(application(start), str(uuid.uuid4()))
                    case_ids.append(sub.dossier)
                    await service.update(
                        sub.dossier, ReviewDecisionInput(actor=REVIEWER, approve=True)
                    )

                async def minimal(i: int) -> None:
                    handle = await client.start_workflow(
                        BenchMinimal.run, id=f"min-{uuid.uuid4()}", task_queue=task_queue
                    )
                    await handle.signal(BenchMinimal.go)
                    await handle.result()

                happy_s = await _bounded(n, concurrency, happy)
                minimal_s = await _bounded(n, concurrency, minimal)
                first_case = client.get_workflow_handle(case_ids[0])
                happy_events = len([e async for e in first_case.fetch_history_events()])
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            happy_rate, minimal_rate = n / happy_s, n / minimal_s
            print(f"cases: {n}, concurrency {concurrency}")
            print(
                f"happy path (submit->approve->registered): {happy_rate:.1f}/s in {happy_s:.1f} s"
            )
            print(
                f"minimal (start->signal->activity->done): {minimal_rate:.1f}/s "
                f"in {minimal_s:.1f} s"
            )
            print(f"ratio happy/minimal: {happy_rate / minimal_rate:.2f}")
            print(f"history events: happy path so far {happy_events}, minimal 11")
            print(f"worker process peak RSS (worker + load generator): {peak_mb:.0f} MiB")
            await pool.close()
        finally:
            await env.shutdown()
            sink.stop()
            pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency))
