"""The yearly schedule on the real dev server: created once from settings, its next firing
on the configured day in Brussels, triggered and backfilled by ops, paused state kept."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from temporalio.client import ScheduleActionExecutionStartWorkflow, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from models.screening import TriggerResult
from runtime.settings import ConfigError, Settings
from starter.deploy.schedule import backfill_year, ensure_schedule
from tests.screening.helpers import new_settings, system_worker

pytestmark = [pytest.mark.devserver, pytest.mark.usefixtures("pg_clean")]


def with_schedule(settings: Settings, **screening: Any) -> Settings:
    return settings.model_copy(
        update={
            "screening": settings.screening.model_copy(
                update={"schedule_id": f"screening-{uuid.uuid4()}", **screening}
            )
        }
    )


async def test_ensure_schedule_is_idempotent_and_keeps_a_pause(
    dev_env: WorkflowEnvironment, test_settings: Settings
) -> None:
    settings = with_schedule(new_settings(test_settings))
    handle = await ensure_schedule(dev_env.client, settings)
    desc = await handle.describe()
    nxt = desc.info.next_action_times[0].astimezone(ZoneInfo("Europe/Brussels"))
    assert (nxt.month, nxt.day, nxt.hour, nxt.minute) == (1, 15, 6, 0)
    assert nxt > datetime.now(ZoneInfo("Europe/Brussels"))
    await handle.pause(note="bevroren tijdens migratie")
    # Start-up again, with a changed time: the schedule follows, the pause stays.
    moved = settings.model_copy(
        update={"screening": settings.screening.model_copy(update={"hour": 7})}
    )
    await ensure_schedule(dev_env.client, moved)
    desc = await handle.describe()
    assert desc.schedule.state.paused and desc.schedule.state.note == "bevroren tijdens migratie"
    nxt = desc.info.next_action_times[0].astimezone(ZoneInfo("Europe/Brussels"))
    assert nxt.hour == 7
    await handle.delete()


async def test_a_date_that_does_not_exist_every_year_is_refused(
    dev_env: WorkflowEnvironment, test_settings: Settings
) -> None:
    with pytest.raises(ConfigError, match=r"screening\.day"):
        await ensure_schedule(dev_env.client, with_schedule(test_settings, month=2, day=29))
    with pytest.raises(ConfigError, match=r"screening\.timezone"):
        await ensure_schedule(dev_env.client, with_schedule(test_settings, timezone="Mars/Olympus"))


async def test_trigger_and_backfill_screen_each_year_once(
    dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings
) -> None:
    settings = with_schedule(new_settings(test_settings))
    client = dev_env.client
    async with system_worker(client, pg_pool, settings):
        handle = await ensure_schedule(client, settings)
        # A missed year long ago (an empty registry then): screened as that year.
        year = 2001 + uuid.uuid4().int % 20
        await backfill_year(client, settings, year)
        [first] = await _finished_actions(client, handle, 1)
        assert first.year == year and first.started and first.report is not None
        assert first.report.screening_date.isoformat() == f"{year}-01-15"
        # Backfilled again (ops retry): the same year is not screened again.
        await backfill_year(client, settings, year)
        [again] = await _finished_actions(client, handle, 2)
        assert again.year == year and not again.started
        runs = [w async for w in client.list_workflows(f"WorkflowId = 'screening-{year}'")]
        assert len(runs) == 1
        run = await client.get_workflow_handle(f"screening-{year}").describe()
        assert run.status == WorkflowExecutionStatus.COMPLETED
        await handle.delete()


async def _finished_actions(client: Any, handle: Any, n: int) -> list[TriggerResult]:
    """The result of the schedule's latest action, once it has made `n` actions."""
    import asyncio

    for _ in range(300):
        desc = await handle.describe()
        ids = [
            a.action.workflow_id
            for a in desc.info.recent_actions
            if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
        ]
        if len(ids) >= n:
            latest = client.get_workflow_handle(ids[-1], result_type=TriggerResult)
            return [await latest.result()]
        await asyncio.sleep(0.1)
    raise AssertionError("the schedule did not fire")
