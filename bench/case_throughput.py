"""Benchmark (figures, not pass/fail): happy-path cases against the engine's ceiling.

Starts its own real servers in a temporary folder (Temporal dev server file-backed with WAL,
embedded PostgreSQL, the SMTP sink as its own process) and the real worker as its own
process, then in the same run:
  1. N happy-path cases: submit -> acknowledgment -> approve -> registered;
  2. N minimal workflows: start -> one signal -> one activity -> done (the ceiling);
and prints both rates, their ratio, history events per path and the worker's peak memory.

    .venv/bin/python -m bench.case_throughput --n 300 --concurrency 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.minimal_workflow import BenchMinimal
from bench.screening import Sampler
from bench.servers import start_dev_server
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from models.case import ReviewDecisionInput
from models.identity import Actor, Role, RoleKind
from registry import db, migrate, providers
from runtime.settings import load_settings
from starter.client import CaseService
from tests.workflows.harness import ORG, application

REVIEWER = Actor(subject="bench.voc", roles=(Role(kind=RoleKind.REVIEWER, body="VOC"),))


async def _bounded(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
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
        smtp_port = free_port()
        env = await start_dev_server(folder)
        task_queue = f"bench-{uuid.uuid4()}"
        overrides = {
            "DATABASE_URL": pg.dsn,
            "ODB_POSTGRES__POOL_MAX": "20",
            "ODB_TEMPORAL__ADDRESS": env.client.service_client.config.target_host,
            "ODB_TEMPORAL__NAMESPACE": "default",
            "ODB_TEMPORAL__TASK_QUEUE": task_queue,
            "ODB_SMTP__PORT": str(smtp_port),
            "ODB_WORKER__METRICS_PORT": "0",
            "ODB_STATE_DIR": str(folder / "state"),
        }
        settings = load_settings(
            postgres={"url": pg.dsn}, smtp={"port": smtp_port}, temporal={"task_queue": task_queue}
        )
        procs: list[subprocess.Popen[bytes]] = []
        try:
            conn = await db.connect(settings)
            await migrate.migrate(conn)
            await conn.close()
            child_env = {**os.environ, **overrides}
            for cmd, name in (
                ([sys.executable, "-m", "devstack.smtp_sink", "--dir", str(folder / "mail"),
                  "--port", str(smtp_port)], "sink"),
                ([sys.executable, "-m", "bench.case_worker"], "worker"),
            ):  # fmt: skip
                log = (folder / f"{name}.log").open("wb")
                procs.append(subprocess.Popen(cmd, env=child_env, stdout=log, stderr=log))
            memory = Sampler(procs[1].pid)
            pool = await db.create_pool(settings)
            await providers.upsert(pool, ORG, "Bench vzw")
            client = env.client
            service = CaseService(settings, client=client, pool=pool)
            case_ids: list[str] = []

            async def happy(i: int) -> None:
                start = datetime.now(UTC).date() + timedelta(days=200)
                sub = await service.submit(application(start), str(uuid.uuid4()))
                case_ids.append(sub.dossier)
                await service.update(sub.dossier, ReviewDecisionInput(actor=REVIEWER, approve=True))

            async def minimal(i: int) -> None:
                handle = await client.start_workflow(
                    BenchMinimal.run, id=f"min-{uuid.uuid4()}", task_queue=task_queue
                )
                await handle.signal(BenchMinimal.go)
                await handle.result()

            await _bounded(min(20, n), concurrency, happy)  # warm-up: worker start, caches
            await _bounded(min(20, n), concurrency, minimal)
            happy_s = await _bounded(n, concurrency, happy)
            minimal_s = await _bounded(n, concurrency, minimal)
            first_case = client.get_workflow_handle(case_ids[-1])
            happy_events = len([e async for e in first_case.fetch_history_events()])
            peak_mib = memory.take() / 2**20
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
            print(f"history events: happy path {happy_events} (case waits on), minimal 11")
            print(f"worker process peak RSS: {peak_mib:.0f} MiB")
            await pool.close()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
            await env.shutdown()
            pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency))
