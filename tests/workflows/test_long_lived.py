"""A case registered for ten years: ten yearly screenings, each handled in a fresh run
(continue-as-new), so its history stays small. On the real dev server: the test server
loses queries that race a continue-as-new."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from models.case import CaseState, ReviewDecisionInput
from runtime.settings import Settings
from tests.workflows.harness import VOC_REVIEWER, Cases, application, running_cases, until
from tests.workflows.test_lifecycle import outcome
from workflows.application import ApplicationWorkflow


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_cases(
    dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings
) -> AsyncIterator[Cases]:
    async with running_cases(dev_env, pg_pool, test_settings) as running:
        yield running


async def test_ten_yearly_screenings_keep_history_bounded(dev_cases: Cases) -> None:
    today = datetime.now(UTC).date()
    handle = await dev_cases.submit(application(today + timedelta(days=200)))
    await dev_cases.service.update(
        handle.id, ReviewDecisionInput(actor=VOC_REVIEWER, approve=True)
    )
    runs = (await dev_cases.status(handle)).runs
    for n in range(1, 11):
        result = outcome(today.year + n, True, date(today.year + n, 1, 15))
        await handle.signal(ApplicationWorkflow.screening_outcome, result)
        status = await until(handle, lambda s, n=n: s.runs == runs + n)
        assert status.screenings[-1].year == today.year + n
        # The same outcome again (a retried screening run) reaches the new run: no effect.
        await handle.signal(ApplicationWorkflow.screening_outcome, result)
    status = await until(handle, lambda s: s.runs == runs + 10)
    assert status.state == CaseState.REGISTERED
    assert [s.year for s in status.screenings] == [today.year + n for n in range(6, 11)]
    # Each cycle continued as new: the current run's history is a handful of events.
    events = [e async for e in handle.fetch_history_events()]
    assert len(events) < 30, len(events)
    # The repeated outcome of the last year was ignored: no eleventh run follows.
    assert (await dev_cases.status(handle)).runs == runs + 10
