"""End to end on the real Temporal dev server: cases progress while the receiver is down;
the delivery workflow (`events-<subscription>`, started by the worker's start-up path) then
delivers every event, in order per dossier, each signature verified by the receiver."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import asyncpg
from pytest_httpserver import HTTPServer
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.events import EventActivities, start_delivery
from activities.notifications import NotificationActivities
from activities.registry import RegistryActivities
from models.case import CaseState, ReviewDecisionInput
from registry import events
from runtime.settings import Settings
from starter.client import CaseService
from tests.events.receiver import Receiver
from tests.events.test_delivery import _assert_in_order, _settings
from tests.workflows.harness import VOC_REVIEWER, application, on_fresh_queue, seed_providers
from workflows.application import ApplicationWorkflow
from workflows.event_delivery import EventDeliveryWorkflow


async def test_cases_go_on_while_the_receiver_is_down(
    dev_env: WorkflowEnvironment,
    pg_pool: asyncpg.Pool[Any],
    test_settings: Settings,
    httpserver: HTTPServer,
) -> None:
    receiver = Receiver(httpserver)
    receiver.mode = "fail"
    settings = on_fresh_queue(_settings(test_settings, "e2e", receiver.url), "events")
    await seed_providers(pg_pool)
    client = dev_env.client
    acts: list[Callable[..., Any]] = [
        RegistryActivities(pg_pool, settings).record_step,
        NotificationActivities(pg_pool, settings).send,
        EventActivities(pg_pool, settings).deliver,
    ]
    async with Worker(
        client,
        task_queue=settings.temporal.task_queue,
        workflows=[ApplicationWorkflow, EventDeliveryWorkflow],
        activities=acts,
    ):
        await start_delivery(client, pg_pool, settings)
        await start_delivery(client, pg_pool, settings)  # idempotent: one workflow
        service = CaseService(settings, client=client, pool=pg_pool)
        start = date.today() + timedelta(days=200)
        dossiers = []
        for _ in range(3):
            sub = await service.submit(application(start), idempotency_key=str(uuid.uuid4()))
            dossiers.append(sub.dossier)
        for d in dossiers:
            status = await service.update(d, ReviewDecisionInput(actor=VOC_REVIEWER, approve=True))
            assert status.state == CaseState.REGISTERED  # the dead receiver delays nothing
        assert receiver.accepted == []
        expected = [e.id for d in dossiers for e in await events.for_dossier(pg_pool, d)]
        assert len(expected) == 6  # submitted + approved, per dossier
        receiver.mode = "ok"
        for _ in range(200):
            if set(receiver.ids()) >= set(expected):
                break
            await asyncio.sleep(0.1)
        seq = {e.id: e.sequence for d in dossiers for e in await events.for_dossier(pg_pool, d)}
        mine = [r for r in receiver.ids() if r in seq]
        assert set(mine) == set(expected)
        receiver.accepted = [r for r in receiver.accepted if r.webhook_id in seq]
        _assert_in_order(receiver, sorted(expected, key=seq.__getitem__))
        handle = client.get_workflow_handle("events-e2e")
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        await handle.terminate("test over")
