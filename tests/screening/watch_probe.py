"""A workflow whose one activity fails a given number of times (tests/screening/
test_activity_watch.py). Its own module, importing only Temporal, so the workflow sandbox
can load it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

THRESHOLD = 5  # activities.activity_watch.THRESHOLD (checked by the test)
FAST = RetryPolicy(initial_interval=timedelta(milliseconds=20), backoff_coefficient=1.0)
# The registry pool, set by the test: the activity reports what the watch recorded.
pool: Any = None


@activity.defn(name="test.flaky")
async def flaky(fail_until: int) -> dict[str, Any]:
    """Fails until attempt `fail_until` (the last of many non-retryable, when there are
    more than THRESHOLD + 2); the attempt after reports the registry's row about it."""
    info = activity.info()
    if info.attempt == fail_until + 1 and info.attempt > THRESHOLD + 1:
        row = await pool.fetchrow(
            "SELECT attempt, last_error FROM stuck_activities WHERE workflow_id = $1",
            info.workflow_id,
        )
        return dict(row) if row else {}
    if info.attempt <= fail_until:
        if info.attempt == fail_until and fail_until > THRESHOLD + 2:
            raise ApplicationError("the data is wrong for good", non_retryable=True)
        raise RuntimeError(f"database away (attempt {info.attempt})")
    return {}


@workflow.defn(name="WatchProbe")
class WatchProbe:
    @workflow.run
    async def run(self, fail_until: int) -> dict[str, Any]:
        result: dict[str, Any] = await workflow.execute_activity(
            flaky, fail_until, start_to_close_timeout=timedelta(seconds=10), retry_policy=FAST
        )
        return result
