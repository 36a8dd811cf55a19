"""What the screening tests share: the system's own worker on a fresh task queue, registered
cases made through the real case workflow, and a fresh screening year per test."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import CaseStatus, ReviewDecisionInput
from models.screening import ScreeningInput, ScreeningReport, screening_workflow_id
from rules.deadlines import brussels_day
from runtime.settings import Settings
from starter.client import CaseService
from tests.workflows.harness import VOC_REVIEWER, application, on_fresh_queue, seed_providers
from worker import build_worker
from workflows.application import ApplicationWorkflow
from workflows.screening import ScreeningWorkflow

# Screening years far from the calendar: labels only, unique within a test session.
_YEARS = itertools.count(3000 + random.randrange(0, 3000, 10))


async def today(env: WorkflowEnvironment) -> date:
    return brussels_day(await env.get_current_time())


def fresh_year() -> int:
    return next(_YEARS)


def fresh_years(n: int) -> list[int]:
    """`n` consecutive years no other test screens (a screening run is one per year)."""
    return [next(_YEARS) for _ in range(n)]


@asynccontextmanager
async def system_worker(
    client: Client, pool: asyncpg.Pool[Any], settings: Settings
) -> AsyncIterator[Worker]:
    """The worker exactly as worker.py builds it."""
    worker = build_worker(client, settings, pool)
    async with worker:
        yield worker


async def end_running_cases(client: Client, pool: asyncpg.Pool[Any]) -> None:
    """Terminates every case of the registry still running on `client`'s server. On the
    time-skipping server a case left behind by a test whose worker is gone would, when its
    next timer (a fresh-run, an appeal window) fires, put a task on a queue nobody polls,
    and the server stops skipping time for every later test of the module."""
    for row in await pool.fetch("SELECT dossier FROM applications"):
        try:
            await client.get_workflow_handle(row["dossier"]).terminate("test finished")
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:  # already ended, or never started
                raise


def new_settings(settings: Settings) -> Settings:
    """On a queue of its own; a worker stopped by a test gives its activities no grace."""
    settings = on_fresh_queue(settings, "screening")
    return settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"graceful_shutdown_seconds": 0})}
    )


async def registered_cases(
    client: Client, pool: asyncpg.Pool[Any], settings: Settings, n: int, start: date
) -> list[str]:
    """`n` cases submitted and approved through the case workflow and the API's client."""
    await seed_providers(pool)
    service = CaseService(settings, client=client, pool=pool)
    dossiers = []
    for _ in range(n):
        submission = await service.submit(
            application(start + timedelta(days=120)), idempotency_key=str(uuid.uuid4())
        )
        await service.update(
            submission.dossier, ReviewDecisionInput(actor=VOC_REVIEWER, approve=True)
        )
        dossiers.append(submission.dossier)
    return dossiers


async def start_screening(
    client: Client, settings: Settings, year: int, screening_date: date, **options: Any
) -> WorkflowHandle[Any, ScreeningReport]:
    return await client.start_workflow(
        ScreeningWorkflow.run,
        ScreeningInput(year=year, screening_date=screening_date, **options),
        id=screening_workflow_id(year),
        task_queue=settings.temporal.task_queue,
    )


async def screening_rows(pool: asyncpg.Pool[Any], year: int) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM screening_results WHERE step = $1 ORDER BY dossier", f"screening-{year}"
    )


def screening_mails(sink: Any, dossier: str) -> list[Any]:
    return [
        m
        for m in sink.messages()
        if f"{dossier}.screening_result." in (m["Message-ID"] or "")
    ]


async def case_status(client: Client, dossier: str) -> Any:
    return await client.get_workflow_handle(dossier, result_type=CaseStatus).query(
        ApplicationWorkflow.status
    )


async def told(client: Client, dossier: str, year: int) -> Any:
    """The case's status once it has handled its screening outcome (signals are async)."""
    for _ in range(200):
        status = await case_status(client, dossier)
        if any(s.year == year for s in status.screenings):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{dossier} never handled its screening outcome of {year}")


async def registered_since(pool: asyncpg.Pool[Any], dossier: str, day: date) -> None:
    """Moves a case's registration start in the registry (the screening reads it there):
    a case approved today made to look registered since `day`."""
    await pool.execute(
        "UPDATE registration_periods SET starts_on = $2 WHERE dossier = $1", dossier, day
    )
