"""What the screening tests that play cases on the time-skipping server ask for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.screening.helpers import end_running_cases


@pytest_asyncio.fixture(loop_scope="session")
async def time_moves_only_when_told(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any]
) -> AsyncIterator[None]:
    """Time on the test server moves only where a test says so (advance_to). Left to skip
    while a test awaits a screening's result, the server jumps, the moment the run
    completes, to the cases' next timers: a passed case's fresh run (within days) would
    then continue as new under the test's queries. Each test runs its own worker on its
    own queue, so the cases it leaves are ended too (see end_running_cases). A module asks
    for it in its `pytestmark`."""
    with ts_env.auto_time_skipping_disabled():
        yield
    await end_running_cases(ts_env.client, pg_pool)
