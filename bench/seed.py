"""Seeds N registered trainings for the screening benchmark: the registry rows from the demo
generator, and for each a live case workflow started directly in the registered state (as a
case that has continued as new after its approval), so a run does not pay for N submissions
and reviews it does not measure.

    .venv/bin/python -m bench.screening --n 1000     (uses this module)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as clock_time
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from models import search
from models.application import TrainingApplication
from models.case import CaseInput, CaseState
from models.case_row import CaseRow
from rules import case_view
from starter.cli import demo_data as demo
from starter.cli.demo_data import registered_case
from starter.client import start_details, summary

CASE_WORKFLOW = "ApplicationWorkflow"


@dataclass(frozen=True)
class Seeded:
    dossiers: list[str]
    rows_s: float  # registry rows (demo generator)
    start_s: float  # case workflows started
    settle_s: float  # until every case finished its first workflow task


async def bounded(
    items: Sequence[Any], concurrency: int, one: Callable[[Any], Awaitable[None]]
) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def guarded(item: Any) -> None:
        async with gate:
            await one(item)

    await asyncio.gather(*(guarded(i) for i in items))


def registered_input(dossier: str, row: asyncpg.Record) -> CaseInput:
    return registered_case(
        dossier,
        TrainingApplication.model_validate(row["payload"]),
        submitted_at=row["submitted_at"],
        registered_from=row["starts_on"],
    )


def seeded_row(inp: CaseInput, step: str = "seeded") -> CaseRow:
    """The registry's current-state row of a case seeded in the registered state (as its
    first recorded step would write it), dated at its registration start."""
    status = inp.carried
    assert status is not None and status.registered_from is not None
    at = datetime.combine(status.registered_from, clock_time(9), tzinfo=UTC)
    return case_view.case_row(status, step=step, at=at)


async def start_registered_case(client: Client, task_queue: str, inp: CaseInput) -> None:
    """Starts the live case of a seeded registered training, asleep in that state."""
    await client.start_workflow(
        CASE_WORKFLOW,
        inp,
        id=inp.dossier,
        task_queue=task_queue,
        static_summary=summary(inp.dossier, inp.application.title),
        static_details=start_details(inp.dossier, inp.application),
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(search.STATE, CaseState.REGISTERED.value),
                SearchAttributePair(search.COMPETENT_BODY, inp.application.competent_body),
                SearchAttributePair(search.PROVIDER, inp.application.provider),
                SearchAttributePair(search.WAITING_FOR, "nobody"),
            ]
        ),
    )


async def seed_registered_cases(
    client: Client,
    pool: asyncpg.Pool[Any],
    task_queue: str,
    n: int,
    *,
    year: int,
    concurrency: int = 64,
) -> Seeded:
    t0 = time.perf_counter()
    async with pool.acquire() as conn:
        dossiers = await demo.seed_registered(conn, n, year=year)
    rows = {
        r["dossier"]: r
        for r in await pool.fetch(
            """SELECT a.dossier, a.payload, a.submitted_at, min(rp.starts_on) AS starts_on
               FROM applications a JOIN registration_periods rp ON rp.dossier = a.dossier
               WHERE a.dossier = ANY($1::text[]) GROUP BY a.dossier""",
            dossiers,
        )
    }
    t1 = time.perf_counter()

    async def start(dossier: str) -> None:
        await start_registered_case(client, task_queue, registered_input(dossier, rows[dossier]))

    await bounded(dossiers, concurrency, start)
    t2 = time.perf_counter()
    await wait_idle(client, dossiers, concurrency)
    t3 = time.perf_counter()
    return Seeded(dossiers=dossiers, rows_s=t1 - t0, start_s=t2 - t1, settle_s=t3 - t2)


async def wait_idle(
    client: Client, workflow_ids: Sequence[str], concurrency: int, timeout_s: float = 900
) -> None:
    """Waits until every workflow has completed its first workflow task and has none pending:
    asleep, waiting for a signal (so a timed phase measures only what follows)."""
    deadline = time.monotonic() + timeout_s
    todo = list(workflow_ids)
    busy: list[str] = []

    async def check(wid: str) -> None:
        raw = (await client.get_workflow_handle(wid).describe()).raw_description
        # Started, task scheduled, started, completed: at least 4 events once asleep.
        if raw.HasField("pending_workflow_task") or raw.workflow_execution_info.history_length < 4:
            busy.append(wid)

    while todo:
        busy.clear()
        await bounded(todo, concurrency, check)
        todo = list(busy)
        if todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(todo)} workflows still busy after {timeout_s:.0f} s")
            await asyncio.sleep(0.5)
