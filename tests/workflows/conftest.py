from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from runtime.settings import Settings
from tests.workflows.harness import Cases, running_cases


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cases(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings
) -> AsyncIterator[Cases]:
    async with running_cases(ts_env, pg_pool, test_settings) as running:
        yield running
