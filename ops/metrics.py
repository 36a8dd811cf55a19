"""Domain metrics for ops, served on the worker's Prometheus endpoint beside the SDK metrics.

A case's state lives in its workflow and is published as search attributes, so the numbers
come from visibility counts (`count_workflows`) with the very queries of the saved searches;
a running screening is asked for its progress. The gauges live on the Temporal runtime's
metric meter, so the one endpoint (`worker.metrics_port`) serves both. A refresh that fails
(server briefly away) is logged and the previous values stay until the next one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.common import MetricMeter
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from models.case import CaseState
from models.screening import ScreeningProgress
from ops import searches
from registry import case_starts, events, reconcile_runs, retention
from registry import notifications as outbox
from runtime.logging import get_logger

log = get_logger("ops.metrics")

WAITING_FOR = ("reviewer", "provider", "bec", "department", "nobody")
SCREENING = "WorkflowType = 'ScreeningWorkflow' AND ExecutionStatus = 'Running'"
DEFAULT_INTERVAL = timedelta(seconds=30)
# One gauge's values by their labels.
Series = dict[tuple[tuple[str, str], ...], int]


@dataclass(frozen=True)
class MetricInfo:
    name: str
    labels: tuple[str, ...]
    description: str


# The metrics table of docs/ops.md is this list.
METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("odb_cases", ("state",), "cases per state (ended: closed cases that ended)"),
    MetricInfo("odb_cases_waiting", ("waiting_for",), "running cases per who must act next"),
    MetricInfo("odb_appeals_overdue", (), "appeals past their 60-day BEC decision deadline"),
    MetricInfo(
        "odb_appeal_windows_closing_this_week", (), "appeal windows whose last day is this week"
    ),
    MetricInfo("odb_removals_due_this_year", (), "trainings removed on 31 December this year"),
    MetricInfo("odb_cases_failed_or_stuck", (), "cases the failed-or-stuck search lists"),
    MetricInfo("odb_screenings_running", (), "yearly screening runs in progress"),
    MetricInfo(
        "odb_screening_trainings",
        ("year", "stage"),
        "a running screening's trainings: stage total, scored, delivered (cases told)",
    ),
    MetricInfo("odb_ops_metrics_refreshed_at", (), "unix time of the last successful refresh"),
)


class DomainMetrics:
    """Gauges on `meter`, refreshed from `client` every `interval` by `run()`."""

    def __init__(
        self,
        client: Client,
        meter: MetricMeter,
        *,
        interval: timedelta = DEFAULT_INTERVAL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._interval = interval
        self._clock = clock
        info = {m.name: m.description for m in METRICS}
        self._gauges = {name: meter.create_gauge(name, text, "1") for name, text in info.items()}
        self.last: dict[str, Series] = {}

    async def _count(self, query: str) -> int:
        return (await self._client.count_workflows(query)).count

    async def _values(self, now: datetime) -> dict[str, Series]:
        cases: Series = {}
        for state in CaseState:
            cases[(("state", state.value),)] = await self._count(searches.cases_in_state(state))
        waiting: Series = {
            (("waiting_for", who),): await self._count(searches.cases_waiting_for(who))
            for who in WAITING_FOR
        }
        values: dict[str, Series] = {
            "odb_cases": cases,
            "odb_cases_waiting": waiting,
            "odb_appeals_overdue": {(): await self._count(searches.appeals_overdue())},
            "odb_appeal_windows_closing_this_week": {
                (): await self._count(searches.appeal_windows_closing_this_week(now))
            },
            "odb_removals_due_this_year": {
                (): await self._count(searches.removals_due_this_year(now))
            },
            "odb_cases_failed_or_stuck": {(): await self._count(searches.failed_or_stuck(now))},
        }
        values.update(await self._screenings())
        values["odb_ops_metrics_refreshed_at"] = {(): int(time.time())}
        return values

    async def _screenings(self) -> dict[str, Series]:
        running: Series = {}
        count = 0
        async for wf in self._client.list_workflows(SCREENING):
            count += 1
            handle = self._client.get_workflow_handle(wf.id)
            try:
                raw = await handle.query("progress")
                progress = ScreeningProgress.model_validate(raw) if raw else None
            except WorkflowQueryFailedError as exc:
                log.warning("ops.metrics.screening_unreadable", workflow_id=wf.id, error=str(exc))
                continue
            if progress is None:  # still freezing its population
                continue
            year = str(progress.year)
            for stage, n in (
                ("total", progress.total),
                ("scored", progress.scored),
                ("delivered", progress.delivered),
            ):
                running[(("year", year), ("stage", stage))] = n
        return {"odb_screenings_running": {(): count}, "odb_screening_trainings": running}

    async def refresh(self) -> dict[str, Series]:
        """One pass: counts everything, then sets every gauge (returns what it set)."""
        values = await self._values(self._clock())
        for name, series in values.items():
            gauge = self._gauges[name]
            for labels, value in series.items():
                gauge.set(value, dict(labels) or None)
        # A screening that finished leaves the list: its last numbers drop to zero rather
        # than staying frozen at their last value.
        for labels in self.last.get("odb_screening_trainings", {}):
            if labels not in values["odb_screening_trainings"]:
                self._gauges["odb_screening_trainings"].set(0, dict(labels))
        self.last = values
        return values

    async def run(self) -> None:
        """Refreshes until cancelled; a failed pass is logged, not fatal to the worker."""
        while True:
            try:
                await self.refresh()
            except (RPCError, RuntimeError) as exc:
                log.warning("ops.metrics.refresh_failed", error=str(exc))
            await asyncio.sleep(self._interval.total_seconds())


def start_domain_metrics(client: Client) -> asyncio.Task[None]:
    """The worker's refresh task, on the meter of the runtime that serves /metrics."""
    runtime = client.service_client.config.runtime or Runtime.default()
    return asyncio.create_task(DomainMetrics(client, runtime.metric_meter).run())


# The outbox lives in the registry, not in visibility: its own gauges, read from PostgreSQL.
OUTBOX_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo(
        "odb_notices",
        ("status",),
        "e-mails not yet sent: pending (queued or retrying), sending (claimed), failed "
        "(refused for good: resend)",
    ),
    MetricInfo(
        "odb_notices_oldest_unsent_seconds", (), "age of the oldest pending or sending e-mail"
    ),
)


class _RegistryGauges:
    """Gauges read from the registry (not from visibility) every `interval`; a failed read
    is logged and the previous values stay."""

    metrics: tuple[MetricInfo, ...] = ()
    what = "registry"

    def __init__(
        self, pool: asyncpg.Pool[Any], meter: MetricMeter, *, interval: timedelta = DEFAULT_INTERVAL
    ) -> None:
        self._pool = pool
        self._interval = interval
        self._gauges = {
            m.name: meter.create_gauge(m.name, m.description, "1") for m in self.metrics
        }

    async def refresh(self) -> object:
        raise NotImplementedError

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning(f"ops.metrics.{self.what}_refresh_failed", error=str(exc))
            await asyncio.sleep(self._interval.total_seconds())


class OutboxMetrics(_RegistryGauges):
    """Gauges of the e-mail outbox."""

    metrics = OUTBOX_METRICS
    what = "outbox"

    async def refresh(self) -> outbox.OutboxState:
        state = await outbox.state(self._pool)
        for status, n in state.counts.items():
            self._gauges["odb_notices"].set(n, {"status": status})
        self._gauges["odb_notices_oldest_unsent_seconds"].set(int(state.oldest_unsent_seconds))
        return state


# Webhook deliveries of the events (issue 14), per subscription, read from the registry.
EVENT_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo(
        "odb_event_deliveries",
        ("subscription", "status"),
        "webhook deliveries: pending (queued or backing off), delivered, failed (retry horizon "
        "passed: redeliver)",
    ),
    MetricInfo(
        "odb_event_deliveries_oldest_pending_seconds",
        ("subscription",),
        "age of the oldest event not yet accepted by the subscription",
    ),
    MetricInfo(
        "odb_event_subscription_gone",
        ("subscription",),
        "1 when the receiver answered 410 Gone: delivery stopped (alert)",
    ),
)


class EventMetrics(_RegistryGauges):
    """Gauges of the webhook deliveries."""

    metrics = EVENT_METRICS
    what = "events"

    async def refresh(self) -> list[events.DeliveryState]:
        states = await events.state(self._pool)
        for st in states:
            sub = {"subscription": st.subscription}
            for status, n in st.counts.items():
                self._gauges["odb_event_deliveries"].set(n, {**sub, "status": status})
            self._gauges["odb_event_deliveries_oldest_pending_seconds"].set(
                int(st.oldest_pending_seconds), sub
            )
            self._gauges["odb_event_subscription_gone"].set(int(st.gone), sub)
        return states


# The latest reconciliation of the registry's case rows with the workflows (issue 21,
# `python -m ops reconcile`), read from its record in the registry.
RECONCILE_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo(
        "odb_case_row_differences",
        (),
        "live cases whose registry row differs from their workflow (latest reconcile run, "
        "after its repair)",
    ),
    MetricInfo(
        "odb_case_rows_missing",
        (),
        "cases without a registry row, live or ended before the rows existed (latest "
        "reconcile run, after its repair)",
    ),
    MetricInfo(
        "odb_case_rows_reconciled_at",
        (),
        "unix time the latest reconcile run finished (0: never)",
    ),
)


class ReconcileMetrics(_RegistryGauges):
    """Gauges of the latest reconcile run (all zero before the first)."""

    metrics = RECONCILE_METRICS
    what = "reconcile"

    async def refresh(self) -> reconcile_runs.Run | None:
        run = await reconcile_runs.latest(self._pool)
        finished = run.finished_at if run is not None else None
        self._gauges["odb_case_row_differences"].set(run.differences if run else 0)
        self._gauges["odb_case_rows_missing"].set(run.missing if run else 0)
        self._gauges["odb_case_rows_reconciled_at"].set(
            int(finished.timestamp()) if finished else 0
        )
        return run


# What is kept, and for how long (issue 23): the nightly purge and the archives.
RETENTION_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo(
        "odb_retention_last_run_finished_at",
        (),
        "unix time the last retention purge finished (alert when older than two days)",
    ),
    MetricInfo(
        "odb_retention_taken",
        ("kind",),
        "records the last purge took (deleted or stripped of personal fields), per kind",
    ),
    MetricInfo(
        "odb_retention_archives_missing",
        (),
        "dossiers ended over an hour ago without an archive file (alert when > 0)",
    ),
    MetricInfo("odb_retention_holds", (), "dossiers on hold: nothing of them is purged"),
)


class RetentionMetrics(_RegistryGauges):
    """Gauges of the purge and the archives."""

    metrics = RETENTION_METRICS
    what = "retention"

    async def refresh(self) -> retention.RetentionState:
        st = await retention.state(self._pool)
        finished = st.last_finished_at.timestamp() if st.last_finished_at else 0
        self._gauges["odb_retention_last_run_finished_at"].set(int(finished))
        for kind, n in st.taken.items():
            self._gauges["odb_retention_taken"].set(n, {"kind": kind})
        self._gauges["odb_retention_archives_missing"].set(st.archives_missing)
        self._gauges["odb_retention_holds"].set(st.holds)
        return st


# The starts recorded while Temporal could not be reached (registry/case_starts.py).
CASE_START_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo(
        "odb_case_starts_pending", (), "dossiers received whose case is still to be started"
    ),
    MetricInfo(
        "odb_case_starts_oldest_seconds",
        (),
        "age of the oldest start still to be made (0: none; alert when > 300)",
    ),
)


class CaseStartMetrics(_RegistryGauges):
    """Gauges of the starts still to be made."""

    metrics = CASE_START_METRICS
    what = "case_starts"

    async def refresh(self) -> tuple[int, datetime | None]:
        pending, oldest = await case_starts.summary(self._pool)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0
        self._gauges["odb_case_starts_pending"].set(pending)
        self._gauges["odb_case_starts_oldest_seconds"].set(int(age))
        return pending, oldest


def start_registry_metrics(client: Client, pool: asyncpg.Pool[Any]) -> list[asyncio.Task[None]]:
    """The outbox, webhook and reconciliation gauges, on the meter of the runtime that serves
    /metrics."""
    runtime = client.service_client.config.runtime or Runtime.default()
    return [
        asyncio.create_task(gauges(pool, runtime.metric_meter).run())
        for gauges in (
            OutboxMetrics,
            EventMetrics,
            ReconcileMetrics,
            RetentionMetrics,
            CaseStartMetrics,
        )
    ]
