"""What the case tests share: actors, an application, and a running case worker."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.archives import ArchiveActivities
from activities.notifications import NotificationActivities
from activities.registry import RegistryActivities
from models.application import TrainingApplication, VolumeUnit
from models.case import CaseStatus
from models.identity import Actor, Role, RoleKind
from registry import providers
from rules.deadlines import BRUSSELS
from runtime.settings import Settings
from starter.client import CaseService
from workflows.application import ApplicationWorkflow

ORG = "0123456749"  # a valid enterprise number (mod-97)
OTHER_ORG = "0203201340"

PROVIDER = Actor(subject="an.peeters", organisation=ORG, roles=(Role(kind=RoleKind.PROVIDER),))
OTHER_PROVIDER = Actor(
    subject="jan.janssens", organisation=OTHER_ORG, roles=(Role(kind=RoleKind.PROVIDER),)
)
NO_ROLE = Actor(subject="els.maes", organisation=None, roles=())
VOC_REVIEWER = Actor(subject="voc.lid", roles=(Role(kind=RoleKind.REVIEWER, body="VOC"),))
PC200_REVIEWER = Actor(subject="pc200.lid", roles=(Role(kind=RoleKind.REVIEWER, body="PC 200"),))
BEC = Actor(subject="bec.lid", roles=(Role(kind=RoleKind.BEC),))
DEPARTMENT = Actor(subject="wse.medewerker", roles=(Role(kind=RoleKind.DEPARTMENT),))


def application(start_date: date, **changes: Any) -> TrainingApplication:
    data: dict[str, Any] = {
        "provider": ORG,
        "provider_name": "Opleidingscentrum Vooruit vzw",
        "contact_email": "dossiers@vooruit.example.be",
        "title": f"Lassen voor gevorderden {uuid.uuid4().hex[:6]}",
        "start_date": start_date,
        "volume": Decimal(40),
        "volume_unit": VolumeUnit.CONTACT_HOURS,
    }
    data.update(changes)
    return TrainingApplication(**data)


async def now(env: WorkflowEnvironment) -> datetime:
    return await env.get_current_time()


async def advance_to(env: WorkflowEnvironment, instant: datetime) -> None:
    """Skips time to `instant` (time only moves forward on the test server)."""
    delta = instant - await env.get_current_time()
    if delta > timedelta(0):
        await env.sleep(delta)


def at_brussels(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BRUSSELS)


@dataclass
class Cases:
    env: WorkflowEnvironment
    service: CaseService
    pool: asyncpg.Pool[Any]
    settings: Settings

    @property
    def client(self) -> Client:
        return self.env.client

    async def submit(self, app: TrainingApplication) -> WorkflowHandle[Any, CaseStatus]:
        submission = await self.service.submit(app, idempotency_key=str(uuid.uuid4()))
        handle = self.client.get_workflow_handle_for(ApplicationWorkflow.run, submission.dossier)
        return handle

    async def status(self, handle: WorkflowHandle[Any, Any]) -> CaseStatus:
        return await handle.query(ApplicationWorkflow.status)


def on_fresh_queue(settings: Settings, prefix: str) -> Settings:
    """The same settings on a task queue of its own (one per worker under test)."""
    task_queue = f"{prefix}-{uuid.uuid4()}"
    return settings.model_copy(
        update={"temporal": settings.temporal.model_copy(update={"task_queue": task_queue})}
    )


async def seed_providers(pool: asyncpg.Pool[Any]) -> None:
    await providers.upsert(pool, ORG, "Opleidingscentrum Vooruit vzw")
    await providers.upsert(pool, OTHER_ORG, "Andere Opleider nv")


@asynccontextmanager
async def running_cases(
    env: WorkflowEnvironment, pool: asyncpg.Pool[Any], settings: Settings
) -> AsyncIterator[Cases]:
    settings = on_fresh_queue(settings, "cases")
    await seed_providers(pool)
    activities = RegistryActivities(pool, settings)
    notices = NotificationActivities(pool, settings)
    async with Worker(
        env.client,
        task_queue=settings.temporal.task_queue,
        workflows=[ApplicationWorkflow],
        # An ended case writes its archive file last (activities/archives.py).
        activities=[
            activities.record_step,
            notices.send,
            ArchiveActivities(pool, settings).archive,
        ],
    ):
        yield Cases(env, CaseService(settings, client=env.client, pool=pool), pool, settings)


HISTORY_DIR = Path(__file__).parent.parent / "histories"


async def keep_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With ODB_RECORD_HISTORIES=1, stores this case's history for the replay tests."""
    if not os.environ.get("ODB_RECORD_HISTORIES"):
        return
    history = await handle.fetch_history()
    HISTORY_DIR.mkdir(exist_ok=True)
    (HISTORY_DIR / f"{name}.json").write_text(
        json.dumps({"workflow_id": handle.id, "history": json.loads(history.to_json())}, indent=1)
    )


async def until(
    handle: WorkflowHandle[Any, Any], check: Any, within: float = 10.0
) -> CaseStatus:
    """The case's status once `check(status)` holds (a signal is handled after `signal()`
    returns); fails naming the last status seen."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            status: CaseStatus = await handle.query(
                ApplicationWorkflow.status, rpc_timeout=timedelta(seconds=2)
            )
        except RPCError:
            # A query that races a continue-as-new can be lost with the closing run: ask again.
            if asyncio.get_running_loop().time() > deadline:
                raise
            continue
        if check(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"case never reached the expected status: {status!r}")
        await asyncio.sleep(0.05)  # polling a query, not standing in for a timer
