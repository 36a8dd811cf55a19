"""An activity retrying beyond the threshold is visible to ops, whatever workflow runs it:
the system's worker (worker.build_worker, with its interceptor) lists it in the registry
while it retries and drops it when it succeeds or fails for good."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.activity_watch import THRESHOLD
from ops.__main__ import main as ops_main
from runtime.settings import Settings
from tests.screening import watch_probe
from tests.screening.helpers import new_settings
from tests.screening.watch_probe import WatchProbe, flaky
from worker import build_worker


async def stuck_rows(pool: asyncpg.Pool[Any], workflow_id: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM stuck_activities WHERE workflow_id = $1", workflow_id
        )
    )


async def test_a_retrying_activity_is_listed_then_cleared(
    ts_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings,
) -> None:
    assert watch_probe.THRESHOLD == THRESHOLD
    watch_probe.pool = pg_pool
    settings = new_settings(test_settings)
    worker = build_worker(
        ts_env.client, settings, pg_pool, extra_workflows=[WatchProbe], extra_activities=[flaky]
    )
    async with worker:
        # Fails 7 times, succeeds on attempt 8: listed from the 5th failure on, gone after.
        wid = f"watch-{uuid.uuid4()}"
        seen = await ts_env.client.execute_workflow(
            WatchProbe.run, THRESHOLD + 2, id=wid, task_queue=settings.temporal.task_queue
        )
        assert seen["attempt"] == THRESHOLD + 3
        assert "database away (attempt 7)" in seen["last_error"]
        assert await stuck_rows(pg_pool, wid) == 0

        # Fails for good on attempt 9 (non-retryable) after being listed: gone too.
        failing = f"watch-{uuid.uuid4()}"
        with pytest.raises(WorkflowFailureError):
            await ts_env.client.execute_workflow(
                WatchProbe.run, THRESHOLD + 4, id=failing,
                task_queue=settings.temporal.task_queue,
            )
        assert await stuck_rows(pg_pool, failing) == 0

        # Never reaching the threshold costs nothing and lists nothing.
        quick = f"watch-{uuid.uuid4()}"
        await ts_env.client.execute_workflow(
            WatchProbe.run, 2, id=quick, task_queue=settings.temporal.task_queue
        )
        assert await stuck_rows(pg_pool, quick) == 0


async def test_ops_stuck_lists_what_is_retrying(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", test_settings.postgres.url or "")
    wid = f"ODB-2027-{uuid.uuid4().int % 1_000_000:06d}"
    await pg_pool.execute(
        """INSERT INTO stuck_activities (workflow_id, run_id, activity_id, activity_type,
               workflow_type, task_queue, attempt, last_error)
           VALUES ($1, 'r', '3', 'registry.record', 'ApplicationWorkflow', 'q', 9,
                   'ConnectionRefusedError: database away')""",
        wid,
    )
    try:
        # The command runs its own event loop, as from a shell.
        assert await asyncio.to_thread(ops_main, ["stuck"]) == 1
        printed = capsys.readouterr().out
        line = next(x for x in printed.splitlines() if x.startswith(wid))
        assert "registry.record" in line and "attempt 9" in line and "database away" in line
    finally:
        await pg_pool.execute("DELETE FROM stuck_activities WHERE workflow_id = $1", wid)
