"""Two workers and two API processes against one Temporal server and one PostgreSQL, as on a
cluster (issue 15): cases submitted and approved through both APIs, both workers take tasks,
one worker SIGKILLed midway (a host that dies; nothing restarts it). Every case completes
once, no step or notice is recorded twice, every e-mail goes out; then the yearly screening
with both workers completes and both take part. `bench.scale_out` measures the same at
1,000 cases (figures in docs/deploy.md)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from bench.drills import (
    CONTACT,
    ORG,
    PROVIDER_NAME,
    Drill,
    MailIndex,
    Portal,
    check,
    reconciled,
    unsent_count,
)
from bench.scale_out import scrape, screen, seed
from devstack.ports import free_port
from registry import providers
from registry.db import dsn_from_settings
from tests.stack.harness import ExtraProcess, RunningStack, StackConfig, ready_stack

pytestmark = pytest.mark.stack

CASES = 60
SCREENED = 40


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with ready_stack(StackConfig.fresh(tmp_path_factory.mktemp("scale") / "state")) as running:
        yield running


def tasks(port: int) -> float:
    """Workflow tasks + activities the worker behind this metrics port has completed."""
    return sum(scrape(port).values())


async def until_drained(dsn: str) -> None:
    for _ in range(1200):
        if await unsent_count(dsn) == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the outbox still holds unsent e-mails after 120 s")


@pytest.mark.timeout(400)
async def test_two_workers_two_apis_one_killed_every_case_once(stack: RunningStack) -> None:
    settings = stack.config.settings()
    folder = stack.config.state.parent
    conn = await asyncpg.connect(dsn_from_settings(settings), timeout=10)
    await providers.upsert(conn, ORG, PROVIDER_NAME, CONTACT)
    await conn.close()
    # The second host: API B and worker B, not supervised.
    api_b = ExtraProcess.api(stack.config, folder / "api-b.log", free_port())
    worker_b = ExtraProcess.worker(stack.config, folder / "worker-b.log", free_port())
    worker_b2: ExtraProcess | None = None
    try:
        await api_b.wait_ready()
        await worker_b.wait_ready()
        port_a = stack.config.ports["worker_metrics"]
        drill = Drill("scale-out", "test")
        served = Counter[str]()
        at_kill: list[tuple[float, float]] = []
        api_a = f"http://127.0.0.1:{stack.config.ports['api']}"
        async with (
            httpx.AsyncClient(base_url=api_a, timeout=60) as http_a,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_b.port}", timeout=60) as http_b,
        ):
            portals = {"A": Portal(http_a, settings), "B": Portal(http_b, settings)}
            gate = asyncio.Semaphore(10)

            async def one(i: int) -> None:
                api = "AB"[i % 2]
                async with gate:
                    dossier = await portals[api].submit(drill, i)
                    assert dossier is not None
                    assert (await portals[api].decide(drill, dossier, True)).status == 200
                served[api] += 1
                if served.total() == CASES // 2:
                    at_kill.append((tasks(port_a), tasks(worker_b.port)))
                    worker_b.kill()

            await asyncio.gather(*(one(i) for i in range(CASES)))
        assert served == {"A": CASES // 2, "B": CASES // 2}  # both APIs served the portal
        [(a_tasks, b_tasks)] = at_kill
        assert a_tasks > 0 and b_tasks > 0  # both workers took tasks before the kill

        # Every case once: registered, one decision and one step each, every notice sent
        # (an .eml file carrying its Message-ID), no step or notice twice.
        await until_drained(dsn_from_settings(settings))
        await check(settings, drill, MailIndex(stack.config.state / "mail"))
        assert len({d.dossier for d in drill.decisions}) == CASES
        assert (drill.cases_lost, drill.decisions_lost, drill.notices_lost) == (0, 0, 0)
        assert drill.dup_audit == 0, drill.notes
        # What the portal reads agrees with every case: the registry's rows against the
        # workflows, each asked by query (the drills end the same way).
        await reconciled(settings, drill)
        assert (drill.row_differences, drill.rows_unchecked) == (0, 0), drill.notes

        # The yearly screening with worker B back (a new process) beside worker A.
        worker_b2 = ExtraProcess.worker(stack.config, folder / "worker-b2.log", free_port())
        await worker_b2.wait_ready()
        await seed(settings, SCREENED)
        a0, b0 = tasks(port_a), tasks(worker_b2.port)
        report, _, _ = await screen(settings, SCREENED)
        assert (report.total, report.signalled, report.not_yet_due) == (SCREENED, SCREENED, CASES)
        assert tasks(port_a) > a0 and tasks(worker_b2.port) > b0  # both took part
    finally:
        api_b.stop()
        worker_b.stop()
        if worker_b2 is not None:
            worker_b2.stop()
