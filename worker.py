"""The worker: builds the activities with their dependencies and runs every workflow.

`python worker.py` connects with the settings of `temporal-dev.yaml` (or the environment),
serves the SDK's Prometheus metrics on `worker.metrics_port` and drains gracefully on
SIGTERM/SIGINT: no new tasks are taken, running activities get
`worker.graceful_shutdown_seconds` to finish.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg
from temporalio.client import Client
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.activity_watch import ActivityWatch
from activities.archives import ArchiveActivities
from activities.events import EventActivities, start_delivery
from activities.notifications import NotificationActivities
from activities.registry import RegistryActivities
from activities.retention import RetentionActivities
from activities.screening import ScreeningActivities
from ops.metrics import start_domain_metrics, start_registry_metrics
from registry.db import create_pool
from runtime.logging import configure_logging, get_logger
from runtime.settings import ConfigError, Settings, load_settings
from runtime.temporal import connect
from starter.case_starts import start_draining
from workflows.application import ApplicationWorkflow
from workflows.event_delivery import EventDeliveryWorkflow
from workflows.retention import RetentionWorkflow
from workflows.screening import ScreeningScheduleWorkflow, ScreeningWorkflow

log = get_logger("worker")
T = TypeVar("T")


def build_worker(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    *,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
    case_workflow: type = ApplicationWorkflow,
) -> Worker:
    """The one list of what this system runs. Add new workflows and activity classes here.

    `extra_*` lets tests run a probe workflow through the very same worker code;
    `case_workflow` a successor of ApplicationWorkflow under the same name (a deploy drill:
    bench/decade/deploy.py adds a patch the running cases meet on their next task).
    """
    registry = RegistryActivities(pool, settings)
    notices = NotificationActivities(pool, settings)
    screening = ScreeningActivities(pool, settings, client)
    workflows: list[type] = [
        case_workflow,
        ScreeningWorkflow,
        ScreeningScheduleWorkflow,
        EventDeliveryWorkflow,
        RetentionWorkflow,
        *extra_workflows,
    ]
    webhooks = EventActivities(pool, settings)
    kept = (ArchiveActivities(pool, settings), RetentionActivities(pool, settings))
    activities = [
        *bound_activities(registry, notices, screening, webhooks, *kept),
        *extra_activities,
    ]
    return Worker(
        client,
        task_queue=settings.temporal.task_queue,
        workflows=workflows,
        activities=activities,
        graceful_shutdown_timeout=timedelta(seconds=settings.worker.graceful_shutdown_seconds),
        workflow_runner=shared_module_sandbox(case_workflow.__module__),
        max_cached_workflows=settings.worker.max_cached_workflows,
        # Activities retrying beyond a threshold are shown to ops (python -m ops stuck).
        interceptors=[ActivityWatch(pool, client)],
    )


def shared_module_sandbox(*also: str) -> SandboxedWorkflowRunner:
    """The sandbox, with our workflow modules loaded once per process instead of once per
    workflow run.

    Re-executing `workflows/application.py` for every run (every case a screening wakes
    after a worker restart, every continue-as-new) cost ~5.6 ms of the worker's one core per
    run, and each cached case kept its own copy of the module. The modules hold no state of
    their own (constants only), so sharing them is safe. What this gives up: the sandbox no
    longer stops a non-deterministic call (a clock, randomness, I/O) written in these
    modules at run time. The workflow tests run the same workflows in the default, strict
    sandbox (tests/workflows/harness.py), where such a call fails the test.

    `also`: the module of a case workflow that lives elsewhere (a deploy drill's successor,
    bench/decade/deploy.py), loaded once the same way.
    """
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "workflows", "rules", *also
        )
    )


def bound_activities(*instances: object) -> list[Callable[..., Any]]:
    """Every `@activity.defn` method of the given objects, bound to them.

    Collected rather than listed so that a method added to an activity class cannot be
    forgotten here (that mistake only shows when a workflow first calls it).
    """
    found: list[Callable[..., Any]] = []
    for obj in instances:
        for name in sorted(dir(type(obj))):
            if hasattr(getattr(type(obj), name, None), "__temporal_activity_definition"):
                found.append(getattr(obj, name))
    return found


def make_runtime(settings: Settings) -> Runtime:
    """SDK metrics on /metrics, and Core's own log lines through our JSON logging.

    The domain gauges of `ops/metrics.py` (cases per state, overdue appeals...) are set on
    this runtime's meter by `start_domain_metrics`, so the same endpoint serves them.
    """
    metrics = (
        PrometheusConfig(bind_address=settings.worker.metrics_bind)
        if settings.worker.metrics_port
        else None
    )
    core_logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    return Runtime(telemetry=TelemetryConfig(logging=core_logs, metrics=metrics))


async def main(
    client: Client | None = None,
    settings: Settings | None = None,
    *,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> None:
    configure_logging()
    settings = settings or load_settings()
    if client is None:
        client = await connect(settings, runtime=make_runtime(settings))
    pool = await create_pool(settings)
    gauges: list[asyncio.Task[None]] = []
    if settings.worker.metrics_port:
        gauges = [start_domain_metrics(client), *start_registry_metrics(client, pool)]
    try:
        worker = build_worker(
            client,
            settings,
            pool,
            extra_workflows=extra_workflows,
            extra_activities=extra_activities,
        )
        await start_delivery(client, pool, settings)  # webhook subscriptions (issue 14)
        # The starts recorded while Temporal was down (or left by an API that died between
        # its commit and its start): made as soon as this worker reaches Temporal.
        gauges.append(start_draining(settings, _given(pool), _given(client)))
        await _run_until_signalled(worker, settings)
    finally:
        for task in gauges:
            task.cancel()
        await pool.close()


def _given(value: T) -> Callable[[], Awaitable[T]]:
    async def get() -> T:
        return value

    return get


async def _run_until_signalled(worker: Worker, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = asyncio.create_task(worker.run())
    stopping = asyncio.create_task(stop.wait())
    log.info(
        "worker.started",
        task_queue=settings.temporal.task_queue,
        namespace=settings.temporal.namespace,
        metrics_port=settings.worker.metrics_port or None,
    )
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("worker.draining", grace_seconds=settings.worker.graceful_shutdown_seconds)
            await worker.shutdown()
        await running  # re-raises a fatal worker error
        log.info("worker.stopped")
    finally:
        stopping.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except ConfigError as exc:
        # A setting that cannot work stops the worker at start, in words, not a traceback.
        raise SystemExit(f"the worker cannot start: {exc}") from None
