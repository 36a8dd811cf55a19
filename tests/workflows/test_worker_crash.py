"""A worker that dies in the middle of a step: the case resumes on a new worker and ends
with nothing lost and no e-mail sent twice. Real dev server, and a PostgreSQL of this
module's own that goes down so the step is caught half-way (its activity retrying)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.archives import ArchiveActivities
from activities.notifications import NotificationActivities
from activities.registry import RegistryActivities
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from devstack.smtp_sink import SmtpSink
from models.case import CaseState, CaseStatus, ReviewDecisionInput
from registry import db, migrate, queries
from runtime.settings import Settings, load_settings
from starter.client import CaseService
from tests.fixtures.api import brussels_today
from tests.workflows.harness import VOC_REVIEWER, application, seed_providers, until
from workflows.application import ApplicationWorkflow


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("crash-pg")) / "data", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def worker(env: WorkflowEnvironment, pool: Any, settings: Settings) -> Worker:
    return Worker(
        env.client,
        task_queue=settings.temporal.task_queue,
        workflows=[ApplicationWorkflow],
        activities=[
            RegistryActivities(pool, settings).record_step,
            NotificationActivities(pool, settings).send,
            ArchiveActivities(pool, settings).archive,
        ],
        graceful_shutdown_timeout=timedelta(seconds=0),
    )


@pytest.fixture(scope="module")
def own_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    # Its own registry numbers dossiers from 1 again: its own mailbox keeps them apart.
    sink = SmtpSink(tmp_path_factory.mktemp("crash-mail"), free_port()).start()
    try:
        yield sink
    finally:
        sink.stop()


# The new worker picks the case up after the dead worker's workflow task times out and the
# step's retry backoff (up to a minute) passes: slower than the default per-test timeout.
@pytest.mark.timeout(300)
async def test_worker_dies_mid_step_case_resumes_once(
    dev_env: WorkflowEnvironment, own_postgres: EmbeddedPostgres, own_sink: SmtpSink
) -> None:
    smtp_sink = own_sink
    settings = load_settings(
        postgres={"url": own_postgres.dsn, "pool_min": 0, "pool_max": 4},
        smtp={"host": "127.0.0.1", "port": smtp_sink.port},
        temporal={"task_queue": f"crash-{uuid.uuid4()}"},
    )
    conn = await db.connect(settings)
    await migrate.migrate(conn)
    # Its own registry numbers dossiers from 1, and the dev server is shared by the session:
    # start far from the numbers other modules' cases hold there (workflow id = dossier).
    await conn.execute(
        "INSERT INTO dossier_counters (year, last_value) VALUES ($1, $2)",
        datetime.now(UTC).year,
        500_000 + uuid.uuid4().int % 400_000,
    )
    await conn.close()
    pool = await db.create_pool(settings, command_timeout=5)
    await seed_providers(pool)
    service = CaseService(settings, client=dev_env.client, pool=pool)
    start = datetime.now(UTC).date() + timedelta(days=200)
    submission = await service.submit(application(start), idempotency_key=str(uuid.uuid4()))
    handle = dev_env.client.get_workflow_handle(submission.dossier, result_type=CaseStatus)

    first = worker(dev_env, pool, settings)
    first_run = asyncio.create_task(first.run())
    await until(handle, lambda s: bool(s.history))  # acknowledged
    await smtp_sink.wait_for(lambda m: f"{handle.id}.acknowledgment" in (m["Message-ID"] or ""))

    # The registry goes down; the approval's step starts and keeps failing (retrying).
    own_postgres.stop()
    update = await handle.start_update(
        ApplicationWorkflow.review_decision,
        ReviewDecisionInput(actor=VOC_REVIEWER, approve=True),
        id="approve-once",
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    # Accepted means the decision's step has started; with the registry down it cannot have
    # finished (it keeps retrying inside the worker).
    # The worker dies mid-step (its activity attempt is abandoned, not completed).
    first_run.cancel()
    with pytest.raises((asyncio.CancelledError, Exception)):
        await first_run

    own_postgres.start()
    async with worker(dev_env, pool, settings):
        status = await asyncio.wait_for(update.result(), timeout=200)
        assert status.state == CaseState.REGISTERED
        # A portal retry of the same request returns the same outcome, once.
        again = await handle.execute_update(
            ApplicationWorkflow.review_decision,
            ReviewDecisionInput(actor=VOC_REVIEWER, approve=True),
            id="approve-once",
        )
        assert again.state == CaseState.REGISTERED
        assert await queries.is_registered(pool, handle.id, brussels_today())
        steps = await pool.fetchval(
            "SELECT count(*) FROM audit WHERE dossier = $1 AND step = 'review'", handle.id
        )
        assert steps == 1
        approvals = await smtp_sink.wait_for(
            lambda m: f"{handle.id}.approval" in (m["Message-ID"] or "")
        )
        assert len(approvals) == 1
    await pool.close()
