"""Ops tests share one Temporal dev server with the Web UI, holding one seeded set of cases
(every saved search, the metrics and the browser test read the same cases), so the answers
can be exact: nothing else runs on this server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from devstack.ports import free_port
from models import search
from models.case import (
    AppealInput,
    CaseInput,
    CaseStatus,
    Deadline,
    ReviewDecisionInput,
    ScreeningOutcome,
    WithdrawInput,
)
from registry import case_rows
from registry.db import create_pool
from rules.deadlines import appeal_window, brussels_day, removal_after_negative_screening
from runtime.settings import Settings
from starter.client import summary
from tests.fixtures.postgres import own_database
from tests.fixtures.temporal import _binary, register_search_attributes, skip_in_steps
from tests.workflows.harness import (
    OTHER_ORG,
    PROVIDER,
    VOC_REVIEWER,
    advance_to,
    application,
    running_cases,
)
from workflows.application import ApplicationWorkflow

T = TypeVar("T")
REASON = "De opleiding sluit onvoldoende aan bij de arbeidsmarkt."
VISIBILITY_WAIT = 15.0  # seconds; visibility is eventually consistent


async def eventually(
    read: Callable[[], Awaitable[T]], ok: Callable[[T], bool], wait: float = VISIBILITY_WAIT
) -> T:
    """Reads until `ok` holds or `wait` seconds passed; returns the last read either way
    (the caller's assert then shows what visibility answered)."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        value = await read()
        if ok(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class UiServer:
    env: WorkflowEnvironment
    ui_url: str  # e.g. http://127.0.0.1:8xxx

    @property
    def client(self) -> Client:
        return self.env.client


@pytest_asyncio.fixture(scope="session")
async def ops_server() -> AsyncIterator[UiServer]:
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        namespace="default",
        data_converter=pydantic_data_converter,
        dev_server_existing_path=_binary("temporal"),
        search_attributes=list(search.ALL),
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.enableUpdateWorkflowExecution=true",
        ],
    )
    try:
        yield UiServer(env, f"http://127.0.0.1:{ui_port}")
    finally:
        await env.shutdown()


@dataclass(frozen=True)
class Seeded:
    """The seeded dossiers, by what they are, and the deadlines the tests reason about."""

    today: date
    voc_review: str  # under review, VOC
    pc200_review: str  # under review, PC 200
    other_provider: str  # under review, VOC, another organisation
    refused: str  # refused today: appeal window open ~30 days
    removal_this_year: str  # negative screening last year: removed 31 December this year
    window_soon: str  # negative screening 20 days ago: window open ~10 more days
    overdue: str  # in appeal, BEC deadline passed (made on the time-skipping server)
    withdrawn: str  # ended
    terminated: str  # terminated by ops
    refused_window: Deadline
    soon_window: Deadline
    soon_removal: Deadline
    this_year_removal: Deadline  # removal_this_year's: 31 December of this year
    task_queue: str

    def next_deadlines(self) -> dict[str, Deadline]:
        """The running cases that wait for a deadline, with the one they wait for next."""
        return {
            self.refused: self.refused_window,
            self.window_soon: self.soon_window,
            self.removal_this_year: self.this_year_removal,
        }

    @property
    def of_main_provider(self) -> set[str]:
        return {
            self.voc_review,
            self.pc200_review,
            self.refused,
            self.removal_this_year,
            self.window_soon,
            self.overdue,
            self.withdrawn,
            self.terminated,
        }


def _negative(year: int, notified_on: date) -> ScreeningOutcome:
    return ScreeningOutcome(
        year=year,
        passed=False,
        score=31.5,
        rubric_version="example-2027",
        remarks="te weinig deelnemers",
        notified_on=notified_on,
    )


async def _overdue_case(pool: asyncpg.Pool[Any], settings: Settings) -> tuple[str, CaseInput]:
    """A case whose appeal passed its 60-day BEC deadline, played by the real workflow on
    a time-skipping server of its own; returned as the input that carries its state on (the
    very input the workflow gives itself when it continues as new)."""
    ts_env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=_binary("temporal-test-server"),
    )
    skip_in_steps(ts_env)
    try:
        await register_search_attributes(ts_env.client, ts_env.client.namespace)
        return await _play_overdue(ts_env, pool, settings)
    finally:
        await ts_env.shutdown()


async def _play_overdue(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool[Any], settings: Settings
) -> tuple[str, CaseInput]:
    async with running_cases(ts_env, pool, settings) as cases:
        app = application(date.today() + timedelta(days=120))
        handle = await cases.submit(app)
        await cases.service.update(
            handle.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON)
        )
        status = await cases.service.update(
            handle.id, AppealInput(actor=PROVIDER, motivation="Beroep met motivering.")
        )
        await advance_to(ts_env, status.appeals[0].deadline.due_at + timedelta(minutes=5))
        status = await cases.status(handle)
        assert status.appeals[0].overdue
        return handle.id, CaseInput(
            dossier=handle.id, application=app, submitted_at=status.submitted_at, carried=status
        )


@pytest_asyncio.fixture(scope="session")
async def ops_registry(
    pg_dsn: str, test_settings: Settings
) -> AsyncIterator[tuple[asyncpg.Pool[Any], Settings]]:
    """A registry of the seeded cases alone (a database of its own on the test server): the
    worklists read every row of it, so other modules' cases must not be there."""
    async with own_database(pg_dsn, "ops") as dsn:
        settings = test_settings.model_copy(
            update={"postgres": test_settings.postgres.model_copy(update={"url": dsn})}
        )
        pool = await create_pool(settings, dsn)
        try:
            yield pool, settings
        finally:
            await pool.close()


@pytest_asyncio.fixture(scope="session")
async def seeded(
    ops_server: UiServer,
    ops_registry: tuple[asyncpg.Pool[Any], Settings],
) -> AsyncIterator[Seeded]:
    pg_pool, test_settings = ops_registry
    overdue_id, overdue_input = await _overdue_case(pg_pool, test_settings)
    today = brussels_day(datetime.now(UTC))
    start = today + timedelta(days=150)
    async with running_cases(ops_server.env, pg_pool, test_settings) as cases:
        tq = cases.settings.temporal.task_queue

        async def registered(**changes: Any) -> str:
            handle = await cases.submit(application(start, **changes))
            await cases.service.update(
                handle.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=True)
            )
            return handle.id

        voc = (await cases.submit(application(start))).id
        pc200 = (await cases.submit(application(start, joint_committee="PC 200"))).id
        other = (await cases.submit(application(start, provider=OTHER_ORG))).id
        refused = (await cases.submit(application(start))).id
        await cases.service.update(
            refused, ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON)
        )
        withdrawn = (await cases.submit(application(start))).id
        await cases.service.update(withdrawn, WithdrawInput(actor=PROVIDER, reason="vergissing"))
        broken = await cases.submit(application(start))
        terminated = broken.id
        await cases.status(broken)  # it ran and published its search attributes
        await broken.terminate("ops test: a broken case")
        # As `python -m ops reconcile` flags it: the registry cannot see a termination.
        await case_rows.flag_execution(pg_pool, terminated, "terminated", datetime.now(UTC))

        # The screening's own message to a case; its notice date decides the deadlines.
        last_year = await registered()
        last_year_notice = date(today.year - 1, 6, 1)
        await cases.client.get_workflow_handle(last_year).signal(
            ApplicationWorkflow.screening_outcome, _negative(today.year - 1, last_year_notice)
        )
        soon = await registered()
        soon_notice = today - timedelta(days=20)
        await cases.client.get_workflow_handle(soon).signal(
            ApplicationWorkflow.screening_outcome, _negative(today.year, soon_notice)
        )

        await cases.client.start_workflow(
            ApplicationWorkflow.run,
            overdue_input,
            id=overdue_id,
            task_queue=tq,
            static_summary=summary(overdue_id, overdue_input.application.title),
        )
        seeds = Seeded(
            today=today,
            voc_review=voc,
            pc200_review=pc200,
            other_provider=other,
            refused=refused,
            removal_this_year=last_year,
            window_soon=soon,
            overdue=overdue_id,
            withdrawn=withdrawn,
            terminated=terminated,
            refused_window=appeal_window(today),
            soon_window=appeal_window(soon_notice),
            soon_removal=removal_after_negative_screening(soon_notice),
            this_year_removal=removal_after_negative_screening(last_year_notice),
            task_queue=tq,
        )
        # Every case has settled (signals handled, continued as new) before tests read.
        # Both screened cases continued as new; the new runs have settled (the lapsed
        # window handled) and visibility shows it, before any test reads.
        for dossier in (last_year, soon):
            handle = cases.client.get_workflow_handle(dossier, result_type=CaseStatus)
            status = await eventually(
                lambda h=handle: h.query(ApplicationWorkflow.status),  # type: ignore[misc]
                lambda s: s.runs == 2,
            )
            assert status.runs == 2, dossier
        settled = (
            f"WorkflowId = '{last_year}' AND ExecutionStatus = 'Running' "
            "AND OdbNextDeadlineKind = 'removal'"
        )
        await eventually(lambda: cases.client.count_workflows(settled), lambda c: c.count == 1)
        yield seeds
