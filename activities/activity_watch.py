"""Makes an activity that keeps retrying visible to ops, whatever workflow runs it.

Temporal retries a failing activity for as long as its retry policy allows (ours: without
limit, since a database or SMTP outage is waited out). Nothing in the workflow list shows
that: the workflow is Running and healthy. This interceptor, on every worker, records an
activity whose failed attempts reach THRESHOLD in the registry (`stuck_activities`, refreshed
on each further attempt with its last error), removes it when it succeeds or fails for good,
and keeps the gauge `odb_activities_retrying` on the worker's metrics endpoint at the number
of such activities (the registry's count, so every worker reports the same figure).
`python -m ops stuck` lists them; docs/runbook.md has the alert rule.

Recording must never make things worse: the registry may be exactly what is down, so its
errors (and a slow answer, after WATCH_TIMEOUT) are logged and swallowed, and an activity
that never reached the threshold costs no query at all.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.common import MetricGauge
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from registry import activity_watch as repo
from runtime.logging import get_logger

log = get_logger("activities.activity_watch")

# Failed attempts after which an activity counts as stuck: the next attempt is the 6th.
THRESHOLD = 5
WATCH_TIMEOUT = 2.0  # seconds; the activity's own work matters more than its bookkeeping
GAUGE = "odb_activities_retrying"


class ActivityWatch(Interceptor):
    """The worker interceptor (`Worker(interceptors=[ActivityWatch(pool, client)])`)."""

    def __init__(
        self, pool: asyncpg.Pool[Any], client: Client, *, threshold: int = THRESHOLD
    ) -> None:
        self.pool = pool
        self.threshold = threshold
        runtime = client.service_client.config.runtime or Runtime.default()
        self._gauge: MetricGauge = runtime.metric_meter.create_gauge(
            GAUGE, "activities retrying beyond the threshold (python -m ops stuck)", "1"
        )
        # The last count set on the gauge (None: not known yet on this worker).
        self.retrying: int | None = None

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)

    async def seen(self, info: activity.Info, error: str | None) -> None:
        await self._guarded(
            repo.seen(
                self.pool,
                workflow_id=info.workflow_id or "",
                run_id=info.workflow_run_id or "",
                activity_id=info.activity_id,
                activity_type=info.activity_type,
                workflow_type=info.workflow_type or "",
                task_queue=info.task_queue,
                attempt=info.attempt,
                error=error,
            )
        )

    async def clear(self, info: activity.Info) -> None:
        await self._guarded(
            repo.clear(
                self.pool,
                workflow_id=info.workflow_id or "",
                run_id=info.workflow_run_id or "",
                activity_id=info.activity_id,
            )
        )

    async def _guarded(self, write: Any) -> None:
        try:
            async with asyncio.timeout(WATCH_TIMEOUT):
                await write
                self.retrying = await repo.count_retrying(self.pool)
            self._gauge.set(self.retrying)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("activity_watch.registry_unavailable", error=str(exc))

    def gives_up(self, info: activity.Info, exc: BaseException) -> bool:
        """True when this failure is the last: Temporal will not retry it."""
        if isinstance(exc, asyncio.CancelledError):
            return True  # cancelled (its workflow ended, or the worker stops: re-recorded)
        if isinstance(exc, ApplicationError) and exc.non_retryable:
            return True
        policy = info.retry_policy
        if policy is None:
            return False
        name = exc.type if isinstance(exc, ApplicationError) and exc.type else type(exc).__name__
        if name in (policy.non_retryable_error_types or ()):
            return True
        return bool(policy.maximum_attempts) and info.attempt >= policy.maximum_attempts


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, watch: ActivityWatch) -> None:
        super().__init__(next)
        self._watch = watch

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        beyond = info.attempt > self._watch.threshold
        if beyond:
            # Also covers an attempt whose failure this worker never saw (timed out, or the
            # worker that ran it died).
            await self._watch.seen(info, None)
        try:
            result = await super().execute_activity(input)
        except BaseException as exc:
            if self._watch.gives_up(info, exc):
                if beyond or info.attempt == self._watch.threshold:
                    await self._watch.clear(info)
            elif info.attempt >= self._watch.threshold:
                await self._watch.seen(info, f"{type(exc).__name__}: {exc}"[:2000])
            raise
        if beyond:
            await self._watch.clear(info)
        return result
