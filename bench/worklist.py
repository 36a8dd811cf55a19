"""Worklist latency at N live cases: seeds N registered trainings with their live cases
(bench/seed.py) plus `--review` cases waiting for a VOC reviewer, then times GET /worklist's
work (`starter.worklists.worklist`: one visibility query per list, the sort, one registry
read per page) for each role and prints p50/p99.

    .venv/bin/python -m bench.worklist --n 10000 --review 500 --rounds 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.seed import bounded, seed_registered_cases, wait_idle
from bench.servers import start_dev_server
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from models.case import CaseState, CaseStatus
from models.identity import Actor, Role, RoleKind
from registry import db, migrate
from runtime.settings import load_settings
from starter.client import CaseService
from starter.worklists import worklist
from worker import build_worker

ACTORS = {
    "reviewer VOC": Actor(subject="b", roles=(Role(kind=RoleKind.REVIEWER, body="VOC"),)),
    "bec": Actor(subject="b", roles=(Role(kind=RoleKind.BEC),)),
    "department (4 lists)": Actor(subject="b", roles=(Role(kind=RoleKind.DEPARTMENT),)),
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="odb-bench-worklist-") as tmp:
        folder = Path(tmp)
        pg = EmbeddedPostgres(folder / "pg", free_port())
        pg.start()
        env = await start_dev_server(folder)
        settings = load_settings(
            postgres={"url": pg.dsn, "pool_max": 20},
            temporal={"task_queue": f"bench-worklist-{os.getpid()}"},
            state_dir=str(folder / "state"),
        )
        try:
            conn = await db.connect(settings)
            await migrate.migrate(conn)
            await conn.close()
            pool = await db.create_pool(settings)
            client = env.client
            async with build_worker(client, settings, pool):
                t0 = time.perf_counter()
                seeded = await seed_registered_cases(
                    client, pool, settings.temporal.task_queue, args.n, year=date.today().year - 2
                )
                review = await _under_review(client, pool, settings, args.review)
                print(
                    f"seeded {len(seeded.dossiers)} registered + {len(review)} under review "
                    f"in {time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
                provider = (
                    await pool.fetchval("SELECT provider FROM applications LIMIT 1")
                ) or "0123456749"
                actors = {
                    **ACTORS,
                    "provider": Actor(
                        subject="b", organisation=provider, roles=(Role(kind=RoleKind.PROVIDER),)
                    ),
                }
                service = CaseService(settings, client=client, pool=pool)
                for name, actor in actors.items():
                    times: list[float] = []
                    answer = None
                    for _ in range(args.rounds):
                        start = time.perf_counter()
                        answer = await worklist(service, actor, limit=20)
                        times.append((time.perf_counter() - start) * 1000)
                    assert answer is not None
                    counts = ", ".join(f"{p.list}={p.count}" for p in answer.lists)
                    print(
                        f"{name:<22} p50 {statistics.median(times):7.1f} ms  "
                        f"p99 {pct(times, 0.99):7.1f} ms  ({counts})",
                        flush=True,
                    )
            await pool.close()
        finally:
            await env.shutdown()
            pg.stop()


async def _under_review(client, pool, settings, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    """n cases under review at the VOC: the seeder's registered cases, started as if they
    were still waiting for their reviewer (a fresh copy of each with its own dossier)."""
    if n <= 0:
        return []
    from starter.cli import demo_data as demo
    from starter.cli.demo_data import registered_case
    from starter.client import start_details, summary

    async with pool.acquire() as conn:
        dossiers = await demo.seed_registered(conn, n, year=date.today().year - 1)
    rows = await pool.fetch(
        "SELECT dossier, payload, submitted_at FROM applications WHERE dossier = ANY($1::text[])",
        dossiers,
    )
    from models.application import TrainingApplication

    async def start(row) -> None:  # type: ignore[no-untyped-def]
        app = TrainingApplication.model_validate(row["payload"])
        inp = registered_case(
            row["dossier"], app, submitted_at=row["submitted_at"], registered_from=date.today()
        )
        assert inp.carried is not None
        carried = replace_state(inp.carried)
        await client.start_workflow(
            "ApplicationWorkflow",
            inp.model_copy(update={"carried": carried}),
            id=row["dossier"],
            task_queue=settings.temporal.task_queue,
            static_summary=summary(row["dossier"], app.title),
            static_details=start_details(row["dossier"], app),
        )

    await bounded(rows, 32, start)
    await wait_idle(client, dossiers, 32)
    return dossiers


def replace_state(status: CaseStatus) -> CaseStatus:
    return status.model_copy(
        update={
            "state": CaseState.UNDER_REVIEW,
            "registered_from": None,
            "competent_body": "VOC",
            "submitted_at": datetime.now(UTC) - timedelta(days=status.submitted_at.day),
        }
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--review", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
